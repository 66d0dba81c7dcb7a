use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::Beat;

/// One session's heartbeat, on tokio's clock.
#[derive(Debug)]
pub struct Heartbeat {
    /// One timer per session, woken once per interval, never re-armed per message.
    ticks: Interval,
    timeout: Duration,
    last_seen: Instant,
    /// The sequence number of the newest Ping and when it was sent, to match its Pong.
    in_flight: Option<(u32, Instant)>,
    sent: u32,
}

impl Heartbeat {
    /// The first Ping is due one `interval` from now; a peer silent for `timeout` is dead.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        let now = Instant::now();
        // `tokio::time::interval` would tick at once; a new connection needs no Ping yet.
        let mut ticks = tokio::time::interval_at(now + interval, interval);
        // A session that was busy for a while pings once when it is free, not in a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { ticks, timeout, last_seen: now, in_flight: None, sent: 0 }
    }

    /// The session calls this for every frame the peer sends, Pongs included.
    pub fn saw_traffic(&mut self) {
        // Storing an Instant is far cheaper than resetting a timer on every message; the
        // check waits for the next tick.
        self.last_seen = Instant::now();
    }

    /// Waits for the next tick and says what to do. Cancel-safe: the session uses it in
    /// `select!`, so dropping the future before it completes must not lose or move a tick.
    pub async fn tick(&mut self) -> Beat {
        // `Interval::tick` is cancel-safe, and nothing changes before it completes.
        self.ticks.tick().await;
        let now = Instant::now();
        if now.duration_since(self.last_seen) >= self.timeout {
            return Beat::TimedOut;
        }
        self.sent = self.sent.wrapping_add(1);
        self.in_flight = Some((self.sent, now));
        Beat::Ping(ping_payload(self.sent))
    }

    /// A Pong arrived: its round-trip time if it answers the newest Ping, which it then no
    /// longer waits for; `None` for an unsolicited Pong or the answer to an older Ping.
    pub fn pong(&mut self, payload: &[u8]) -> Option<Duration> {
        let (sequence, sent_at) = self.in_flight?;
        if payload != ping_payload(sequence) {
            return None;
        }
        self.in_flight = None;
        Some(sent_at.elapsed())
    }
}

/// A Ping's payload, which its Pong echoes back: readable in a packet capture, e.g. `hb:7`.
fn ping_payload(sequence: u32) -> Vec<u8> {
    format!("hb:{sequence}").into_bytes()
}
