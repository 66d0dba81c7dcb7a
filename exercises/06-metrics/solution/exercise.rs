use ch06_instrumentation::chain::{Cx, Inbound, Middleware, Next, Outcome};
use metrics::counter;
use tracing::debug;

use crate::MESSAGES_BY_AUTH;

/// A link that passes every message on, unchanged, and then counts it in
/// [`MESSAGES_BY_AUTH`] by `auth`, `type` and `outcome`, and logs one DEBUG event,
/// `"message classified"`, with the fields `trace`, `auth`, `msg_type` and `outcome`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassifyAuth;

impl Middleware for ClassifyAuth {
    /// The link's span in the logs: `link{name="classify_auth"}`.
    fn name(&self) -> &'static str {
        "classify_auth"
    }

    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome {
        // Decided on arrival: an `auth` message comes from a session that is not (yet)
        // authenticated, even when the handler down the chain authenticates it.
        let auth = if cx.state.authenticated { "authenticated" } else { "anonymous" };
        let outcome = next.run(cx, message);
        let result = if outcome.is_ok() { "ok" } else { "rejected" };

        // Every label value comes from a closed set. `msg_type` is the router's `&'static str`
        // (`unknown` for a type no handler serves); `message.kind` is whatever the client
        // typed, and as a label it would give every client a new series on demand.
        counter!(MESSAGES_BY_AUTH, "auth" => auth, "type" => message.msg_type, "outcome" => result)
            .increment(1);
        // One line per message: routine, so DEBUG. The trace id finds the rest of its story.
        debug!(trace = %cx.trace, auth, msg_type = message.msg_type, outcome = result, "message classified");
        outcome
    }
}
