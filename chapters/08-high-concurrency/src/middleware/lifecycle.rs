//! The first link: logs every message's outcome and how long the chain took, once, and
//! records the duration in the handler-latency histogram.

use tokio::time::Instant;
use tracing::{debug, error, info};

use crate::{
    chain::{Cx, Inbound, Middleware, Next, Outcome},
    protocol::ErrorCode,
};

// ANCHOR: lifecycle
#[derive(Debug, Clone, Copy, Default)]
pub struct Lifecycle;

impl Middleware for Lifecycle {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome {
        let started = Instant::now();
        let outcome = next.run(cx, message);
        let elapsed = started.elapsed();
        cx.metrics.handled(message.msg_type, elapsed);
        let duration_us = elapsed.as_micros() as u64;
        let (trace, msg_type) = (cx.trace, message.kind.as_str());
        // Successes are routine (debug); a refusal is the client's business (info); a failure of
        // ours is an operator's (error). The trace id is on the event itself so that it shows
        // even when the debug-level spans are off.
        match &outcome {
            Ok(_) => debug!(%trace, msg_type, outcome = "ok", duration_us, "message handled"),
            Err(rejection) if rejection.code == ErrorCode::Internal => {
                error!(%trace, msg_type, outcome = "error", by = rejection.by, duration_us, "message failed: {}", rejection.message)
            }
            Err(rejection) => info!(
                %trace, msg_type, outcome = "rejected", by = rejection.by, code = %rejection.code, duration_us,
                "message rejected: {}", rejection.message
            ),
        }
        outcome
    }
}
// ANCHOR_END: lifecycle
