//! Several nodes, one room space: real nodes in this process, a real `redis-server` per test.
//!
//! Ignored by default (they need the `redis-server` binary); `.ci/run` installs Redis and runs
//! them with `cargo test -p ch09-scale-out --test cluster -- --ignored`.

use std::{net::SocketAddr, process::Command, sync::Arc};

use serde_json::{Value, json};
use test_support::{capture::eventually, client::TestClient, helper_process::HelperProcess};
use tokio::net::TcpListener;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch09_scale_out as chapter;
use chapter::{Config, app::App};

/// A `redis-server` of this test's own, on a free loopback port, killed when dropped (even if
/// the test fails).
struct Redis(HelperProcess);

/// `redis-server` on `port`, keeping nothing on disk.
fn redis_server(port: u16) -> Command {
    let mut command = Command::new("redis-server");
    command.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
    command.args(["--save", "", "--appendonly", "no"]);
    command
}

impl Redis {
    fn start() -> Self {
        Self(HelperProcess::start(redis_server))
    }

    /// On `port`: a restart on the port the nodes know.
    fn start_on(port: u16) -> Self {
        Self(HelperProcess::start_on(port, redis_server))
    }

    fn port(&self) -> u16 {
        self.0.port
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port())
    }

    fn stop(&mut self) {
        self.0.stop();
    }
}

struct Node {
    addr: SocketAddr,
    app: Arc<App>,
    task: tokio::task::JoinHandle<()>,
}

async fn node(id: u16, redis: &Redis) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let unlimited = 1_000_000.try_into().unwrap();
    let config = Config {
        redis_url: Some(redis.url()),
        node_id: id,
        rate_limit: unlimited,
        rate_burst: unlimited,
        ..Config::default()
    };
    let app = App::new(config);
    let task = tokio::spawn(chapter::serve(listener, Arc::clone(&app), std::future::pending()));
    let link = app.cluster.clone().unwrap();
    eventually("node joined the cluster", || link.is_up()).await;
    Node { addr, app, task }
}

/// Connects, reads the welcome and joins `room`; returns the client and its session id.
async fn member(node: &Node, room: &str) -> (TestClient, String) {
    let mut client = TestClient::connect(node.addr).await.unwrap();
    let id = client.recv_json().await.unwrap()["session"].as_str().unwrap().to_owned();
    client.send_json(&json!({"type":"join","id":"j","room":room})).await.unwrap();
    assert_eq!(client.recv_json().await.unwrap()["type"], "ack");
    (client, id)
}

async fn request(client: &mut TestClient, message: Value) -> Value {
    client.send_json(&message).await.unwrap();
    client.recv_json().await.unwrap()
}

/// The `data` of the next `count` room messages.
async fn messages(client: &mut TestClient, count: usize) -> Vec<Value> {
    let mut data = Vec::new();
    while data.len() < count {
        let message = client.recv_json().await.unwrap();
        assert_eq!(message["type"], "message", "{message}");
        data.push(message["data"].clone());
    }
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server; run by .ci/run"]
async fn a_publish_reaches_every_member_on_every_node_exactly_once() {
    let redis = Redis::start();
    let nodes = [node(1, &redis).await, node(2, &redis).await, node(3, &redis).await];
    let (mut sender, sender_id) = member(&nodes[0], "r").await;
    let (mut neighbour, _) = member(&nodes[0], "r").await;
    let (mut far, _) = member(&nodes[1], "r").await;
    let (mut farther, _) = member(&nodes[2], "r").await;
    let (mut elsewhere, _) = member(&nodes[2], "other room").await;

    for seq in 0..20 {
        let ack = request(&mut sender, json!({"type":"publish","room":"r","data":seq})).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let expected: Vec<Value> = (0..20).map(Value::from).collect();
    for client in [&mut neighbour, &mut far, &mut farther] {
        assert_eq!(messages(client, 20).await, expected, "every message once, in order");
    }
    // Nothing came back to the sender, nothing went to another room, nothing arrived twice.
    for client in [&mut sender, &mut elsewhere, &mut far] {
        let echo = request(client, json!({"type":"echo","data":"probe"})).await;
        assert_eq!(echo["type"], "echo", "an unexpected message: {echo}");
    }
    assert_eq!(sender_id.parse::<u64>().unwrap() >> 48, 1, "the session id names its node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server; run by .ci/run"]
async fn a_direct_message_reaches_a_session_on_another_node_or_bounces() {
    let redis = Redis::start();
    let (one, two) = (node(1, &redis).await, node(2, &redis).await);
    let (mut alice, alice_id) = member(&one, "r").await;
    let (mut bob, bob_id) = member(&two, "r").await;

    let ack = request(&mut alice, json!({"type":"direct","to":bob_id,"data":"psst"})).await;
    assert_eq!(ack["type"], "ack");
    let direct = bob.recv_json().await.unwrap();
    assert_eq!(
        (direct["type"].as_str(), direct["from"].as_str()),
        (Some("direct"), Some(alice_id.as_str()))
    );
    assert_eq!(direct["trace"], ack["trace"], "the trace id crosses nodes");

    // Bob leaves; a direct message to him is forwarded, and comes back as an error.
    bob.close().await.unwrap();
    eventually("bob gone", || two.app.registry.session_count() == 0).await;
    let ack = request(&mut alice, json!({"type":"direct","to":bob_id,"data":"psst"})).await;
    let bounce = alice.recv_json().await.unwrap();
    assert_eq!(
        (bounce["code"].as_str(), &bounce["trace"]),
        (Some("no_such_session"), &ack["trace"])
    );

    // A node that does not exist takes nothing: the same error.
    let nowhere = (9u64 << 48 | 1).to_string();
    let ack = request(&mut alice, json!({"type":"direct","to":nowhere,"data":"psst"})).await;
    let bounce = alice.recv_json().await.unwrap();
    assert_eq!(
        (bounce["code"].as_str(), &bounce["trace"]),
        (Some("no_such_session"), &ack["trace"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server; run by .ci/run"]
async fn a_node_that_stops_mid_traffic_costs_the_others_nothing() {
    let redis = Redis::start();
    let nodes = [node(1, &redis).await, node(2, &redis).await, node(3, &redis).await];
    let (mut sender, _) = member(&nodes[0], "r").await;
    let (mut listener, _) = member(&nodes[1], "r").await;
    let (_doomed, _) = member(&nodes[2], "r").await;

    for seq in 0..100 {
        if seq == 50 {
            // Node 3 goes away, sessions and all.
            nodes[2].app.shutdown.cancel();
            nodes[2].task.abort();
        }
        let ack = request(&mut sender, json!({"type":"publish","room":"r","data":seq})).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let expected: Vec<Value> = (0..100).map(Value::from).collect();
    assert_eq!(messages(&mut listener, 100).await, expected, "node 2 missed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server; run by .ci/run"]
async fn when_redis_restarts_publishes_are_refused_then_flow_again() {
    let mut redis = Redis::start();
    let (one, two) = (node(1, &redis).await, node(2, &redis).await);
    let (mut sender, _) = member(&one, "r").await;
    let (mut listener, _) = member(&two, "r").await;
    assert_eq!(
        request(&mut sender, json!({"type":"publish","room":"r","data":"before"})).await["type"],
        "ack"
    );
    assert_eq!(messages(&mut listener, 1).await, [json!("before")]);

    redis.stop();
    let link = one.app.cluster.clone().unwrap();
    eventually("node 1 noticed", || !link.is_up()).await;
    let refused =
        request(&mut sender, json!({"type":"publish","id":"p","room":"r","data":"during"})).await;
    assert_eq!(
        (refused["code"].as_str(), refused["id"].as_str()),
        (Some("unavailable"), Some("p"))
    );

    let _redis = Redis::start_on(redis.port());
    let (link_one, link_two) = (link, two.app.cluster.clone().unwrap());
    eventually("both nodes reconnected", || link_one.is_up() && link_two.is_up()).await;
    assert_eq!(
        request(&mut sender, json!({"type":"publish","room":"r","data":"after"})).await["type"],
        "ack"
    );
    assert_eq!(
        messages(&mut listener, 1).await,
        [json!("after")],
        "nothing published during the outage arrives"
    );
}

#[tokio::test]
async fn without_redis_a_node_runs_alone() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new(Config::default());
    assert!(app.cluster.is_none());
    tokio::spawn(chapter::serve(listener, Arc::clone(&app), std::future::pending()));
    let (mut alice, _) =
        member(&Node { addr, app: Arc::clone(&app), task: tokio::spawn(async {}) }, "r").await;
    let (mut bob, _) = member(&Node { addr, app, task: tokio::spawn(async {}) }, "r").await;
    assert_eq!(
        request(&mut alice, json!({"type":"publish","room":"r","data":1})).await["type"],
        "ack"
    );
    assert_eq!(messages(&mut bob, 1).await, [json!(1)]);
}
