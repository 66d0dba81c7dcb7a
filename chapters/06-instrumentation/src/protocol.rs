//! Protocol: text frames <-> typed messages.
//!
//! Decoding happens in two steps. [`decode`] checks the envelope every message shares, a JSON
//! object with a string `type` and an optional string `id`, and keeps the other fields as they
//! are. The router then turns those fields into the typed request of the handler registered
//! for that `type` (the structs below), so each message type is declared in one place. Nothing
//! here panics on any input, and nothing here knows of sockets or sessions.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

// ANCHOR: envelope
/// The part every client message shares: `{"type": "...", "id": "...", ...fields}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub kind: String,
    pub id: Option<String>,
    /// Every other field, decoded by the handler for `kind` into its own request type.
    pub fields: Map<String, Value>,
}
// ANCHOR_END: envelope

// ANCHOR: requests
/// `{"type":"echo","id":"e1","data":...}`: answered with the same data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Echo {
    pub data: Value,
}

/// `{"type":"auth","id":"a1","token":"..."}`: proves who the session is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub token: Secret,
}

/// `{"type":"join","id":"1","room":"lobby"}`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    pub room: String,
}

/// `{"type":"leave","id":"2","room":"lobby"}`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leave {
    pub room: String,
}

/// `{"type":"publish","id":"3","room":"lobby","data":...}`: to every other member.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub room: String,
    pub data: Value,
}

/// `{"type":"direct","id":"4","to":"<session id>","data":...}`: to one session.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Direct {
    pub to: String,
    pub data: Value,
}
// ANCHOR_END: requests

/// A credential: it deserializes like a string but never shows up in a log or a `{:?}`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

// ANCHOR: trace_id
/// The id of one inbound message: the session's id and the message's number within the
/// session. Unique for the life of the server, free to make, and easy to grep (`trace=7-42`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId {
    pub session: u64,
    pub seq: u64,
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.session, self.seq)
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
// ANCHOR_END: trace_id

// ANCHOR: server_messages
/// A message to the client: a reply to one of its requests (carrying the request's `id` and
/// `trace`), or a push from another session (carrying the trace of the message that caused it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first message of every session: the id the server gave it.
    Welcome { session: String },
    /// A request succeeded.
    Ack {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        trace: TraceId,
    },
    Echo {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        trace: TraceId,
        data: Value,
    },
    /// Published to a room this session joined.
    Message { room: String, from: String, data: Value, trace: TraceId },
    /// Sent to this session alone.
    Direct { from: String, data: Value, trace: TraceId },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        trace: TraceId,
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
    /// A field is missing, unknown, of the wrong type or out of range.
    BadRequest,
    /// A binary frame: this protocol speaks text frames only.
    UnsupportedFrame,
    /// This message type needs an authenticated session.
    Unauthenticated,
    /// The credentials were refused.
    Unauthorized,
    /// Too many messages: slow down.
    RateLimited,
    /// Publish or leave in a room the session has not joined.
    NotInRoom,
    /// A direct message to a session that does not exist (any more).
    NoSuchSession,
    /// The server failed; the trace id finds the failure in its log.
    Internal,
}
// ANCHOR_END: server_messages

impl ServerMessage {
    /// The `type` tag, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Welcome { .. } => "welcome",
            Self::Ack { .. } => "ack",
            Self::Echo { .. } => "echo",
            Self::Message { .. } => "message",
            Self::Direct { .. } => "direct",
            Self::Error { .. } => "error",
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
            Self::Unauthenticated => "unauthenticated",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::NotInRoom => "not_in_room",
            Self::NoSuchSession => "no_such_session",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame that is not a valid envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    /// The request's `id`, when it had a string one.
    pub id: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProtocolError {}

// ANCHOR: decode
/// Checks the envelope of one text frame. One parse, into a generic JSON object; the handler's
/// request type is then read from that object without touching the text again.
pub fn decode(text: &str) -> Result<Envelope, ProtocolError> {
    let invalid =
        |message: String| ProtocolError { id: None, code: ErrorCode::InvalidJson, message };
    let mut fields = match serde_json::from_str(text) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return Err(invalid("a message is a JSON object".into())),
        Err(error) => return Err(invalid(format!("not JSON: {error}"))),
    };
    let id = match fields.remove("id") {
        None => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err(bad_request(None, "`id` must be a string")),
    };
    match fields.remove("type") {
        Some(Value::String(kind)) => Ok(Envelope { kind, id, fields }),
        _ => Err(bad_request(id, "missing string field `type`")),
    }
}
// ANCHOR_END: decode

fn bad_request(id: Option<String>, message: &str) -> ProtocolError {
    ProtocolError { id, code: ErrorCode::BadRequest, message: message.into() }
}

/// Serializes a message. Our types always serialize, so a failure here is a bug.
pub fn encode(message: &ServerMessage) -> String {
    serde_json::to_string(message).expect("server messages always serialize")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TRACE: TraceId = TraceId { session: 7, seq: 42 };

    fn encoded(message: &ServerMessage) -> Value {
        serde_json::from_str(&encode(message)).unwrap()
    }

    #[test]
    fn decodes_the_envelope_and_keeps_the_other_fields() {
        let envelope = decode(r#"{"type":"join","id":"1","room":"lobby"}"#).unwrap();
        assert_eq!((envelope.kind.as_str(), envelope.id.as_deref()), ("join", Some("1")));
        assert_eq!(Value::Object(envelope.fields), json!({"room": "lobby"}));
    }

    #[test]
    fn typed_requests_read_from_the_fields() {
        let envelope = decode(r#"{"type":"publish","room":"r","data":{"x":[1]}}"#).unwrap();
        let publish: Publish = serde_json::from_value(Value::Object(envelope.fields)).unwrap();
        assert_eq!(publish, Publish { room: "r".into(), data: json!({"x": [1]}) });
    }

    #[test]
    fn bad_envelopes_are_explained() {
        let code_and_id =
            |text: &str| decode(text).map(drop).map_err(|error| (error.code, error.id));
        assert_eq!(code_and_id("{not json"), Err((ErrorCode::InvalidJson, None)));
        assert_eq!(code_and_id("[1]"), Err((ErrorCode::InvalidJson, None)));
        assert_eq!(code_and_id(r#"{"id":"x"}"#), Err((ErrorCode::BadRequest, Some("x".into()))));
        assert_eq!(
            code_and_id(r#"{"type":5,"id":"x"}"#),
            Err((ErrorCode::BadRequest, Some("x".into())))
        );
        assert_eq!(code_and_id(r#"{"type":"echo","id":5}"#), Err((ErrorCode::BadRequest, None)));
    }

    #[test]
    fn secrets_do_not_print() {
        let auth: Auth = serde_json::from_value(json!({"token": "hunter2"})).unwrap();
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn encodes_the_wire_format_with_trace_ids() {
        assert_eq!(
            encoded(&ServerMessage::Welcome { session: "7".into() }),
            json!({"type":"welcome","session":"7"})
        );
        assert_eq!(
            encoded(&ServerMessage::Ack { id: Some("1".into()), trace: TRACE }),
            json!({"type":"ack","id":"1","trace":"7-42"})
        );
        assert_eq!(
            encoded(&ServerMessage::Message {
                room: "r".into(),
                from: "7".into(),
                data: json!(1),
                trace: TRACE
            }),
            json!({"type":"message","room":"r","from":"7","data":1,"trace":"7-42"})
        );
        assert_eq!(
            encoded(&ServerMessage::Error {
                id: None,
                trace: TRACE,
                code: ErrorCode::RateLimited,
                message: "m".into()
            }),
            json!({"type":"error","trace":"7-42","code":"rate_limited","message":"m"})
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
