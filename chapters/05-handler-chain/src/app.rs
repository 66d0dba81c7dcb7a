//! The application, assembled: which links run in which order, and which handler answers
//! which message type. The one place to look, and the one place to change.

use std::sync::Arc;

use crate::{
    Config, Registry,
    chain::{Chain, Router},
    handlers, middleware,
};

// ANCHOR: app
/// Everything the sessions share: built once at start-up.
pub struct App {
    pub config: Config,
    pub registry: Arc<Registry>,
    pub chain: Chain,
}

impl App {
    /// The standard server for `config`.
    pub fn new(config: Config) -> Arc<Self> {
        let chain = standard_chain(&config);
        Self::with_chain(config, chain)
    }

    /// A server with a chain of your own (tests, exercises, experiments).
    pub fn with_chain(config: Config, chain: Chain) -> Arc<Self> {
        Arc::new(Self { config, registry: Registry::new(), chain })
    }

    /// What a session is given of the app: see [`Shared`].
    pub fn shared(&self) -> Shared<'_> {
        Shared(self)
    }
}

/// The part of the app a session may use: the configuration, the registry and the chain. The
/// transport hands each session this, not the `App`, so that what a session can reach is
/// listed here, in one place.
#[derive(Clone, Copy)]
pub struct Shared<'a>(&'a App);

impl<'a> Shared<'a> {
    pub fn config(self) -> &'a Config {
        &self.0.config
    }

    pub fn registry(self) -> &'a Arc<Registry> {
        &self.0.registry
    }

    pub fn chain(self) -> &'a Chain {
        &self.0.chain
    }
}
// ANCHOR_END: app

// ANCHOR: standard_chain
/// The chain this server runs. Adding a message type is one handler plus one `.route(...)`
/// line; adding a middleware is one type plus one `.with(...)` line.
pub fn standard_chain(config: &Config) -> Chain {
    let router = Router::new()
        .route(handlers::Echo)
        .route(handlers::Authenticate::with_tokens(config.auth_tokens.clone()))
        .route(handlers::Join)
        .route(handlers::Leave)
        .route(handlers::Publish)
        .route(handlers::SendDirect);

    Chain::new(router)
        .with(middleware::Lifecycle)
        .with(middleware::RateLimit)
        .with(middleware::RequireAuth::allowing(config.allow_anonymous.clone()))
        .with(middleware::Validate)
}
// ANCHOR_END: standard_chain
