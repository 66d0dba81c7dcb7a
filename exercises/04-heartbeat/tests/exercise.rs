//! Provided tests for exercise 04: run them with `cargo test -p ex04-heartbeat`.
//!
//! Every test runs on tokio's paused clock (`start_paused = true`): when every task waits for a
//! timer, time jumps straight to the next deadline, so a test of minutes of heartbeats takes
//! microseconds and the elapsed times are exact. `tokio::time::advance` moves the clock by hand.
//! Use `tokio::time::Instant`, not `std::time::Instant`: only the first one follows this clock.

use std::time::Duration;

use ex04_heartbeat::{Beat, Heartbeat};
use tokio::time::{Instant, advance};

const INTERVAL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(250);

async fn expect_ping(heartbeat: &mut Heartbeat) -> Vec<u8> {
    match heartbeat.tick().await {
        Beat::Ping(payload) => payload,
        Beat::TimedOut => panic!("timed out, but the peer is alive"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_ping_is_exactly_one_interval_after_creation() {
    let start = Instant::now();
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    let payload = expect_ping(&mut heartbeat).await;
    assert_eq!(start.elapsed(), INTERVAL, "not at once, not later");
    assert!(payload.len() <= 125, "a control frame's payload is at most 125 bytes");
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_keeps_talking_is_never_timed_out() {
    let start = Instant::now();
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    for n in 1..=100u32 {
        expect_ping(&mut heartbeat).await;
        assert_eq!(start.elapsed(), INTERVAL * n, "one ping per interval");
        advance(Duration::from_millis(30)).await;
        heartbeat.saw_traffic();
    }
}

#[tokio::test(start_paused = true)]
async fn traffic_less_often_than_the_timeout_still_keeps_the_peer_alive() {
    // The peer says something every other interval (200 ms), under the 250 ms timeout, and
    // never answers a Ping: any frame is a sign of life.
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    for n in 1..=100u32 {
        expect_ping(&mut heartbeat).await;
        if n % 2 == 0 {
            heartbeat.saw_traffic();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_times_out_between_timeout_and_timeout_plus_interval() {
    let start = Instant::now();
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    let mut pings = 0;
    while let Beat::Ping(_) = heartbeat.tick().await {
        pings += 1;
        assert!(pings < 100, "a silent peer must time out");
    }
    let dead_after = start.elapsed();
    assert!(
        dead_after >= TIMEOUT && dead_after <= TIMEOUT + INTERVAL,
        "timed out after {dead_after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_timeout_counts_from_the_last_traffic() {
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    for _ in 0..10 {
        expect_ping(&mut heartbeat).await;
        heartbeat.saw_traffic();
    }
    let last_seen = Instant::now();
    while let Beat::Ping(_) = heartbeat.tick().await {}
    let silence = last_seen.elapsed();
    assert!(
        silence >= TIMEOUT && silence <= TIMEOUT + INTERVAL,
        "timed out after {silence:?} of silence"
    );
}

#[tokio::test(start_paused = true)]
async fn the_round_trip_time_of_a_pong_is_measured_exactly() {
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    let payload = expect_ping(&mut heartbeat).await;
    advance(Duration::from_millis(37)).await;
    assert_eq!(heartbeat.pong(&payload), Some(Duration::from_millis(37)));
    heartbeat.saw_traffic();

    let payload = expect_ping(&mut heartbeat).await;
    advance(Duration::from_millis(5)).await;
    assert_eq!(heartbeat.pong(&payload), Some(Duration::from_millis(5)));
}

#[tokio::test(start_paused = true)]
async fn stale_and_unsolicited_pongs_are_ignored() {
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    assert_eq!(heartbeat.pong(b""), None, "no Ping sent yet");
    let old = expect_ping(&mut heartbeat).await;
    let new = expect_ping(&mut heartbeat).await;
    assert_ne!(old, new, "each Ping needs its own payload to tell the Pongs apart");
    assert_eq!(heartbeat.pong(b"unsolicited"), None);
    assert_eq!(heartbeat.pong(&old), None, "the answer to an older Ping");
    advance(Duration::from_millis(3)).await;
    assert_eq!(heartbeat.pong(&new), Some(Duration::from_millis(3)));
    assert_eq!(heartbeat.pong(&new), None, "a Ping is answered once");
}

#[tokio::test(start_paused = true)]
async fn tick_is_cancel_safe() {
    // In a session, `tick()` races the socket in `select!`; whenever a frame wins, the tick
    // future is dropped. That must neither lose the tick nor push it back.
    let start = Instant::now();
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    for _ in 0..3 {
        let raced = tokio::time::timeout(INTERVAL / 4, heartbeat.tick()).await;
        assert!(raced.is_err(), "ticked early, after {:?}", start.elapsed());
    }
    expect_ping(&mut heartbeat).await;
    assert_eq!(start.elapsed(), INTERVAL);
}

#[tokio::test(start_paused = true)]
async fn after_a_busy_stretch_one_ping_not_a_burst() {
    // The session was busy (say, a long burst of frames) for ten intervals without polling
    // `tick()`. The ticks it missed must not all fire at once.
    let mut heartbeat = Heartbeat::new(INTERVAL, TIMEOUT);
    advance(INTERVAL * 10 + INTERVAL / 2).await;
    heartbeat.saw_traffic();
    let busy_until = Instant::now();
    expect_ping(&mut heartbeat).await;
    assert_eq!(busy_until.elapsed(), Duration::ZERO, "the missed tick fires once");
    heartbeat.saw_traffic();
    expect_ping(&mut heartbeat).await;
    assert!(
        busy_until.elapsed() > Duration::ZERO,
        "a second missed tick fired at once: a burst of Pings"
    );
}
