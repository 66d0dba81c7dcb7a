//! Chapter 03 against a real server on 127.0.0.1:0 and real WebSocket clients.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use serde_json::{Value, json};
use test_support::{capture::eventually, client::TestClient};
use tokio::net::TcpListener;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch09_scale_out as chapter;
use chapter::{Config, Registry, app::App};

async fn start() -> (SocketAddr, Arc<Registry>) {
    start_with(Config::default()).await
}

async fn start_with(config: Config) -> (SocketAddr, Arc<Registry>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new(config);
    let registry = Arc::clone(&app.registry);
    tokio::spawn(chapter::serve(listener, app, std::future::pending()));
    (addr, registry)
}

/// Connects and reads the welcome; returns the client and its session id.
async fn connect(addr: SocketAddr) -> (TestClient, String) {
    let mut client = TestClient::connect(addr).await.unwrap();
    let welcome = client.recv_json().await.unwrap();
    assert_eq!(welcome["type"], "welcome");
    let id = welcome["session"].as_str().expect("welcome carries the session id").to_owned();
    (client, id)
}

async fn request(client: &mut TestClient, message: Value) -> Value {
    client.send_json(&message).await.unwrap();
    client.recv_json().await.unwrap()
}

async fn join(client: &mut TestClient, room: &str) {
    let reply = request(client, json!({"type":"join","id":"j","room":room})).await;
    assert_eq!((reply["type"].as_str(), reply["id"].as_str()), (Some("ack"), Some("j")), "{reply}");
    assert!(reply["trace"].is_string(), "every reply carries its trace id: {reply}");
}

#[tokio::test]
async fn every_session_is_welcomed_with_its_own_id() {
    let (addr, registry) = start().await;
    let (_a, a) = connect(addr).await;
    let (_b, b) = connect(addr).await;
    assert_ne!(a, b);
    assert_eq!(registry.session_count(), 2);
}

#[tokio::test]
async fn every_publish_reaches_each_other_member_once_and_in_order() {
    const MEMBERS: usize = 5;
    const PER_SENDER: usize = 20;
    let (addr, _registry) = start().await;
    let mut clients = Vec::new();
    for _ in 0..MEMBERS {
        let (mut client, id) = connect(addr).await;
        join(&mut client, "lobby").await;
        clients.push((client, id));
    }
    // Everyone publishes without waiting, so messages from different senders interleave.
    for (client, _) in &mut clients {
        for seq in 0..PER_SENDER {
            client
                .send_json(
                    &json!({"type":"publish","id":format!("p{seq}"),"room":"lobby","data":seq}),
                )
                .await
                .unwrap();
        }
    }
    for (client, me) in &mut clients {
        let (mut acks, mut next_from) = (0, HashMap::<String, u64>::new());
        while acks < PER_SENDER
            || next_from.values().sum::<u64>() < ((MEMBERS - 1) * PER_SENDER) as u64
        {
            let message = client.recv_json().await.unwrap();
            match message["type"].as_str().unwrap() {
                "ack" => acks += 1,
                "message" => {
                    let from = message["from"].as_str().unwrap().to_owned();
                    assert_ne!(&from, me, "a publish must not come back to its sender");
                    assert_eq!(message["room"], "lobby");
                    let expected = next_from.entry(from).or_default();
                    assert_eq!(message["data"], *expected, "out of order or duplicated");
                    *expected += 1;
                }
                other => panic!("unexpected {other}: {message}"),
            }
        }
        assert_eq!(next_from.len(), MEMBERS - 1);
        assert!(next_from.values().all(|&n| n == PER_SENDER as u64));
    }
}

#[tokio::test]
async fn publish_outside_a_room_is_not_in_room_and_from_cannot_be_forged() {
    let (addr, _registry) = start().await;
    let (mut client, _) = connect(addr).await;
    let reply =
        request(&mut client, json!({"type":"publish","id":"3","room":"lobby","data":1})).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str(), reply["id"].as_str()),
        (Some("error"), Some("not_in_room"), Some("3"))
    );
    join(&mut client, "lobby").await;
    let reply =
        request(&mut client, json!({"type":"publish","id":"4","room":"lobby","from":"1","data":1}))
            .await;
    assert_eq!(reply["code"], "bad_request");
}

#[tokio::test]
async fn direct_reaches_one_session_and_a_gone_session_is_an_error() {
    let (addr, registry) = start().await;
    let (mut alice, alice_id) = connect(addr).await;
    let (mut bob, bob_id) = connect(addr).await;
    let reply =
        request(&mut alice, json!({"type":"direct","id":"d1","to":bob_id,"data":"psst"})).await;
    let trace = reply["trace"].clone();
    assert_eq!(reply, json!({"type":"ack","id":"d1","trace":trace}));
    // The push carries the trace of the message that caused it.
    assert_eq!(
        bob.recv_json().await.unwrap(),
        json!({"type":"direct","from":alice_id,"data":"psst","trace":trace})
    );

    bob.close().await.unwrap();
    eventually("bob unregistered", || registry.session_count() == 1).await;
    let reply =
        request(&mut alice, json!({"type":"direct","id":"d2","to":bob_id,"data":"psst"})).await;
    assert_eq!(
        (reply["code"].as_str(), reply["id"].as_str()),
        (Some("no_such_session"), Some("d2"))
    );
}

#[tokio::test]
async fn clean_and_abrupt_disconnects_leave_the_registry_and_every_room() {
    let (addr, registry) = start().await;
    let (mut stays, _) = connect(addr).await;
    let (mut clean, _) = connect(addr).await;
    let (mut abrupt, _) = connect(addr).await;
    for client in [&mut stays, &mut clean, &mut abrupt] {
        join(client, "a").await;
    }
    join(&mut clean, "b").await;
    join(&mut abrupt, "c").await;
    assert_eq!((registry.session_count(), registry.room_count()), (3, 3));

    clean.close().await.unwrap();
    drop(abrupt.into_inner()); // TCP close without a Close frame
    eventually("both gone", || registry.session_count() == 1).await;
    assert_eq!(registry.room_count(), 1, "rooms b and c had no one left");
    assert_eq!(registry.members("a").len(), 1);

    drop(stays);
    eventually("registry empty", || registry.session_count() == 0 && registry.room_count() == 0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_join_leave_publish_and_disconnect_end_with_an_empty_registry() {
    const CLIENTS: usize = 40;
    let (addr, registry) = start().await;
    let rooms = ["r0", "r1", "r2"];
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        tasks.push(tokio::spawn(async move {
            let (mut client, _) = connect(addr).await;
            for round in 0..10 {
                let room = rooms[(n + round) % rooms.len()];
                client.send_json(&json!({"type":"join","room":room})).await.unwrap();
                client
                    .send_json(&json!({"type":"publish","room":room,"data":[n, round]}))
                    .await
                    .unwrap();
                if round % 3 == 0 {
                    client.send_json(&json!({"type":"leave","room":room})).await.unwrap();
                }
            }
            // Half leave politely, half vanish mid-conversation.
            if n % 2 == 0 {
                client.close().await.ok();
            } else {
                drop(client.into_inner());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    eventually("registry empty", || registry.session_count() == 0 && registry.room_count() == 0)
        .await;
}

/// The session's `select!` polls its branches in a random order, tokio's default. With
/// `biased;` and the socket first (tried in chapter 08, and no faster), a client that never
/// stopped sending kept its session reading, and this push waited for the whole flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_stops_sending_still_gets_what_others_send_it() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    const FLOOD: usize = 100_000;
    // The flood is the point here: no rate limit.
    let (addr, _registry) = start_with(Config {
        rate_limit: u32::MAX.try_into().unwrap(),
        rate_burst: u32::MAX.try_into().unwrap(),
        ..Config::default()
    })
    .await;
    let (mut flooder, _) = connect(addr).await;
    join(&mut flooder, "r").await;
    let (mut publisher, _) = connect(addr).await;
    join(&mut publisher, "r").await;

    // Split, so that the flood is written while the replies are read.
    let (mut sink, mut stream) = flooder.into_inner().split();
    let mut next = async || -> Value {
        loop {
            match stream.next().await.expect("connection open").unwrap() {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    };

    let flood = tokio::spawn(async move {
        for n in 0..FLOOD {
            let echo = json!({"type":"echo","data":n}).to_string();
            if sink.feed(Message::text(echo)).await.is_err() {
                return;
            }
        }
        let _ = sink.flush().await;
    });
    let mut echoes = 0;
    let until_the_push = async {
        loop {
            let reply = next().await;
            match reply["type"].as_str() {
                Some("echo") => echoes += 1,
                Some("message") => break,
                _ => panic!("unexpected {reply}"),
            }
            if echoes == 1_000 {
                let publish = json!({"type":"publish","room":"r","data":"hi"});
                publisher.send_json(&publish).await.unwrap();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), until_the_push).await.expect("no push at all");
    flood.abort();
    assert!(echoes < FLOOD, "the push waited for all {FLOOD} echo replies");
}
