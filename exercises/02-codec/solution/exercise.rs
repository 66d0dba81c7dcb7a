use serde_json::Value;

use crate::{ErrorCode, ProtocolError, Request};

/// Decodes one text frame into a request, or explains precisely why not.
pub fn decode(text: &str) -> Result<Request, ProtocolError> {
    // The happy path parses once, straight into the typed request.
    serde_json::from_str(text).map_err(|error| {
        // Only a failure pays for a second look, to find the id and the right code.
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
            return ProtocolError {
                id: None,
                code: ErrorCode::InvalidJson,
                message: error.to_string(),
            };
        };
        let id = object.get("id").and_then(Value::as_str).map(str::to_owned);
        let code = match object.get("type").and_then(Value::as_str) {
            Some(kind) if !Request::TYPES.contains(&kind) => ErrorCode::UnknownType,
            _ => ErrorCode::BadRequest,
        };
        ProtocolError { id, code, message: error.to_string() }
    })
}
