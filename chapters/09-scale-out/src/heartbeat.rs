//! Heartbeat: when to ping, and when a silent peer is declared dead.
//!
//! Each session owns one `Heartbeat`. It is a single tokio `Interval`: one entry in tokio's
//! timer wheel per session, woken once per interval, never re-armed per message. Traffic
//! only stores an `Instant` (`saw_traffic`), which costs far less than resetting a timer on
//! every message; the check happens at the next tick. So a peer that falls silent is dropped
//! between `timeout` and `timeout + interval` after the last sign of life.
//!
//! Sessions that connect together, as every client does when a server restarts, would ping
//! together forever: [`Heartbeat::spread`] gives each its own phase in the interval.
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
    /// The newest Ping's payload: a counter.
    nonce: u64,
    /// When the newest Ping was sent, until its Pong comes back: for the RTT.
    in_flight: Option<Instant>,
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
    /// The first tick one interval from now, then one every interval.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Self::first_tick_in(interval, interval, timeout)
    }

    // ANCHOR: spread
    /// The heartbeat of session number `n`: its first tick comes after between half an interval
    /// and one, at a point picked by `n`, so that sessions that connected in the same second
    /// tick spread over half of every interval instead of in one burst.
    ///
    /// `n` times 2^64 / φ, modulo 2^64 (Fibonacci hashing): consecutive numbers land far
    /// apart, and any run of them falls evenly over the whole range.
    pub fn spread(n: u64, interval: Duration, timeout: Duration) -> Self {
        let phase = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) as f64 / 2f64.powi(64); // in [0, 1)
        Self::first_tick_in(interval.mul_f64(1.0 - phase / 2.0), interval, timeout)
    }
    // ANCHOR_END: spread

    fn first_tick_in(first: Duration, interval: Duration, timeout: Duration) -> Self {
        let now = Instant::now();
        let mut ticks = tokio::time::interval_at(now + first, interval);
        // A session busy for a while pings once when it is free again, not in a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { ticks, timeout, last_seen: now, nonce: 0, in_flight: None }
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
        self.nonce += 1;
        self.in_flight = Some(now);
        Beat::Ping(self.nonce.to_be_bytes().to_vec())
    }

    /// A Pong arrived: the round-trip time, if it answers our newest Ping.
    pub fn pong(&mut self, payload: &[u8]) -> Option<Duration> {
        let sent = self.in_flight?;
        if payload != self.nonce.to_be_bytes() {
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
    async fn spread_heartbeats_tick_over_half_of_every_interval() {
        // 1000 sessions that connect at the same instant.
        let start = Instant::now();
        let mut heartbeats: Vec<_> =
            (1..=1000).map(|n| Heartbeat::spread(n, INTERVAL, TIMEOUT)).collect();
        let mut tenths = [0; 10];
        for (n, heartbeat) in heartbeats.iter_mut().enumerate() {
            // `tick` returns when the tick was due, even if the clock has passed it.
            let first = heartbeat.ticks.tick().await - start;
            assert!(first > INTERVAL / 2 && first <= INTERVAL, "session {}: {first:?}", n + 1);
            let tenth = (first - INTERVAL / 2).as_secs_f64() / (INTERVAL / 20).as_secs_f64();
            tenths[(tenth as usize).min(9)] += 1;
        }
        // Their first ticks fill the half interval evenly: about 100 in every tenth of it.
        assert!(tenths.iter().all(|&count| (90..=110).contains(&count)), "{tenths:?}");

        // After the first tick, one every interval: the phase stays.
        let mut heartbeat = Heartbeat::spread(7, INTERVAL, TIMEOUT);
        let first = heartbeat.ticks.tick().await;
        assert_eq!(heartbeat.ticks.tick().await - first, INTERVAL);
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
