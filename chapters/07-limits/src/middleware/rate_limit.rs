//! Rejects a session's messages while its token bucket is empty, and asks for the session to
//! be closed if it keeps flooding.

use crate::{
    chain::{Cx, Inbound, Middleware, Next, Outcome, Rejection},
    protocol::ErrorCode,
    state::Closing,
};

// ANCHOR: rate_limit
/// The bucket itself lives in the session's state: each session has its own, and it goes
/// away with the session.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Rejections in a row after which the session is closed (0: never).
    max_strikes: u32,
}

impl RateLimit {
    pub fn closing_after(max_strikes: u32) -> Self {
        Self { max_strikes }
    }
}

impl Middleware for RateLimit {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome {
        if cx.state.bucket.try_take() {
            cx.state.strikes = 0;
            return next.run(cx, message);
        }
        cx.state.strikes += 1;
        if self.max_strikes > 0 && cx.state.strikes >= self.max_strikes {
            cx.state.close = Some(Closing::Abuse);
        }
        Err(Rejection::new(ErrorCode::RateLimited, "too many messages; slow down"))
    }
}
// ANCHOR_END: rate_limit
