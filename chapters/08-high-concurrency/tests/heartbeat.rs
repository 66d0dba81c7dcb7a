//! Heartbeats against a real server on 127.0.0.1:0, on tokio's paused clock: the intervals are
//! milliseconds of virtual time, so these tests never sleep for real.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use serde_json::json;
use test_support::{
    capture::{self, eventually},
    client::TestClient,
    raw::{self, Frame},
};
use tokio::{io::AsyncWriteExt, net::TcpListener, time::Instant};
use tokio_tungstenite::tungstenite::Message;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch08_high_concurrency as chapter;
use chapter::{Config, Registry, app::App, session::HEARTBEAT_TIMEOUT};

/// Its crate name, as log filters and log lines spell it: strings, which the alias cannot reach.
const CRATE: &str = "ch08_high_concurrency";

const INTERVAL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(300);

async fn start() -> (SocketAddr, Arc<Registry>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config =
        Config { heartbeat_interval: INTERVAL, heartbeat_timeout: TIMEOUT, ..Config::default() };
    let app = App::new(config);
    let registry = Arc::clone(&app.registry);
    tokio::spawn(chapter::serve(listener, app, std::future::pending()));
    (addr, registry)
}

async fn connect(addr: SocketAddr) -> TestClient {
    let mut client =
        TestClient::connect(addr).await.unwrap().with_timeout(Duration::from_secs(3600));
    assert_eq!(client.recv_json().await.unwrap()["type"], "welcome");
    client
}

#[tokio::test(start_paused = true)]
async fn a_responsive_client_stays_connected_past_many_intervals() {
    let (_guard, logs) = capture::capture(&format!("{CRATE}=debug"));
    let (addr, registry) = start().await;
    let mut client = connect(addr).await;

    // Reading is all it takes: the client library answers each Ping with a Pong as it reads.
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < INTERVAL * 50 {
        match client.recv_frame().await.unwrap() {
            Message::Ping(_) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 49, "only {pings} pings in 50 intervals");
    assert_eq!(registry.session_count(), 1);
    // Round-trip times are measured and logged at debug.
    assert!(!logs.lines_with(&["heartbeat pong", "rtt_us="]).is_empty(), "{}", logs.contents());
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_closed_after_the_timeout_and_leaves_nothing_behind() {
    let (_guard, logs) = capture::capture(&format!("{CRATE}=debug"));
    let (addr, registry) = start().await;
    let tasks_before = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    // A raw peer: a client library would answer the server's Pings as soon as it read them.
    let mut socket = raw::handshake(addr, "/").await.unwrap();
    let join = json!({"type":"join","id":"1","room":"lobby"}).to_string();
    let frame = raw::client_frame(true, Frame::TEXT, join.as_bytes(), Some([1, 2, 3, 4]));
    socket.write_all(&frame).await.unwrap();
    // From here on the client neither reads nor writes, so it answers no Ping.
    let silent_since = Instant::now();
    eventually("joined", || registry.room_count() == 1).await;
    let alive = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
    assert_eq!(alive(), tasks_before + 1);

    eventually("session dropped", || registry.session_count() == 0).await;
    let dropped_after = silent_since.elapsed();
    assert!(dropped_after >= TIMEOUT, "dropped too early: {dropped_after:?}");
    assert!(
        dropped_after <= TIMEOUT + INTERVAL + Duration::from_millis(10),
        "dropped too late: {dropped_after:?}"
    );

    // Nothing stays behind: no room, no session task (and with it, no timer).
    assert_eq!(registry.room_count(), 0);
    eventually("session task ended", || alive() == tasks_before).await;
    logs.wait_for(&["session closed", "reason=heartbeat_timeout"]).await;

    // Welcome, ack and the unanswered Pings came first; then the Close with code and reason.
    let (close, before) = raw::read_until_close(&mut socket).await.unwrap();
    assert!(before >= 4, "expected welcome, ack and Pings before the Close, got {before} frames");
    let expected = (u16::from(HEARTBEAT_TIMEOUT), "heartbeat timeout".to_owned());
    assert_eq!(close.close_code(), Some(expected));
}

#[tokio::test(start_paused = true)]
async fn client_pings_are_answered() {
    let (addr, _registry) = start().await;
    let mut client = connect(addr).await;
    client.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    loop {
        match client.recv_frame().await.unwrap() {
            Message::Pong(payload) => break assert_eq!(&payload[..], b"are you there"),
            Message::Ping(_) => continue, // the server's own heartbeat
            other => panic!("unexpected {other:?}"),
        }
    }
}
