//! Keeps an unauthenticated session to the message types the configuration allows.

use std::collections::HashSet;

use crate::{
    chain::{Cx, Inbound, Middleware, Next, Outcome, Rejection},
    protocol::ErrorCode,
};

// ANCHOR: require_auth
#[derive(Debug, Clone, Default)]
pub struct RequireAuth {
    /// Message types an unauthenticated session may send (`auth` itself always).
    anonymous: HashSet<String>,
}

impl RequireAuth {
    pub fn allowing<S: Into<String>>(types: impl IntoIterator<Item = S>) -> Self {
        let mut anonymous: HashSet<String> = types.into_iter().map(Into::into).collect();
        anonymous.insert("auth".into());
        Self { anonymous }
    }
}

impl Middleware for RequireAuth {
    fn name(&self) -> &'static str {
        "require_auth"
    }

    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome {
        if cx.state.authenticated || self.anonymous.contains(&message.kind) {
            return next.run(cx, message);
        }
        Err(Rejection::new(
            ErrorCode::Unauthenticated,
            format!("`{}` needs an authenticated session; send `auth` first", message.kind),
        ))
    }
}
// ANCHOR_END: require_auth
