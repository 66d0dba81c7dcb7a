//! Heartbeat: when to ping, and when a silent peer is declared dead.
//!
//! Each session owns one `Heartbeat`. It is a single tokio `Interval`: one entry in tokio's
//! timer wheel per session, woken once per interval, never re-armed per message. Traffic
//! only stores an `Instant` (`saw_traffic`), which costs far less than resetting a timer on
//! every message; the check happens at the next tick. So a peer that falls silent is dropped
//! between `timeout` and `timeout + interval` after the last sign of life.
//!
//! Pure logic over tokio's clock: tested on a paused clock without any socket.

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

// ANCHOR: heartbeat
#[derive(Debug)]
pub struct Heartbeat {
    ticks: Interval,
    timeout: Duration,
    last_seen: Instant,
    /// The payload and send time of the newest Ping, to match its Pong and measure the RTT.
    in_flight: Option<(u64, Instant)>,
    next_nonce: u64,
}

/// What the session must do at a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// Send a Ping with this payload.
    Ping(Vec<u8>),
    /// Nothing heard for `timeout`: close the connection.
    TimedOut,
}

impl Heartbeat {
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        let now = Instant::now();
        // The first tick is one interval from now, not immediately.
        let mut ticks = tokio::time::interval_at(now + interval, interval);
        // A session busy for a while pings once when it is free again, not in a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { ticks, timeout, last_seen: now, in_flight: None, next_nonce: 0 }
    }

    /// Any frame from the peer proves it is alive.
    pub fn saw_traffic(&mut self) {
        self.last_seen = Instant::now();
    }

    /// Waits for the next tick and says what to do. Cancel-safe: use it in `select!`.
    pub async fn tick(&mut self) -> Beat {
        self.ticks.tick().await;
        let now = Instant::now();
        if now.duration_since(self.last_seen) >= self.timeout {
            return Beat::TimedOut;
        }
        self.next_nonce += 1;
        self.in_flight = Some((self.next_nonce, now));
        Beat::Ping(self.next_nonce.to_be_bytes().to_vec())
    }

    /// A Pong arrived: the round-trip time, if it answers our newest Ping.
    pub fn pong(&mut self, payload: &[u8]) -> Option<Duration> {
        let (nonce, sent) = self.in_flight?;
        if payload != nonce.to_be_bytes() {
            return None; // an unsolicited Pong, or the answer to an older Ping
        }
        self.in_flight = None;
        Some(sent.elapsed())
    }
}
// ANCHOR_END: heartbeat

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(100);
    const TIMEOUT: Duration = Duration::from_millis(250);

    #[tokio::test(start_paused = true)]
    async fn pings_every_interval_while_the_peer_talks() {
        let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
        let start = Instant::now();
        for n in 1..=20u32 {
            let Beat::Ping(payload) = heartbeat.tick().await else {
                panic!("timed out at tick {n}")
            };
            assert_eq!(start.elapsed(), INTERVAL * n);
            tokio::time::advance(Duration::from_millis(7)).await;
            assert_eq!(heartbeat.pong(&payload), Some(Duration::from_millis(7)));
            heartbeat.saw_traffic();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_between_timeout_and_timeout_plus_interval() {
        let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
        let start = Instant::now();
        while let Beat::Ping(_) = heartbeat.tick().await {}
        let dead_after = start.elapsed();
        assert!(dead_after >= TIMEOUT && dead_after <= TIMEOUT + INTERVAL, "{dead_after:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_newest_ping_s_pong_counts() {
        let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
        let Beat::Ping(old) = heartbeat.tick().await else { panic!() };
        let Beat::Ping(new) = heartbeat.tick().await else { panic!() };
        assert_eq!(heartbeat.pong(b"unsolicited"), None);
        assert_eq!(heartbeat.pong(&old), None);
        assert!(heartbeat.pong(&new).is_some());
        assert_eq!(heartbeat.pong(&new), None, "answered once");
    }
}
