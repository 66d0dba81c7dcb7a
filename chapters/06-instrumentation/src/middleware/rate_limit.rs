//! Rejects a session's messages while its token bucket is empty.

use crate::{
    chain::{Cx, Inbound, Middleware, Next, Outcome, Rejection},
    protocol::ErrorCode,
};

// ANCHOR: rate_limit
/// The bucket itself lives in the session's state: each session has its own, and it goes
/// away with the session.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateLimit;

impl Middleware for RateLimit {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome {
        if !cx.state.bucket.try_take() {
            return Err(Rejection::new(ErrorCode::RateLimited, "too many messages; slow down"));
        }
        next.run(cx, message)
    }
}
// ANCHOR_END: rate_limit
