//! Metrics of a scripted session, through a test recorder, and a real Prometheus scrape.
//!
//! Each test installs its recorder for its own thread only (`set_default_local_recorder`);
//! the server runs on the same current-thread runtime, so it records into that recorder.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;
use test_support::{capture::eventually, client::TestClient, http};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tracing_subscriber::EnvFilter;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch09_scale_out as chapter;
use chapter::{
    Config,
    admin::{self, Admin},
    app::App,
    metrics::{self as names, prometheus_recorder},
};

async fn start() -> (SocketAddr, Arc<App>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new(Config::default());
    tokio::spawn(chapter::serve(listener, Arc::clone(&app), std::future::pending()));
    (addr, app)
}

async fn connect(addr: SocketAddr) -> TestClient {
    let mut client = TestClient::connect(addr).await.unwrap();
    assert_eq!(client.recv_json().await.unwrap()["type"], "welcome");
    client
}

/// The snapshot as `name{label=value,...}` -> value, labels sorted.
fn series(recorder: &metrics_util::debugging::Snapshotter) -> HashMap<String, DebugValue> {
    recorder
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> =
                key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            labels.sort();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            (name, value)
        })
        .collect()
}

fn counter(series: &HashMap<String, DebugValue>, name: &str) -> u64 {
    match series.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => {
            panic!("{name}: expected a counter, found {other:?}\nall series: {:#?}", series.keys())
        }
    }
}

fn gauge(series: &HashMap<String, DebugValue>, name: &str) -> f64 {
    match series.get(name) {
        Some(DebugValue::Gauge(value)) => value.into_inner(),
        other => panic!("{name}: expected a gauge, found {other:?}"),
    }
}

fn samples(series: &HashMap<String, DebugValue>, name: &str) -> usize {
    match series.get(name) {
        Some(DebugValue::Histogram(values)) => values.len(),
        other => panic!("{name}: expected a histogram, found {other:?}"),
    }
}

#[tokio::test]
async fn a_scripted_session_is_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let (addr, app) = start().await;

    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;
    for client in [&mut alice, &mut bob] {
        client.send_json(&json!({"type":"join","room":"r"})).await.unwrap();
        assert_eq!(client.recv_json().await.unwrap()["type"], "ack");
    }
    alice.send_json(&json!({"type":"publish","room":"r","data":"hi"})).await.unwrap();
    assert_eq!(alice.recv_json().await.unwrap()["type"], "ack");
    assert_eq!(bob.recv_json().await.unwrap()["type"], "message");
    alice.send_text("{bad").await.unwrap();
    assert_eq!(alice.recv_json().await.unwrap()["code"], "invalid_json");
    alice.send_json(&json!({"type":"made-up"})).await.unwrap();
    assert_eq!(alice.recv_json().await.unwrap()["code"], "unknown_type");
    bob.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(bob.recv_json().await.unwrap()["code"], "unsupported_frame");
    bob.close().await.unwrap();
    eventually("bob gone", || app.registry.session_count() == 1).await;

    let s = series(&snapshotter);
    assert_eq!(counter(&s, names::CONNECTIONS_OPENED), 2);
    assert_eq!(counter(&s, "ws_connections_closed_total{reason=client_close}"), 1);
    assert_eq!(counter(&s, "ws_messages_received_total{type=join}"), 2);
    assert_eq!(counter(&s, "ws_messages_received_total{type=publish}"), 1);
    assert_eq!(counter(&s, "ws_messages_received_total{type=invalid}"), 1);
    assert_eq!(counter(&s, "ws_messages_received_total{type=binary}"), 1);
    // A type the client made up is not a label of its own.
    assert_eq!(counter(&s, "ws_messages_received_total{type=unknown}"), 1);
    assert!(!s.keys().any(|name| name.contains("made-up")));
    assert_eq!(counter(&s, "ws_errors_total{code=invalid_json}"), 1);
    assert_eq!(counter(&s, "ws_errors_total{code=unknown_type}"), 1);
    assert_eq!(counter(&s, "ws_errors_total{code=unsupported_frame}"), 1);
    assert_eq!(counter(&s, "ws_messages_sent_total{type=welcome}"), 2);
    assert_eq!(counter(&s, "ws_messages_sent_total{type=ack}"), 3);
    assert_eq!(counter(&s, "ws_messages_sent_total{type=message}"), 1);
    assert_eq!(gauge(&s, names::SESSIONS_ACTIVE), 1.0);
    assert_eq!(gauge(&s, names::ROOMS_ACTIVE), 1.0);
    assert_eq!(samples(&s, "ws_handler_duration_seconds{type=join}"), 2);
    assert_eq!(samples(&s, names::SESSION_DURATION), 1);
    assert_eq!(samples(&s, "ws_message_size_bytes{direction=in}"), 6);

    drop(alice.into_inner());
    eventually("alice gone", || app.registry.session_count() == 0).await;
    let s = series(&snapshotter);
    assert_eq!(gauge(&s, names::SESSIONS_ACTIVE), 0.0);
    assert_eq!(gauge(&s, names::ROOMS_ACTIVE), 0.0);
    assert_eq!(counter(&s, "ws_connections_closed_total{reason=io_error}"), 1);
}

#[tokio::test]
async fn a_real_scrape_is_valid_prometheus_text_with_the_expected_series() {
    let recorder = prometheus_recorder();
    let registry = recorder.registry().clone();
    let _local = metrics::set_default_local_recorder(&recorder);
    names::describe();
    let (addr, app) = start().await;
    let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin_listener.local_addr().unwrap();
    let (_layer, log) = shared::logging::reloadable(EnvFilter::new("info"));
    let admin = Admin { app: Arc::clone(&app), metrics: registry, log, public_addr: addr };
    tokio::spawn(admin::serve(admin_listener, admin, std::future::pending()));

    let mut client = connect(addr).await;
    client.send_json(&json!({"type":"join","room":"r"})).await.unwrap();
    client.recv_json().await.unwrap();

    let response = http::get(admin_addr, "/metrics").await.unwrap();
    assert_eq!(response.status, 200);
    assert!(response.head.to_lowercase().contains("content-type: text/plain; version=0.0.4"));
    let lines = response.body.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition text");

    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|sample| {
                sample.metric == name && label.is_none_or(|(k, v)| sample.labels.get(k) == Some(v))
            })
            .map(|sample| sample.value.clone())
            .unwrap_or_else(|| panic!("no sample {name} {label:?} in\n{}", response.body))
    };
    use prometheus_parse::Value;
    assert_eq!(value(names::CONNECTIONS_OPENED, None), Value::Counter(1.0));
    assert_eq!(value(names::MESSAGES_RECEIVED, Some(("type", "join"))), Value::Counter(1.0));
    assert_eq!(value(names::SESSIONS_ACTIVE, None), Value::Gauge(1.0));
    match value(names::HANDLER_DURATION, Some(("type", "join"))) {
        Value::Histogram(buckets) => assert!(buckets.iter().any(|bucket| bucket.count == 1.0)),
        other => panic!("not a histogram: {other:?}"),
    }
    assert!(scrape.docs.contains_key(names::CONNECTIONS_OPENED), "HELP lines are present");
    // The cluster's series are registered with every other series, so a single node has them
    // too, at zero, each with its HELP text.
    for name in
        [names::CLUSTER_UP, names::CLUSTER_RECONNECTS, names::CLUSTER_MESSAGES, names::CLUSTER_LOST]
    {
        let help = scrape.docs.get(name).unwrap_or_else(|| panic!("no HELP for {name}"));
        assert_ne!(help, name, "{name} has its own HELP text, not its name");
    }
    assert_eq!(value(names::CLUSTER_UP, None), Value::Gauge(0.0));
    assert_eq!(value(names::CLUSTER_RECONNECTS, None), Value::Counter(0.0));
    assert_eq!(value(names::CLUSTER_MESSAGES, Some(("direction", "in"))), Value::Counter(0.0));
    assert_eq!(value(names::CLUSTER_MESSAGES, Some(("direction", "out"))), Value::Counter(0.0));
    assert_eq!(value(names::CLUSTER_LOST, None), Value::Counter(0.0));

    let health = http::get(admin_addr, "/healthz").await.unwrap();
    assert_eq!(health.status, 200);
    let health: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "cluster": "off", "node": 0, "sessions": 1, "rooms": 1})
    );
}
