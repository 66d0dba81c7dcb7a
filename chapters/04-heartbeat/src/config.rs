//! The options this chapter adds to the shared ones.

use std::time::Duration;

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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            outbound_queue: 256,
            heartbeat_interval: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(45),
        }
    }
}
