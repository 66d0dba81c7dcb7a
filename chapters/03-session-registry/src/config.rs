//! The options this chapter adds to the shared ones.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Messages queued for one session before further ones to it are dropped (slow consumer).
    #[arg(long, env = "WS_OUTBOUND_QUEUE", default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub outbound_queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { outbound_queue: 256 }
    }
}
