//! Log setup with one global DEBUG switch.
//!
//! Precedence: `RUST_LOG` (full control) > `--debug` / `WS_DEBUG=1` (debug for this project's
//! crates, info for dependencies) > the default, info.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogFormat, ServerOptions};

/// The filter the switch selects; `crate_name` is the calling chapter (`env!("CARGO_CRATE_NAME")`).
pub fn filter(crate_name: &str, debug: bool) -> EnvFilter {
    if let Ok(directives) = std::env::var(EnvFilter::DEFAULT_ENV) {
        if let Ok(filter) = EnvFilter::try_new(directives) {
            return filter;
        }
    }
    let level = if debug { "debug" } else { "info" };
    EnvFilter::new(format!("info,{crate_name}={level},shared={level}"))
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(crate_name: &str, options: &ServerOptions) {
    let filter = filter(crate_name, options.debug);
    let builder = fmt().with_env_filter(filter).with_target(true);
    match options.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
