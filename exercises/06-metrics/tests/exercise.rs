//! Provided tests for exercise 06: run them with `cargo test -p ex06-metrics`.
//!
//! Each test starts a real chapter 06 server whose chain holds your link, talks to it over
//! WebSocket, and reads what your link recorded: the metrics through a test recorder, the event
//! through a log capture.
//!
//! Both are installed for the test's own thread only (`set_default_local_recorder`,
//! `capture`). A `#[tokio::test]` runs on a current-thread runtime, so the server spawned on it
//! records into them, and tests running in parallel do not see each other's numbers.

use std::{collections::HashMap, net::SocketAddr};

use ch06_instrumentation::{
    Config,
    app::App,
    chain::{Chain, Router},
    handlers, middleware,
};
use ex06_metrics::{ClassifyAuth, MESSAGES_BY_AUTH};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::{Value, json};
use test_support::{capture, client::TestClient};
use tokio::net::TcpListener;

/// The token that authenticates a session.
const TOKEN: &str = "let-me-in";

/// What every test captures: the chapter's DEBUG lines (the spans of the links) and yours.
///
/// Every test captures, even those that do not read the logs: `tracing` decides once per log
/// statement, for the whole process, whether any subscriber wants it. A test thread with no
/// subscriber could make that decision "no" for the tests that do read their logs.
const LOGS: &str = "ch06_instrumentation=debug,ex06_metrics=debug";

/// A server that requires authentication for everything but `echo`, with your link second:
/// `lifecycle -> classify_auth -> auth -> validate -> router`.
async fn start() -> SocketAddr {
    let config = Config { auth_tokens: vec![TOKEN.into()], ..Config::default() };
    let router = Router::new()
        .route(handlers::Echo)
        .route(handlers::Authenticate::with_tokens(config.auth_tokens.clone()))
        .route(handlers::Join)
        .route(handlers::Publish);
    let chain = Chain::new(router)
        .with(middleware::Lifecycle)
        .with(ClassifyAuth)
        .with(middleware::RequireAuth::allowing(["echo"]))
        .with(middleware::Validate);
    let app = App::with_chain(config, chain);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ch06_instrumentation::serve(listener, app, std::future::pending()));
    addr
}

async fn connect(addr: SocketAddr) -> TestClient {
    let mut client = TestClient::connect(addr).await.unwrap();
    let welcome = client.recv_json().await.unwrap();
    assert_eq!(welcome["type"], "welcome");
    client
}

async fn request(client: &mut TestClient, message: Value) -> Value {
    client.send_json(&message).await.unwrap();
    client.recv_json().await.unwrap()
}

fn code(reply: &Value) -> &str {
    reply["code"].as_str().unwrap_or("(no code)")
}

/// Every series of your counter: its labels and its count.
type Series = Vec<(HashMap<String, String>, u64)>;

/// Reads your counter's series. A snapshot of the `DebuggingRecorder` *drains* it (counters
/// start again from 0), so take one snapshot per check and ask it everything.
fn series(snapshotter: &Snapshotter) -> Series {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == MESSAGES_BY_AUTH)
        .map(|(key, _, _, value)| {
            let labels = key
                .key()
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            match value {
                DebugValue::Counter(count) => (labels, count),
                other => panic!("{MESSAGES_BY_AUTH} must be a counter, found {other:?}"),
            }
        })
        .collect()
}

/// The count of one series; 0 when nothing was recorded under exactly those labels.
fn count(series: &Series, auth: &str, msg_type: &str, outcome: &str) -> u64 {
    let wanted: HashMap<String, String> =
        [("auth", auth), ("type", msg_type), ("outcome", outcome)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    series.iter().find(|(labels, _)| *labels == wanted).map_or(0, |(_, count)| *count)
}

/// Every series as `name{labels} count`, for assertion messages.
fn dump(series: &Series) -> String {
    let mut lines: Vec<String> = series
        .iter()
        .map(|(labels, count)| {
            let mut labels: Vec<_> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            format!("{MESSAGES_BY_AUTH}{{{}}} {count}", labels.join(","))
        })
        .collect();
    lines.sort();
    if lines.is_empty() {
        return format!("(no {MESSAGES_BY_AUTH} series at all)");
    }
    lines.join("\n")
}

/// `line` has the field `name` with `value`, quoted (`auth="anonymous"`) or not.
fn has_field(line: &str, name: &str, value: &str) -> bool {
    line.contains(&format!("{name}={value}")) || line.contains(&format!("{name}=\"{value}\""))
}

#[tokio::test]
async fn the_link_passes_every_message_on_unchanged() {
    let (_guard, _logs) = capture::capture(LOGS);
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut client = connect(start().await).await;

    let reply = request(&mut client, json!({"type":"echo","id":"e1","data":"hi"})).await;
    assert_eq!(
        (reply["type"].as_str(), reply["data"].as_str(), code(&reply)),
        (Some("echo"), Some("hi"), "(no code)"),
        "{reply}"
    );
    // Refused further down the chain: your link passes the refusal back as it is.
    let reply = request(&mut client, json!({"type":"join","id":"j1","room":"lobby"})).await;
    assert_eq!((code(&reply), reply["id"].as_str()), ("unauthenticated", Some("j1")), "{reply}");
    let reply = request(&mut client, json!({"type":"auth","token":TOKEN})).await;
    assert_eq!(reply["type"], "ack", "{reply}");
    let reply = request(&mut client, json!({"type":"join","id":"j2","room":"lobby"})).await;
    assert_eq!(
        (reply["type"].as_str(), reply["id"].as_str()),
        (Some("ack"), Some("j2")),
        "{reply}"
    );
}

#[tokio::test]
async fn an_anonymous_sessions_messages_are_counted_as_anonymous() {
    let (_guard, _logs) = capture::capture(LOGS);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut client = connect(start().await).await;

    for n in 0..2 {
        let reply = request(&mut client, json!({"type":"echo","data":n})).await;
        assert_eq!(reply["type"], "echo", "{reply}");
    }
    let reply = request(&mut client, json!({"type":"join","room":"lobby"})).await;
    assert_eq!(code(&reply), "unauthenticated", "{reply}");

    // The counter is incremented before the reply is sent, so it is there already.
    let s = series(&snapshotter);
    let all = dump(&s);
    assert_eq!(count(&s, "anonymous", "echo", "ok"), 2, "two echoes, both answered:\n{all}");
    assert_eq!(
        count(&s, "anonymous", "join", "rejected"),
        1,
        "one join, refused by the auth link after yours:\n{all}"
    );
    assert_eq!(s.len(), 2, "nothing else:\n{all}");
}

#[tokio::test]
async fn the_auth_message_is_counted_by_the_state_it_arrived_in() {
    let (_guard, _logs) = capture::capture(LOGS);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut client = connect(start().await).await;

    let reply = request(&mut client, json!({"type":"auth","token":"wrong"})).await;
    assert_eq!(code(&reply), "unauthorized", "{reply}");
    let reply = request(&mut client, json!({"type":"auth","token":TOKEN})).await;
    assert_eq!(reply["type"], "ack", "{reply}");
    request(&mut client, json!({"type":"echo","data":1})).await;
    request(&mut client, json!({"type":"join","room":"lobby"})).await;
    request(&mut client, json!({"type":"publish","room":"elsewhere","data":1})).await;

    let s = series(&snapshotter);
    let all = dump(&s);
    let expected = [
        (("anonymous", "auth", "rejected"), 1),
        // The session was anonymous when this `auth` arrived: only its handler changed that.
        (("anonymous", "auth", "ok"), 1),
        (("authenticated", "echo", "ok"), 1),
        (("authenticated", "join", "ok"), 1),
        (("authenticated", "publish", "rejected"), 1),
    ];
    for ((auth, msg_type, outcome), n) in expected {
        assert_eq!(
            count(&s, auth, msg_type, outcome),
            n,
            "auth={auth}, type={msg_type}, outcome={outcome}:\n{all}"
        );
    }
    assert_eq!(
        count(&s, "authenticated", "auth", "ok"),
        0,
        "note who is asking *before* passing the message on:\n{all}"
    );
    assert_eq!(s.len(), expected.len(), "{all}");
}

#[tokio::test]
async fn a_made_up_type_is_counted_as_unknown() {
    let (_guard, _logs) = capture::capture(LOGS);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut client = connect(start().await).await;

    for made_up in ["dance", "x-7f3a9c", "dance"] {
        let reply = request(&mut client, json!({"type":made_up})).await;
        // The auth link refuses it before the router could say `unknown_type`.
        assert_eq!(code(&reply), "unauthenticated", "{reply}");
    }

    let s = series(&snapshotter);
    let all = dump(&s);
    assert_eq!(
        count(&s, "anonymous", "unknown", "rejected"),
        3,
        "three made-up types, one series:\n{all}"
    );
    // Every label value comes from a closed set: a client cannot create a series.
    for (labels, _) in &s {
        let closed: [(&str, &[&str]); 3] = [
            ("auth", &["anonymous", "authenticated"]),
            ("type", &["echo", "auth", "join", "publish", "unknown"]),
            ("outcome", &["ok", "rejected"]),
        ];
        assert_eq!(labels.len(), closed.len(), "labels {labels:?}");
        for (name, values) in closed {
            let value = labels.get(name).map(String::as_str).unwrap_or("(missing)");
            assert!(
                values.contains(&value),
                "label {name}={value} is not one of {values:?}:\n{all}"
            );
        }
    }
}

#[tokio::test]
async fn each_message_logs_one_debug_event_with_its_trace_id() {
    let (_guard, logs) = capture::capture(LOGS);
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut client = connect(start().await).await;

    let reply = request(&mut client, json!({"type":"echo","data":"hi"})).await;
    let trace = reply["trace"].as_str().expect("a trace id in the reply");
    let needle = format!("trace={trace}");
    let line = logs.wait_for(&["message classified", &needle]).await;
    assert!(line.contains("DEBUG"), "a routine event is DEBUG: {line}");
    assert!(
        line.contains("link{name=\"classify_auth\"}"),
        "logged by your link, inside its span: {line}"
    );
    for (name, value) in [("auth", "anonymous"), ("msg_type", "echo"), ("outcome", "ok")] {
        assert!(has_field(&line, name, value), "no {name}={value}: {line}");
    }

    let reply = request(&mut client, json!({"type":"join","room":"lobby"})).await;
    let trace = reply["trace"].as_str().expect("a trace id in the reply");
    let needle = format!("trace={trace}");
    let line = logs.wait_for(&["message classified", &needle]).await;
    for (name, value) in [("auth", "anonymous"), ("msg_type", "join"), ("outcome", "rejected")] {
        assert!(has_field(&line, name, value), "no {name}={value}: {line}");
    }
    // One event per message, not one per link or per attempt.
    assert_eq!(logs.lines_with(&["message classified"]).len(), 2, "{}", logs.contents());
}
