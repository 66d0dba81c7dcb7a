use subtle::ConstantTimeEq;
use tracing::info;

use crate::{
    chain::{Cx, Handler, Outcome, Rejection, Reply},
    protocol::{self, ErrorCode},
};

// ANCHOR: authenticate
/// `auth`: a session proves itself with one of the configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Authenticate {
    tokens: Vec<protocol::Secret>,
}

impl Authenticate {
    pub fn with_tokens(tokens: impl IntoIterator<Item = String>) -> Self {
        Self { tokens: tokens.into_iter().map(protocol::Secret).collect() }
    }
}

impl Handler for Authenticate {
    const TYPE: &'static str = "auth";
    type Request = protocol::Auth;

    fn handle(&self, cx: &mut Cx<'_>, request: protocol::Auth) -> Outcome {
        // Compare in constant time, so response timing does not leak how much of a guess was
        // right. The token itself is never logged.
        let offered = request.token.0.as_bytes();
        let known = self.tokens.is_empty()
            || self.tokens.iter().any(|token| bool::from(token.0.as_bytes().ct_eq(offered)));
        if !known {
            return Err(Rejection::new(ErrorCode::Unauthorized, "unknown token"));
        }
        if !cx.state.authenticated {
            cx.state.authenticated = true;
            info!(trace = %cx.trace, "authenticated");
        }
        Ok(Reply::Ack)
    }
}
// ANCHOR_END: authenticate
