//! The application, assembled: which links run in which order, and which handler answers
//! which message type. The one place to look, and the one place to change.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{
    Config, Registry,
    chain::{Chain, Router},
    handlers::{self, Tokens},
    middleware,
};

/// Everything the sessions share: built once at start-up.
pub struct App {
    pub config: Config,
    pub registry: Arc<Registry>,
    pub chain: Chain,
    pub tokens: Tokens,
    /// Cancelled when the server shuts down: every session closes with 1001.
    pub shutdown: CancellationToken,
}

impl App {
    /// The standard server for `config`.
    pub fn new(config: Config) -> Arc<Self> {
        let chain = standard_chain(&config);
        Self::with_chain(config, chain)
    }

    /// A server with a chain of your own (tests, exercises, experiments).
    pub fn with_chain(config: Config, chain: Chain) -> Arc<Self> {
        Arc::new(Self {
            registry: Registry::with_policy(config.slow_consumer),
            tokens: Tokens::new(config.auth_tokens.clone()),
            shutdown: CancellationToken::new(),
            config,
            chain,
        })
    }
}

// ANCHOR: standard_chain
/// The chain this server runs. Adding a message type is one handler plus one `.route(...)`
/// line; adding a middleware is one type plus one `.with(...)` line.
pub fn standard_chain(config: &Config) -> Chain {
    let router = Router::new()
        .route(handlers::Echo)
        .route(handlers::Authenticate::with_tokens(Tokens::new(config.auth_tokens.clone())))
        .route(handlers::Join)
        .route(handlers::Leave)
        .route(handlers::Publish)
        .route(handlers::SendDirect);

    Chain::new(router)
        .with(middleware::Lifecycle)
        .with(middleware::RateLimit::closing_after(config.abuse_strikes))
        .with(middleware::RequireAuth::allowing(config.allow_anonymous.clone()))
        .with(middleware::Validate)
}
// ANCHOR_END: standard_chain
