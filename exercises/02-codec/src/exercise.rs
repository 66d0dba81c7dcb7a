#![allow(unused_imports)] // the imports you will need; the lint comes back once you use them

use serde_json::Value;

use crate::{ErrorCode, ProtocolError, Request};

/// Decodes one text frame into a request, or explains precisely why not.
pub fn decode(text: &str) -> Result<Request, ProtocolError> {
    let _ = text;
    todo!("parse with serde_json; on failure, find the id and pick the right ErrorCode")
}
