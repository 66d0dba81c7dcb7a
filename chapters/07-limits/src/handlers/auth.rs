use subtle::ConstantTimeEq;
use tracing::info;

use crate::{
    chain::{Cx, Handler, Outcome, Rejection, Reply},
    protocol::{self, ErrorCode},
};

// ANCHOR: tokens
/// The configured tokens. Checked by the `auth` message and, with `--auth-at-upgrade`, by the
/// upgrade itself.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<protocol::Secret>);

impl Tokens {
    pub fn new(tokens: impl IntoIterator<Item = String>) -> Self {
        Self(tokens.into_iter().map(protocol::Secret).collect())
    }

    /// With no tokens configured, there is nothing to check. Tokens are compared in constant
    /// time, so response timing does not leak how much of a guess was right.
    pub fn accepts(&self, offered: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|token| bool::from(token.0.as_bytes().ct_eq(offered.as_bytes())))
    }
}
// ANCHOR_END: tokens

/// `auth`: a session proves itself with one of the configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Authenticate {
    tokens: Tokens,
}

impl Authenticate {
    pub fn with_tokens(tokens: Tokens) -> Self {
        Self { tokens }
    }
}

impl Handler for Authenticate {
    const TYPE: &'static str = "auth";
    type Request = protocol::Auth;

    fn handle(&self, cx: &mut Cx<'_>, request: protocol::Auth) -> Outcome {
        // The token itself is never logged.
        if !self.tokens.accepts(&request.token.0) {
            return Err(Rejection::new(ErrorCode::Unauthorized, "unknown token"));
        }
        if !cx.state.authenticated {
            cx.state.authenticated = true;
            info!(trace = %cx.trace, "authenticated");
        }
        Ok(Reply::Ack)
    }
}
