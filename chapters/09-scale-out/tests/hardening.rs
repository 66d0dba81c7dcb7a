//! The complete server against bad input, overload, slow clients and shutdown: each behaviour
//! of the book's "failure modes" table, on a real server and real sockets.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use serde_json::json;
use test_support::{
    capture::eventually,
    client::TestClient,
    http,
    raw::{self, Frame},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch09_scale_out as chapter;
use chapter::{Config, app::App, config::SlowConsumer};

/// Its binary, for the tests that run it as a process of its own.
const BIN: &str = env!("CARGO_BIN_EXE_ch09-scale-out");

const MASK: Option<[u8; 4]> = Some([7, 1, 8, 3]);

struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

async fn start(config: Config) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new(config);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(chapter::serve(listener, Arc::clone(&app), shutdown));
    Server { addr, app, stop: Some(stop), task }
}

async fn connect(addr: SocketAddr) -> TestClient {
    let mut client = TestClient::connect(addr).await.unwrap();
    assert_eq!(client.recv_json().await.unwrap()["type"], "welcome");
    client
}

/// A raw peer after the upgrade and the welcome frame.
async fn raw_peer(addr: SocketAddr) -> TcpStream {
    let mut socket = raw::handshake(addr, "/").await.unwrap();
    let welcome = raw::read_frame(&mut socket).await.unwrap();
    assert_eq!(welcome.opcode, Frame::TEXT);
    socket
}

/// Sends raw bytes and returns the code of the server's Close frame.
async fn close_code_after(addr: SocketAddr, bytes: &[u8]) -> u16 {
    let mut socket = raw_peer(addr).await;
    socket.write_all(bytes).await.unwrap();
    let (close, _) = raw::read_until_close(&mut socket).await.unwrap();
    close.close_code().expect("a close code").0
}

/// The server still serves everyone else.
async fn still_serving(addr: SocketAddr) {
    let mut client = connect(addr).await;
    client.send_json(&json!({"type":"echo","data":"ok"})).await.unwrap();
    assert_eq!(client.recv_json().await.unwrap()["data"], "ok");
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_is_closed_with_1007() {
    let server = start(Config::default()).await;
    let frame = raw::client_frame(true, Frame::TEXT, &[0xC3, 0x28, 0xFF], MASK);
    assert_eq!(close_code_after(server.addr, &frame).await, 1007);
    still_serving(server.addr).await;
}

#[tokio::test]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let server = start(Config { max_message: 1024, ..Config::default() }).await;
    let frame = raw::client_frame(true, Frame::TEXT, &[b'x'; 2048], MASK);
    assert_eq!(close_code_after(server.addr, &frame).await, 1009);
    // Fragments that add up to more than the limit are refused too.
    let mut fragments = raw::client_frame(false, Frame::TEXT, &[b'x'; 800], MASK);
    fragments.extend(raw::client_frame(true, 0x0, &[b'x'; 800], MASK));
    assert_eq!(close_code_after(server.addr, &fragments).await, 1009);
    still_serving(server.addr).await;
}

#[tokio::test]
async fn protocol_violations_are_closed_with_1002() {
    let server = start(Config::default()).await;
    let unmasked = raw::client_frame(true, Frame::TEXT, b"{}", None);
    let reserved_opcode = raw::client_frame(true, 0x3, b"", MASK);
    let bad_close_code = raw::client_frame(true, Frame::CLOSE, &999u16.to_be_bytes(), MASK);
    for bytes in [unmasked, reserved_opcode, bad_close_code] {
        assert_eq!(close_code_after(server.addr, &bytes).await, 1002);
    }
    still_serving(server.addr).await;
    assert_eq!(server.app.registry.session_count(), 1);
}

#[tokio::test]
async fn a_binary_frame_gets_an_unsupported_frame_error_and_the_session_stays() {
    let server = start(Config::default()).await;
    let mut client = connect(server.addr).await;
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let reply = client.recv_json().await.unwrap();
    assert_eq!(
        (reply["code"].as_str(), reply["trace"].is_string()),
        (Some("unsupported_frame"), true)
    );
    client.send_json(&json!({"type":"echo","data":1})).await.unwrap();
    assert_eq!(client.recv_json().await.unwrap()["data"], 1);
}

#[tokio::test]
async fn bad_upgrades_get_4xx_and_no_session() {
    let server = start(Config::default()).await;
    let plain = http::get(server.addr, "/").await.unwrap();
    assert_eq!(plain.status, 400, "{}", plain.head);

    let upgrade = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let mut old_version = upgrade.to_vec();
    old_version.push(("Sec-WebSocket-Version", "8"));
    let response = http::request(server.addr, "GET", "/", &old_version, "").await.unwrap();
    assert_eq!(response.status, 426);
    assert!(response.head.to_lowercase().contains("sec-websocket-version: 13"));

    let mut good = upgrade.to_vec();
    good.push(("Sec-WebSocket-Version", "13"));
    assert_eq!(
        http::request(server.addr, "GET", "/elsewhere", &good, "").await.unwrap().status,
        404
    );
    assert_eq!(server.app.registry.session_count(), 0);
    still_serving(server.addr).await;
}

#[tokio::test(start_paused = true)]
async fn a_handshake_that_never_finishes_is_dropped_after_the_timeout() {
    let server =
        start(Config { handshake_timeout: Duration::from_secs(2), ..Config::default() }).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // and never the rest
    let started = tokio::time::Instant::now();
    let mut buffer = [0u8; 64];
    let read = slow.read(&mut buffer).await.unwrap_or(0);
    assert_eq!(read, 0, "the server closes the connection without a word");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(server.app.registry.session_count(), 0);
}

#[tokio::test]
async fn a_sustained_flood_gets_rate_limited_errors_then_1008() {
    let config = Config {
        rate_limit: 1.try_into().unwrap(),
        rate_burst: 2.try_into().unwrap(),
        abuse_strikes: 5,
        ..Config::default()
    };
    let server = start(config).await;
    let mut client = connect(server.addr).await;
    for _ in 0..10 {
        client.send_json(&json!({"type":"echo","data":0})).await.unwrap();
    }
    let mut codes = Vec::new();
    let close = loop {
        match client.recv().await.unwrap() {
            Message::Text(text) => {
                let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
                codes.push(reply["code"].as_str().unwrap_or("ok").to_owned());
            }
            Message::Close(frame) => break frame.expect("a close code"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        codes,
        [
            "ok",
            "ok",
            "rate_limited",
            "rate_limited",
            "rate_limited",
            "rate_limited",
            "rate_limited"
        ]
    );
    assert_eq!(close.code, CloseCode::Policy);
    still_serving(server.addr).await;
}

#[tokio::test]
async fn over_the_connection_cap_the_handshake_gets_503_and_others_are_unaffected() {
    let server = start(Config { max_connections: 2, ..Config::default() }).await;
    let mut first = connect(server.addr).await;
    let _second = connect(server.addr).await;
    let refused = TestClient::connect(server.addr).await.expect_err("the third is refused");
    assert!(format!("{refused:#}").contains("503"), "{refused:#}");
    first.send_json(&json!({"type":"echo","data":"fine"})).await.unwrap();
    assert_eq!(first.recv_json().await.unwrap()["data"], "fine");
    // A place frees up when a session ends.
    first.close().await.unwrap();
    eventually("a place is free", || server.app.registry.session_count() == 1).await;
    connect(server.addr).await;
}

#[tokio::test]
async fn a_slow_consumer_is_bounded_and_the_others_still_get_everything() {
    const MESSAGES: usize = 4000;
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let unlimited = 1_000_000.try_into().unwrap();
    let server = start(Config {
        outbound_queue: 16,
        rate_limit: unlimited,
        rate_burst: unlimited,
        ..Config::default()
    })
    .await;
    let mut publisher = connect(server.addr).await;
    let mut reader = connect(server.addr).await;
    let mut sleeper = raw_peer(server.addr).await; // joins, then never reads again
    for client in [&mut publisher, &mut reader] {
        client.send_json(&json!({"type":"join","room":"r"})).await.unwrap();
        client.recv_json().await.unwrap();
    }
    let join = json!({"type":"join","room":"r"}).to_string();
    sleeper.write_all(&raw::client_frame(true, Frame::TEXT, join.as_bytes(), MASK)).await.unwrap();
    eventually("three members", || server.app.registry.members("r").len() == 3).await;

    let reading = tokio::spawn(async move {
        let mut next = 0;
        while next < MESSAGES {
            let message = reader.recv_json().await.unwrap();
            if message["type"] == "message" {
                assert_eq!(message["data"][0], next, "in order, none missing");
                next += 1;
            }
        }
        next
    });
    // 4000 messages of 4 KB: far more than the sleeper's socket buffers and queue can hold.
    let data = "x".repeat(4000);
    for seq in 0..MESSAGES {
        publisher
            .send_json(&json!({"type":"publish","room":"r","data":[seq, data]}))
            .await
            .unwrap();
        assert_eq!(publisher.recv_json().await.unwrap()["type"], "ack");
    }
    assert_eq!(reading.await.unwrap(), MESSAGES, "the reading member got every message");

    // What did not fit in the sleeper's queue was dropped and counted, not buffered: the
    // server holds at most the queue bound for it. With the drop policy it stays a member.
    let dropped = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
        (key.key().name() == "ws_outbound_dropped_total").then_some(value)
    });
    match dropped {
        Some(metrics_util::debugging::DebugValue::Counter(n)) => {
            assert!(n > 0 && n < MESSAGES as u64, "{n}")
        }
        other => panic!("no drop counted: {other:?}"),
    }
    assert_eq!(server.app.registry.members("r").len(), 3);
}

#[tokio::test]
async fn with_the_close_policy_a_slow_consumer_is_closed_with_1013() {
    let server = start(Config {
        outbound_queue: 4,
        slow_consumer: SlowConsumer::Close,
        rate_limit: 100_000.try_into().unwrap(),
        rate_burst: 100_000.try_into().unwrap(),
        ..Config::default()
    })
    .await;
    let mut publisher = connect(server.addr).await;
    let mut sleeper = raw_peer(server.addr).await;
    publisher.send_json(&json!({"type":"join","room":"r"})).await.unwrap();
    publisher.recv_json().await.unwrap();
    let join = json!({"type":"join","room":"r"}).to_string();
    sleeper.write_all(&raw::client_frame(true, Frame::TEXT, join.as_bytes(), MASK)).await.unwrap();
    eventually("two members", || server.app.registry.members("r").len() == 2).await;
    let data = "x".repeat(16 * 1024);
    for _ in 0..4000 {
        publisher.send_json(&json!({"type":"publish","room":"r","data":data})).await.unwrap();
        publisher.recv_json().await.unwrap();
        if server.app.registry.members("r").len() == 1 {
            break;
        }
    }
    eventually("the sleeper was kicked", || server.app.registry.members("r").len() == 1).await;
    // A peer that does not read may never see our Close frame (we give it a second); if it
    // does, the code is 1013. Either way its connection ends.
    match raw::read_until_close(&mut sleeper).await {
        Ok((close, _)) => assert_eq!(close.close_code().map(|(code, _)| code), Some(1013)),
        Err(error) => {
            let error = format!("{error:#}");
            assert!(error.contains("eof") || error.contains("reset"), "{error}");
        }
    }
    still_serving(server.addr).await;
}

#[tokio::test]
async fn shutdown_closes_every_session_with_1001_and_returns_within_the_grace_period() {
    let mut server =
        start(Config { shutdown_grace: Duration::from_secs(2), ..Config::default() }).await;
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(connect(server.addr).await);
    }
    server.stop.take().unwrap().send(()).unwrap();
    for client in &mut clients {
        let frame = client.expect_close().await.unwrap().expect("a close code");
        assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::Away, "server shutdown"));
    }
    tokio::time::timeout(Duration::from_secs(3), server.task)
        .await
        .expect("serve returned")
        .unwrap();
    assert_eq!(server.app.registry.session_count(), 0);
    assert!(TcpStream::connect(server.addr).await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn token_at_the_upgrade_and_origin_allow_list() {
    let server = start(Config {
        auth_tokens: vec!["t0ken".into()],
        auth_at_upgrade: true,
        allowed_origins: vec!["https://chat.example".into()],
        ..Config::default()
    })
    .await;
    let addr = server.addr;
    let refused = TestClient::connect(addr).await.expect_err("no token");
    assert!(format!("{refused:#}").contains("401"), "{refused:#}");
    let refused =
        TestClient::connect_url(&format!("ws://{addr}/?token=wrong")).await.expect_err("bad token");
    assert!(format!("{refused:#}").contains("401"), "{refused:#}");
    assert_eq!(server.app.registry.session_count(), 0);

    // With a good token the session starts authenticated: `join` needs no `auth` message.
    let mut client = TestClient::connect_url(&format!("ws://{addr}/?token=t0ken")).await.unwrap();
    assert_eq!(client.recv_json().await.unwrap()["type"], "welcome");
    client.send_json(&json!({"type":"join","id":"j","room":"r"})).await.unwrap();
    assert_eq!(client.recv_json().await.unwrap()["type"], "ack");

    let upgrade = |origin: &'static str| {
        vec![
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
            ("Authorization", "Bearer t0ken"),
            ("Origin", origin),
        ]
    };
    let response =
        http::request(addr, "GET", "/", &upgrade("https://evil.example"), "").await.unwrap();
    assert_eq!(response.status, 403);
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let mut request = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for (name, value) in upgrade("https://chat.example") {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    socket.write_all(format!("{request}\r\n").as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    socket.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
}

#[tokio::test]
async fn a_client_that_closes_during_a_fan_out_gets_the_answer_to_its_close() {
    let unlimited = 1_000_000.try_into().unwrap();
    let server =
        start(Config { rate_limit: unlimited, rate_burst: unlimited, ..Config::default() }).await;
    let mut publisher = connect(server.addr).await;
    publisher.send_json(&json!({"type":"join","room":"r"})).await.unwrap();
    publisher.recv_json().await.unwrap();
    let join = raw::client_frame(true, Frame::TEXT, br#"{"type":"join","room":"r"}"#, MASK);
    let close = raw::client_frame(true, Frame::CLOSE, &1000u16.to_be_bytes(), MASK);
    let data = "x".repeat(4000);
    // Each round, a member that has not read for a while closes: its socket buffers are full
    // and its queue holds messages. The session must answer the Close before anything else: a
    // queued message written after the peer's Close fails, and the member would see the
    // connection dropped without an answer.
    for round in 0..10 {
        let mut member = raw_peer(server.addr).await;
        member.write_all(&join).await.unwrap();
        eventually("joined", || server.app.registry.members("r").len() == 2).await;
        for seq in 0..1500 {
            publisher
                .send_json(&json!({"type":"publish","room":"r","data":[seq, data]}))
                .await
                .unwrap();
            assert_eq!(publisher.recv_json().await.unwrap()["type"], "ack");
        }
        member.write_all(&close).await.unwrap();
        let (answer, _) = raw::read_until_close(&mut member)
            .await
            .unwrap_or_else(|error| panic!("round {round}: no answer to the Close: {error}"));
        assert_eq!(answer.close_code().map(|(code, _)| code), Some(1000), "round {round}");
        eventually("left", || server.app.registry.members("r").len() == 1).await;
    }
}

/// Out of file descriptors, `accept` fails with `EMFILE` until one is freed. The accept loop
/// must back off (10 ms, doubling, up to a second) instead of spinning on the listener, and
/// serve again once descriptors are free. The server runs as a process of its own, with a
/// limit of 64 open files set by the shell, so that this test process keeps its own limit.
#[tokio::test]
async fn out_of_file_descriptors_the_accept_loop_backs_off_and_recovers() {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut server = tokio::process::Command::new("sh")
        .args(["-c", r#"ulimit -n 64 && exec "$0" "$@""#])
        .arg(BIN)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        // Long enough that no connection is closed for its silence during the test.
        .args(["--handshake-timeout", "60s"])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let mut log = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        let line = tokio::time::timeout(Duration::from_secs(10), log.next_line()).await;
        line.expect("a log line within 10 s").unwrap().expect("the server is running")
    };
    let addr: SocketAddr = loop {
        let line = next_line().await;
        if line.contains("listening on") {
            break line.rsplit("addr=").next().unwrap().parse().unwrap();
        }
    };

    // More connections than descriptors: the first ~50 are accepted and wait for their
    // upgrade request; the others wait in the accept queue.
    let mut silent = Vec::new();
    for _ in 0..80 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut backoffs = Vec::new();
    while backoffs.len() < 8 {
        let line = next_line().await;
        if line.contains("accept failed") {
            assert!(line.contains("Too many open files"), "{line}");
            let backoff = line.rsplit("backoff_ms=").next().unwrap().parse::<u64>().unwrap();
            backoffs.push(backoff);
        }
    }
    assert_eq!(backoffs, [10, 20, 40, 80, 160, 320, 640, 1000], "one line per back-off step");

    // Descriptors free again: a new client is served.
    drop(silent);
    let welcome = tokio::time::timeout(Duration::from_secs(10), async {
        let mut client = TestClient::connect(addr).await.unwrap();
        client.recv_json().await.unwrap()
    })
    .await
    .expect("served within 10 s of the descriptors coming back");
    assert_eq!(welcome["type"], "welcome");
    assert!(server.try_wait().unwrap().is_none(), "the server is still running");
}
