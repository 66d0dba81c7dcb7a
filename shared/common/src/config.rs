//! Options every chapter's server accepts, from the command line or the environment.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};

/// The options common to every chapter. A chapter embeds them with `#[command(flatten)]`
/// and adds its own beside them.
#[derive(Debug, Clone, Args)]
pub struct ServerOptions {
    /// Address the WebSocket server listens on.
    #[arg(long, env = "WS_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,

    /// The one global DEBUG switch: debug logs for this project's crates.
    /// `RUST_LOG`, when set, overrides it.
    #[arg(long, env = "WS_DEBUG", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub debug: bool,

    /// Log output: human-readable text, or one JSON object per line for log shippers.
    #[arg(long, env = "WS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerOptions,
    }

    #[test]
    fn defaults_listen_on_loopback_9000_at_info() {
        let cli = Cli::try_parse_from(["test"]).unwrap();
        assert_eq!(cli.server.listen, "127.0.0.1:9000".parse().unwrap());
        assert!(!cli.server.debug);
        assert_eq!(cli.server.log_format, LogFormat::Text);
    }

    #[test]
    fn flags_are_parsed() {
        let cli = Cli::try_parse_from([
            "test",
            "--listen",
            "0.0.0.0:1",
            "--debug",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.server.listen, "0.0.0.0:1".parse().unwrap());
        assert!(cli.server.debug);
        assert_eq!(cli.server.log_format, LogFormat::Json);
    }
}
