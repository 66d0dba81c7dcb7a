//! What the chain remembers about one session between its messages. The session task owns
//! its `SessionState` and lends it to the chain for each message, so no lock guards it.

use std::num::NonZeroU32;

use governor::{
    Quota, RateLimiter,
    clock::Clock,
    state::{InMemoryState, NotKeyed},
};

use crate::{Config, protocol::TraceId, registry::SessionId};

#[derive(Debug)]
pub struct SessionState {
    /// Whether the session may use the message types that need authentication.
    pub authenticated: bool,
    /// The session's own rate-limit bucket.
    pub bucket: Bucket,
    /// Rate-limited messages in a row.
    pub strikes: u32,
    /// Set by a link that wants the session closed after its reply (e.g. sustained abuse).
    pub close: Option<Closing>,
    next_seq: u64,
}

/// Why a link asked for the session to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// Went on flooding after being rate-limited: close 1008.
    Abuse,
}

impl SessionState {
    pub fn new(config: &Config) -> Self {
        Self {
            // With no tokens configured, there is nothing to prove.
            authenticated: config.auth_tokens.is_empty(),
            bucket: Bucket::new(config.rate_limit, config.rate_burst),
            strikes: 0,
            close: None,
            next_seq: 0,
        }
    }

    /// A fresh trace id for the session's next inbound message.
    pub fn next_trace(&mut self, session: SessionId) -> TraceId {
        self.next_seq += 1;
        TraceId { session: session.get(), seq: self.next_seq }
    }
}

// ANCHOR: bucket
/// A token bucket (GCRA, from the `governor` crate): `per_second` messages a second on average,
/// bursts of up to `burst`.
#[derive(Debug)]
pub struct Bucket(RateLimiter<NotKeyed, InMemoryState, TokioClock>);

impl Bucket {
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self(RateLimiter::direct_with_clock(quota, TokioClock))
    }

    /// Takes one token; `false` when the bucket is empty.
    pub fn try_take(&self) -> bool {
        self.0.check().is_ok()
    }
}

/// Governor reads time through tokio's clock, so tests on a paused clock control it too.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        tokio::time::Instant::now().into_std()
    }
}
// ANCHOR_END: bucket
