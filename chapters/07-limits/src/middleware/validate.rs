//! Checks the values the types cannot: lengths and ranges, for every message that has the field.

use serde_json::Value;

use crate::{
    chain::{Cx, Inbound, Middleware, Next, Outcome, Rejection},
    protocol::ErrorCode,
};

/// Room names are short, printable labels: a client cannot make the server keep a megabyte key.
pub const MAX_ROOM_NAME: usize = 64;
/// Request ids are echoed in replies and logs; keep them short.
pub const MAX_ID: usize = 64;

// ANCHOR: validate
#[derive(Debug, Clone, Copy, Default)]
pub struct Validate;

impl Middleware for Validate {
    fn name(&self) -> &'static str {
        "validate"
    }

    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome {
        if message.id.as_ref().is_some_and(|id| id.len() > MAX_ID) {
            return Err(invalid(format!("`id` is longer than {MAX_ID} bytes")));
        }
        if let Some(Value::String(room)) = message.fields.get("room") {
            if room.is_empty() || room.len() > MAX_ROOM_NAME || room.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "`room` must be 1 to {MAX_ROOM_NAME} bytes of printable text"
                )));
            }
        }
        next.run(cx, message)
    }
}
// ANCHOR_END: validate

fn invalid(message: String) -> Rejection {
    Rejection::new(ErrorCode::BadRequest, message)
}
