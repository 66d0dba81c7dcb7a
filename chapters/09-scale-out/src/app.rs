//! The application, assembled: which links run in which order, and which handler answers
//! which message type. The one place to look, and the one place to change.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{
    Config, Registry,
    chain::{Chain, Router},
    cluster::{self, ClusterLink},
    handlers::{self, Tokens},
    metrics::Metrics,
    middleware,
};

/// Everything the server shares, built once at start-up. A session sees only part of it: its
/// [`Shared`].
pub struct App {
    pub config: Config,
    pub registry: Arc<Registry>,
    pub chain: Chain,
    pub tokens: Tokens,
    /// Cancelled when the server shuts down: every session closes with 1001.
    pub shutdown: CancellationToken,
    pub metrics: Arc<Metrics>,
    /// This node's link to the others, when `--redis-url` is set.
    pub cluster: Option<ClusterLink>,
}

impl App {
    // ANCHOR: app_new
    /// The standard server for `config`. With a Redis address it joins the cluster: the
    /// relay task starts here (so call this inside a tokio runtime) and keeps reconnecting.
    pub fn new(config: Config) -> Arc<Self> {
        let Some(url) = config.redis_url.clone() else {
            let chain = standard_chain(&config, None);
            return Self::with_chain(config, chain);
        };
        let (link, task) = cluster::cluster(config.node_id, &url);
        let chain = standard_chain(&config, Some(link.clone()));
        let app = Self::build(config, chain, Some(link));
        let (registry, metrics) = (Arc::clone(&app.registry), Arc::clone(&app.metrics));
        tokio::spawn(task.run(registry, metrics, app.shutdown.clone()));
        app
    }
    // ANCHOR_END: app_new

    /// A single-node server with a chain of your own (tests, exercises, experiments).
    pub fn with_chain(config: Config, chain: Chain) -> Arc<Self> {
        Self::build(config, chain, None)
    }

    fn build(config: Config, chain: Chain, cluster: Option<ClusterLink>) -> Arc<Self> {
        let metrics = Arc::new(Metrics::new(chain.router().types()));
        Arc::new(Self {
            // The registry and the chain each get their own handle on the same metrics.
            registry: Registry::for_node(
                config.node_id,
                config.slow_consumer,
                Arc::clone(&metrics),
            ),
            chain: chain.recording_into(Arc::clone(&metrics)),
            metrics,
            tokens: Tokens::new(config.auth_tokens.clone()),
            shutdown: CancellationToken::new(),
            config,
            cluster,
        })
    }

    /// What a session is given of the app: see [`Shared`].
    pub fn shared(&self) -> Shared<'_> {
        Shared(self)
    }
}

/// The part of the app a session may use: the configuration, the registry, the chain, the
/// metrics and the shutdown token. Not the tokens (the upgrade checks them) nor the cluster
/// link (the handlers have it). The transport hands each session this, not the `App`, so that
/// what a session can reach is listed here.
///
/// One reference behind accessors, not a reference per part: the session keeps it in its state
/// for its whole life, and a struct of five references made every connection's future 72 bytes
/// bigger (920 bytes, past the budget of `a_connection_future_stays_small`).
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

    pub fn metrics(self) -> &'a Arc<Metrics> {
        &self.0.metrics
    }

    pub fn shutdown(self) -> &'a CancellationToken {
        &self.0.shutdown
    }
}

// ANCHOR: standard_chain
/// The chain this server runs. Adding a message type is one handler plus one `.route(...)`
/// line; adding a middleware is one type plus one `.with(...)` line.
pub fn standard_chain(config: &Config, cluster: Option<ClusterLink>) -> Chain {
    let router = Router::new()
        .route(handlers::Echo)
        .route(handlers::Authenticate::with_tokens(Tokens::new(config.auth_tokens.clone())))
        .route(handlers::Join)
        .route(handlers::Leave)
        .route(handlers::Publish::new(cluster.clone()))
        .route(handlers::SendDirect::new(cluster));

    Chain::new(router)
        .with(middleware::Lifecycle)
        .with(middleware::RateLimit::closing_after(config.abuse_strikes))
        .with(middleware::RequireAuth::allowing(config.allow_anonymous.clone()))
        .with(middleware::Validate)
}
// ANCHOR_END: standard_chain
