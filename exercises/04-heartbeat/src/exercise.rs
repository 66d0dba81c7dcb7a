#![allow(unused_imports)] // the imports you will need; the lint comes back once you use them

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::Beat;

/// One session's heartbeat, on tokio's clock.
#[derive(Debug)]
pub struct Heartbeat {
    // Your fields: what you need to know when to tick, when the peer was last heard from, and
    // which Ping is waiting for its Pong (see the hints).
}

impl Heartbeat {
    /// The first Ping is due one `interval` from now; a peer silent for `timeout` is dead.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        let _ = (interval, timeout);
        todo!("an Interval whose first tick is one interval away, and the time of last traffic")
    }

    /// The session calls this for every frame the peer sends, Pongs included.
    pub fn saw_traffic(&mut self) {
        todo!("remember when")
    }

    /// Waits for the next tick and says what to do. Cancel-safe: the session uses it in
    /// `select!`, so dropping the future before it completes must not lose or move a tick.
    pub async fn tick(&mut self) -> Beat {
        todo!("wait for the tick, then compare the silence with the timeout")
    }

    /// A Pong arrived: its round-trip time if it answers the newest Ping, which it then no
    /// longer waits for; `None` for an unsolicited Pong or the answer to an older Ping.
    pub fn pong(&mut self, payload: &[u8]) -> Option<Duration> {
        let _ = payload;
        todo!("match the payload with the Ping in flight")
    }
}
