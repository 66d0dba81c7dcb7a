//! Protocol: text frames <-> typed messages.
//!
//! Every message is a JSON object with a `type` tag (the envelope). Decoding never panics:
//! anything that is not a valid request becomes a [`ProtocolError`] with a machine-readable code
//! and, when the request had one, its `id`. This layer knows nothing of sockets or sessions.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ANCHOR: messages
/// A message from the client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// `{"type":"echo","id":"e1","data":...}`: answered with the same data.
    Echo { id: Option<String>, data: Value },
    /// `{"type":"join","id":"1","room":"lobby"}`
    Join { id: Option<String>, room: String },
    /// `{"type":"leave","id":"2","room":"lobby"}`
    Leave { id: Option<String>, room: String },
    /// `{"type":"publish","id":"3","room":"lobby","data":...}`: to every other member.
    Publish { id: Option<String>, room: String, data: Value },
    /// `{"type":"direct","id":"4","to":"<session id>","data":...}`: to one session.
    Direct { id: Option<String>, to: String, data: Value },
}

/// A message to the client: a reply to one of its requests, or a push from another session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first message of every session: the id the server gave it.
    Welcome { session: String },
    /// A request succeeded.
    Ack {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    Echo {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        data: Value,
    },
    /// Published to a room this session joined.
    Message { room: String, from: String, data: Value },
    /// Sent to this session alone.
    Direct { from: String, data: Value },
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
    /// The type is known but a field is missing, unknown, of the wrong type or out of range.
    BadRequest,
    /// A binary frame: this protocol speaks text frames only.
    UnsupportedFrame,
    /// Publish or leave in a room the session has not joined.
    NotInRoom,
    /// A direct message to a session that does not exist (any more).
    NoSuchSession,
}
// ANCHOR_END: messages

impl Request {
    /// Every `type` the server accepts, to tell an unknown type from a malformed known one.
    pub const TYPES: &[&str] = &["echo", "join", "leave", "publish", "direct"];

    /// The `type` tag, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Echo { .. } => "echo",
            Self::Join { .. } => "join",
            Self::Leave { .. } => "leave",
            Self::Publish { .. } => "publish",
            Self::Direct { .. } => "direct",
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
            Self::NotInRoom => "not_in_room",
            Self::NoSuchSession => "no_such_session",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the server could not accept, ready to be answered as an `error` message.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub id: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { id, code, message: message.into() }
    }

    pub fn unsupported_frame() -> Self {
        Self::new(
            None,
            ErrorCode::UnsupportedFrame,
            "binary frames are not supported; send JSON in a text frame",
        )
    }
}

impl From<ProtocolError> for ServerMessage {
    fn from(error: ProtocolError) -> Self {
        ServerMessage::Error { id: error.id, code: error.code, message: error.message }
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
        return ProtocolError::new(
            None,
            ErrorCode::InvalidJson,
            format!("not a JSON object: {error}"),
        );
    };
    let id = object.get("id").and_then(Value::as_str).map(str::to_owned);
    match object.get("type").and_then(Value::as_str) {
        None => ProtocolError::new(id, ErrorCode::BadRequest, "missing string field `type`"),
        Some(kind) if !Request::TYPES.contains(&kind) => {
            ProtocolError::new(id, ErrorCode::UnknownType, format!("unknown message type `{kind}`"))
        }
        Some(_) => ProtocolError::new(id, ErrorCode::BadRequest, error.to_string()),
    }
}
// ANCHOR_END: decode

/// Serializes a message. Our types always serialize, so a failure here is a bug.
pub fn encode(message: &ServerMessage) -> String {
    serde_json::to_string(message).expect("server messages always serialize")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code_and_id(text: &str) -> (ErrorCode, Option<String>) {
        let error = decode(text).unwrap_err();
        (error.code, error.id)
    }

    fn encoded(message: &ServerMessage) -> Value {
        serde_json::from_str(&encode(message)).unwrap()
    }

    #[test]
    fn decodes_every_request_type() {
        let cases = [
            (
                r#"{"type":"echo","id":"e","data":[1]}"#,
                Request::Echo { id: Some("e".into()), data: json!([1]) },
            ),
            (
                r#"{"type":"join","id":"1","room":"lobby"}"#,
                Request::Join { id: Some("1".into()), room: "lobby".into() },
            ),
            (
                r#"{"type":"leave","room":"lobby"}"#,
                Request::Leave { id: None, room: "lobby".into() },
            ),
            (
                r#"{"type":"publish","id":"3","room":"r","data":{"x":1}}"#,
                Request::Publish { id: Some("3".into()), room: "r".into(), data: json!({"x": 1}) },
            ),
            (
                r#"{"type":"direct","id":"4","to":"7","data":null}"#,
                Request::Direct { id: Some("4".into()), to: "7".into(), data: Value::Null },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(decode(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn encodes_the_wire_format() {
        assert_eq!(
            encoded(&ServerMessage::Welcome { session: "7".into() }),
            json!({"type":"welcome","session":"7"})
        );
        assert_eq!(
            encoded(&ServerMessage::Ack { id: Some("1".into()) }),
            json!({"type":"ack","id":"1"})
        );
        assert_eq!(
            encoded(&ServerMessage::Message { room: "r".into(), from: "7".into(), data: json!(1) }),
            json!({"type":"message","room":"r","from":"7","data":1})
        );
        assert_eq!(
            encoded(&ServerMessage::Direct { from: "7".into(), data: json!("hi") }),
            json!({"type":"direct","from":"7","data":"hi"})
        );
        assert_eq!(
            encoded(&ProtocolError::new(Some("3".into()), ErrorCode::NotInRoom, "m").into()),
            json!({"type":"error","id":"3","code":"not_in_room","message":"m"})
        );
    }

    #[test]
    fn malformed_json_is_invalid_json_without_id() {
        assert_eq!(code_and_id(r#"{"type":"join","id":"1""#), (ErrorCode::InvalidJson, None));
        assert_eq!(code_and_id("[1,2]"), (ErrorCode::InvalidJson, None));
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
            code_and_id(r#"{"type":"join","id":"j"}"#),
            (ErrorCode::BadRequest, Some("j".into()))
        );
        assert_eq!(
            code_and_id(r#"{"type":"join","id":"j","room":5}"#),
            (ErrorCode::BadRequest, Some("j".into()))
        );
        assert_eq!(
            code_and_id(r#"{"type":"publish","id":"p","room":"r"}"#),
            (ErrorCode::BadRequest, Some("p".into()))
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
    fn an_error_says_its_code_and_what_went_wrong() {
        let message = "missing string field `type`".to_owned();
        let error = ProtocolError { id: None, code: ErrorCode::BadRequest, message };
        let error: Box<dyn std::error::Error> = error.into();
        assert_eq!(error.to_string(), "bad_request: missing string field `type`");
    }
}
