//! The options this chapter adds: every limit is a number the operator chooses. Each has a flag
//! and an environment variable.

use std::{net::SocketAddr, num::NonZeroU32, time::Duration};

use clap::{Args, ValueEnum};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address of the admin listener (metrics, health, log level). Keep it private.
    #[arg(long, env = "WS_ADMIN_LISTEN", default_value = "127.0.0.1:9001")]
    pub admin_listen: SocketAddr,

    /// The path WebSocket clients connect to; other paths get 404.
    #[arg(long, env = "WS_PATH", default_value = "/")]
    pub ws_path: String,

    // ANCHOR: limits
    /// Sessions open at once; the next handshake is answered 503. Keep it under the process's
    /// open-file limit (`ulimit -n`) minus a reserve.
    #[arg(long, env = "WS_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = at_least_one())]
    pub max_connections: usize,

    /// A connection must finish its HTTP upgrade within this time (slowloris defence).
    #[arg(long, env = "WS_HANDSHAKE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,

    /// Largest message a client may send; a bigger one is closed with 1009.
    #[arg(long, env = "WS_MAX_MESSAGE", default_value_t = 64 * 1024, value_parser = at_least_one())]
    pub max_message: usize,
    // ANCHOR_END: limits
    /// Messages queued for one session; what happens when it is full is `--slow-consumer`.
    #[arg(long, env = "WS_OUTBOUND_QUEUE", default_value_t = 256, value_parser = at_least_one())]
    pub outbound_queue: usize,

    /// What to do with a session whose outbound queue is full.
    #[arg(long, env = "WS_SLOW_CONSUMER", value_enum, default_value_t = SlowConsumer::Drop)]
    pub slow_consumer: SlowConsumer,

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

    /// Require a token at the upgrade (`Authorization: Bearer <token>` or `?token=`): without
    /// one the handshake is answered 401 and no session starts.
    #[arg(long, env = "WS_AUTH_AT_UPGRADE")]
    pub auth_at_upgrade: bool,

    /// Origins browsers may connect from (comma-separated). Empty: any. Requests without an
    /// `Origin` header (non-browser clients) are not affected.
    #[arg(long = "allowed-origin", env = "WS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Message types a session may send before it authenticates (`auth` always).
    #[arg(long, env = "WS_ALLOW_ANONYMOUS", value_delimiter = ',', default_value = "echo")]
    pub allow_anonymous: Vec<String>,

    /// Messages a second each session may send, on average.
    #[arg(long, env = "WS_RATE_LIMIT", default_value = "50")]
    pub rate_limit: NonZeroU32,

    /// Messages a session may send in one burst.
    #[arg(long, env = "WS_RATE_BURST", default_value = "100")]
    pub rate_burst: NonZeroU32,

    /// Rate-limited messages in a row after which the session is closed with 1008.
    #[arg(long, env = "WS_ABUSE_STRIKES", default_value_t = 50)]
    pub abuse_strikes: u32,

    /// On shutdown, how long sessions get to flush their queues before the process exits.
    #[arg(long, env = "WS_SHUTDOWN_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

/// The slow-consumer policy: a client that does not read fast enough fills its queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum SlowConsumer {
    /// Drop what does not fit and count it (`ws_outbound_dropped_total`); the session stays.
    #[default]
    Drop,
    /// Close the session with 1013 "slow consumer": it gets nothing rather than a gapped stream.
    Close,
}

impl Config {
    // ANCHOR: websocket_config
    /// tungstenite's settings: size limits that bound what one client can make the server hold.
    pub fn websocket(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_message))
    }
    // ANCHOR_END: websocket_config
}

impl Default for Config {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        // One source of truth for the defaults: the clap attributes above.
        Defaults::parse_from(["defaults"]).config
    }
}
