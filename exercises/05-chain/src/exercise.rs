#![allow(unused_imports)] // the imports you will need; the lint comes back once you use them

use ch05_handler_chain::{
    chain::{Cx, Handler, Inbound, Middleware, Next, Outcome, Rejection, Reply},
    protocol::ErrorCode,
};
use serde::Deserialize;
use serde_json::json;

/// A link that finishes every message whose frame is longer than `limit` bytes with a
/// `bad_request` rejection, and passes every other message on to the rest of the chain.
#[derive(Debug, Clone, Copy)]
pub struct MaxMessageSize {
    limit: usize,
}

impl MaxMessageSize {
    pub fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl Middleware for MaxMessageSize {
    /// The tests look for this name in the logs: `link{name="max_message_size"}`.
    fn name(&self) -> &'static str {
        "max_message_size"
    }

    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome {
        let _ = (self.limit, cx, message, next);
        todo!("reject a message longer than the limit; pass every other one on")
    }
}

/// The typed request of `members`: `{"type":"members","id":"m1","room":"lobby"}`. The router
/// reads it from the message's fields before your handler runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersRequest {
    pub room: String,
}

/// `members`: who is in a room the asking session has joined. Answers
/// `Reply::Echo({"room": "lobby", "members": ["1", "2"]})`, the session ids as strings in
/// ascending order; a session that has not joined the room gets `not_in_room`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Members;

impl Handler for Members {
    const TYPE: &'static str = "members";
    type Request = MembersRequest;

    fn handle(&self, cx: &mut Cx<'_>, request: MembersRequest) -> Outcome {
        let _ = (cx, request);
        todo!("look the room up in `cx.registry`; answer with `Reply::Echo(json!(...))`")
    }
}
