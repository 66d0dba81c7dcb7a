//! Log setup with one global DEBUG switch, and a handle to change the level at run time.
//!
//! Precedence at start: `RUST_LOG` (full control) > `--debug` / `WS_DEBUG=1` (debug for this
//! project's crates, info for dependencies) > the default, info.

use anyhow::Context;
use tracing_subscriber::{
    EnvFilter, Registry, fmt, layer::SubscriberExt, reload, util::SubscriberInitExt,
};

use crate::config::{LogFormat, ServerOptions};

/// The filter the switch selects; `crate_name` is the calling chapter (`env!("CARGO_CRATE_NAME")`).
pub fn filter(crate_name: &str, debug: bool) -> EnvFilter {
    if let Ok(directives) = std::env::var(EnvFilter::DEFAULT_ENV) {
        if let Ok(filter) = EnvFilter::try_new(directives) {
            return filter;
        }
    }
    EnvFilter::new(directives(crate_name, debug))
}

/// The directives of the global switch: `info` everywhere, and debug for our crates if asked.
pub fn directives(crate_name: &str, debug: bool) -> String {
    let level = if debug { "debug" } else { "info" };
    format!("info,{crate_name}={level},shared={level}")
}

/// Changes what is logged while the server runs (chapter 06 puts it behind an admin endpoint).
#[derive(Debug, Clone)]
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
}

impl LogControl {
    /// Replaces the filter, e.g. with `"info,ch06_instrumentation=debug"`.
    pub fn set(&self, directives: &str) -> anyhow::Result<()> {
        let filter = EnvFilter::try_new(directives).context("invalid log directives")?;
        self.handle.reload(filter).context("reload the log filter")
    }

    /// The filter in force, in `RUST_LOG` syntax.
    pub fn current(&self) -> String {
        self.handle.with_current(ToString::to_string).unwrap_or_default()
    }
}

/// A filter layer that can be changed later through the returned [`LogControl`].
pub fn reloadable(filter: EnvFilter) -> (reload::Layer<EnvFilter, Registry>, LogControl) {
    let (layer, handle) = reload::Layer::new(filter);
    (layer, LogControl { handle })
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(crate_name: &str, options: &ServerOptions) -> LogControl {
    let (filter, control) = reloadable(filter(crate_name, options.debug));
    let subscriber = tracing_subscriber::registry().with(filter);
    match options.log_format {
        LogFormat::Text => subscriber.with(fmt::layer()).init(),
        LogFormat::Json => {
            subscriber.with(fmt::layer().json().flatten_event(true).with_current_span(true)).init()
        }
    }
    control
}
