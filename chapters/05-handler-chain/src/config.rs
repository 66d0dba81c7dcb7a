//! The options this chapter adds to the shared ones.

use std::{num::NonZeroU32, time::Duration};

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Messages queued for one session before further ones to it are dropped (slow consumer).
    #[arg(long, env = "WS_OUTBOUND_QUEUE", default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub outbound_queue: usize,

    /// How often the server pings each session (e.g. `15s`, `500ms`).
    #[arg(long, env = "WS_HEARTBEAT_INTERVAL", default_value = "15s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,

    /// A session that sends nothing, not even a Pong, for this long is closed.
    #[arg(long, env = "WS_HEARTBEAT_TIMEOUT", default_value = "45s", value_parser = humantime::parse_duration)]
    pub heartbeat_timeout: Duration,

    /// Tokens a session may `auth` with (comma-separated in the environment). With none, every
    /// session counts as authenticated.
    #[arg(
        long = "auth-token",
        env = "WS_AUTH_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub auth_tokens: Vec<String>,

    /// Message types a session may send before it authenticates (`auth` always).
    #[arg(long, env = "WS_ALLOW_ANONYMOUS", value_delimiter = ',', default_value = "echo")]
    pub allow_anonymous: Vec<String>,

    /// Messages a second each session may send, on average.
    #[arg(long, env = "WS_RATE_LIMIT", default_value = "50")]
    pub rate_limit: NonZeroU32,

    /// Messages a session may send in one burst.
    #[arg(long, env = "WS_RATE_BURST", default_value = "100")]
    pub rate_burst: NonZeroU32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            outbound_queue: 256,
            heartbeat_interval: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(45),
            auth_tokens: Vec::new(),
            allow_anonymous: vec!["echo".into()],
            rate_limit: NonZeroU32::new(50).unwrap(),
            rate_burst: NonZeroU32::new(100).unwrap(),
        }
    }
}
