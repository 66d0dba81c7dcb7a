//! Exercise 02: write the protocol layer's decoder. Edit `src/exercise.rs`; see the README.
//!
//! The message types are given below; your job is `decode`, which turns a text frame into a
//! [`Request`] or into a [`ProtocolError`] the server can send back.

use serde::Deserialize;
use serde_json::Value;

/// A message from the client, tagged by `type`:
/// `{"type":"echo","id":"1","data":<any JSON>}` or `{"type":"sum","id":"2","numbers":[1,2.5]}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Echo { id: Option<String>, data: Value },
    Sum { id: Option<String>, numbers: Vec<f64> },
}

impl Request {
    /// Every `type` the server accepts.
    pub const TYPES: &[&str] = &["echo", "sum"];
}

/// Machine-readable error codes, as in chapter 02.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Not JSON, or JSON that is not an object.
    InvalidJson,
    /// An object whose `type` is a string the server does not know.
    UnknownType,
    /// Anything else: no `type`, a missing field, a field of the wrong type, an unknown field.
    BadRequest,
}

/// A rejected request. `id` is the request's `id` whenever the text was a JSON object with a
/// string `id`, so the client can match the error to what it sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub id: Option<String>,
    pub code: ErrorCode,
    /// For humans; any helpful text.
    pub message: String,
}

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;

pub use exercise::decode;
