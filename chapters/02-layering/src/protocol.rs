//! Protocol: text frames <-> typed messages.
//!
//! Every message is a JSON object with a `type` tag (the envelope); later chapters add types
//! but keep these names. Decoding never panics: anything that is not a valid request becomes a
//! [`ProtocolError`] with a machine-readable code and, when the request had one, its `id`.
//! This layer knows nothing of sockets.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ANCHOR: messages
/// A message from the client: `{"type":"echo","id":"e1","data":...}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Echo { id: Option<String>, data: Value },
}

/// A message to the client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Echo {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        data: Value,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: ErrorCode,
        message: String,
    },
}

/// What went wrong, for machines: clients switch on it, so the names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON (or not a JSON object).
    InvalidJson,
    /// The `type` is not one this server knows.
    UnknownType,
    /// The type is known but a field is missing, unknown or of the wrong type.
    BadRequest,
    /// A binary frame: this protocol speaks text frames only.
    UnsupportedFrame,
}
// ANCHOR_END: messages

impl Request {
    /// Every `type` the server accepts, to tell an unknown type from a malformed known one.
    pub const TYPES: &[&str] = &["echo"];

    /// The `type` tag, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Echo { .. } => "echo",
        }
    }
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnknownType => "unknown_type",
            Self::BadRequest => "bad_request",
            Self::UnsupportedFrame => "unsupported_frame",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the server could not accept, ready to be answered as an `error` reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub id: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn unsupported_frame() -> Self {
        Self {
            id: None,
            code: ErrorCode::UnsupportedFrame,
            message: "binary frames are not supported; send JSON in a text frame".into(),
        }
    }
}

impl From<ProtocolError> for Reply {
    fn from(error: ProtocolError) -> Self {
        Reply::Error { id: error.id, code: error.code, message: error.message }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProtocolError {}

// ANCHOR: decode
/// Parses one text frame. The happy path parses once; only a failure looks at the text again,
/// to find the request's `id` and to tell the client precisely what was wrong.
pub fn decode(text: &str) -> Result<Request, ProtocolError> {
    serde_json::from_str(text).map_err(|error| explain(text, &error))
}

fn explain(text: &str, error: &serde_json::Error) -> ProtocolError {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return ProtocolError {
            id: None,
            code: ErrorCode::InvalidJson,
            message: format!("not a JSON object: {error}"),
        };
    };
    let id = object.get("id").and_then(Value::as_str).map(str::to_owned);
    let (code, message) = match object.get("type").and_then(Value::as_str) {
        None => (ErrorCode::BadRequest, "missing string field `type`".to_owned()),
        Some(kind) if !Request::TYPES.contains(&kind) => {
            (ErrorCode::UnknownType, format!("unknown message type `{kind}`"))
        }
        Some(_) => (ErrorCode::BadRequest, error.to_string()),
    };
    ProtocolError { id, code, message }
}
// ANCHOR_END: decode

/// Serializes a reply. Our types always serialize, so a failure here is a bug.
pub fn encode(reply: &Reply) -> String {
    serde_json::to_string(reply).expect("replies always serialize")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code_and_id(text: &str) -> (ErrorCode, Option<String>) {
        let error = decode(text).unwrap_err();
        (error.code, error.id)
    }

    #[test]
    fn echo_round_trip() {
        let text = r#"{"type":"echo","id":"e1","data":{"a":[1,"two",null]}}"#;
        let Request::Echo { id, data } = decode(text).unwrap();
        let encoded = encode(&Reply::Echo { id, data });
        let parsed: Value = serde_json::from_str(&encoded).unwrap();
        assert_eq!(parsed, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn id_is_optional() {
        assert_eq!(
            decode(r#"{"type":"echo","data":1}"#).unwrap(),
            Request::Echo { id: None, data: json!(1) }
        );
        assert_eq!(
            encode(&Reply::Echo { id: None, data: json!(1) }),
            r#"{"type":"echo","data":1}"#
        );
    }

    #[test]
    fn malformed_json_is_invalid_json_without_id() {
        assert_eq!(code_and_id(r#"{"type":"echo","id":"e1""#), (ErrorCode::InvalidJson, None));
        assert_eq!(code_and_id("[1,2]"), (ErrorCode::InvalidJson, None));
        assert_eq!(code_and_id(""), (ErrorCode::InvalidJson, None));
    }

    #[test]
    fn unknown_type_keeps_the_id() {
        assert_eq!(
            code_and_id(r#"{"type":"dance","id":"d1"}"#),
            (ErrorCode::UnknownType, Some("d1".into()))
        );
    }

    #[test]
    fn missing_or_wrong_fields_are_bad_requests_with_the_id() {
        assert_eq!(
            code_and_id(r#"{"type":"echo","id":"e2"}"#),
            (ErrorCode::BadRequest, Some("e2".into()))
        );
        assert_eq!(
            code_and_id(r#"{"id":"e3","data":1}"#),
            (ErrorCode::BadRequest, Some("e3".into()))
        );
        assert_eq!(
            code_and_id(r#"{"type":"echo","id":7,"data":1}"#),
            (ErrorCode::BadRequest, None)
        );
        assert_eq!(
            code_and_id(r#"{"type":"echo","id":"e4","data":1,"extra":true}"#),
            (ErrorCode::BadRequest, Some("e4".into()))
        );
    }

    #[test]
    fn every_listed_type_is_a_real_variant() {
        for kind in Request::TYPES {
            let (code, _) = code_and_id(&format!(r#"{{"type":"{kind}","unexpected":1}}"#));
            assert_eq!(code, ErrorCode::BadRequest, "`{kind}` should be a known type");
        }
    }

    #[test]
    fn error_reply_shape() {
        let reply: Reply = ProtocolError {
            id: Some("x".into()),
            code: ErrorCode::UnknownType,
            message: "m".into(),
        }
        .into();
        assert_eq!(
            serde_json::from_str::<Value>(&encode(&reply)).unwrap(),
            json!({"type":"error","id":"x","code":"unknown_type","message":"m"})
        );
    }

    #[test]
    fn an_error_says_its_code_and_what_went_wrong() {
        let message = "missing string field `type`".to_owned();
        let error = ProtocolError { id: None, code: ErrorCode::BadRequest, message };
        let error: Box<dyn std::error::Error> = error.into();
        assert_eq!(error.to_string(), "bad_request: missing string field `type`");
    }
}
