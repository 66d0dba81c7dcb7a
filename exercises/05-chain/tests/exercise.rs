//! Provided tests for exercise 05: run them with `cargo test -p ex05-chain`.
//!
//! Each test starts a real chapter 05 server whose chain holds your link and your handler, and
//! talks to it over WebSocket with the test client the chapters use.

use std::net::SocketAddr;

use ch05_handler_chain::{
    Config,
    app::App,
    chain::{Chain, Router},
    handlers, middleware,
};
use ex05_chain::{MaxMessageSize, Members};
use serde_json::{Value, json};
use test_support::{capture, client::TestClient};
use tokio::net::TcpListener;

/// The frame size your link allows.
const LIMIT: usize = 256;

/// What every test captures: the chapter's DEBUG lines (the path through the chain) and yours.
///
/// Every test captures, even those that do not read the logs: `tracing` decides once per log
/// statement, for the whole process, whether any subscriber wants it. A test thread with no
/// subscriber could make that decision "no" for the tests that do read their logs.
const LOGS: &str = "ch05_handler_chain=debug,ex05_chain=debug";

/// A server whose chain is `lifecycle -> max_message_size -> router`, with `members` routed
/// next to two of the chapter's handlers.
async fn start() -> SocketAddr {
    let router = Router::new().route(handlers::Echo).route(handlers::Join).route(Members);
    let chain = Chain::new(router).with(middleware::Lifecycle).with(MaxMessageSize::new(LIMIT));
    let app = App::with_chain(Config::default(), chain);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ch05_handler_chain::serve(listener, app, std::future::pending()));
    addr
}

/// Connects and returns the client with the session id from its `welcome`.
async fn connect(addr: SocketAddr) -> (TestClient, String) {
    let mut client = TestClient::connect(addr).await.unwrap();
    let welcome = client.recv_json().await.unwrap();
    assert_eq!(welcome["type"], "welcome");
    let session = welcome["session"].as_str().unwrap().to_owned();
    (client, session)
}

async fn request(client: &mut TestClient, message: Value) -> Value {
    client.send_json(&message).await.unwrap();
    client.recv_json().await.unwrap()
}

async fn request_text(client: &mut TestClient, text: &str) -> Value {
    client.send_text(text).await.unwrap();
    client.recv_json().await.unwrap()
}

fn code(reply: &Value) -> &str {
    reply["code"].as_str().unwrap_or("(no code)")
}

/// `message` with its `data` field padded with `a`s so that the frame is exactly `len` bytes.
fn padded(message: Value, len: usize) -> String {
    let bare = message.to_string();
    let mut message = message;
    message["data"] = json!("a".repeat(len - bare.len())); // `""` becomes `"aa...a"`
    let text = message.to_string();
    assert_eq!(text.len(), len, "{text}");
    text
}

#[tokio::test]
async fn a_message_within_the_limit_is_passed_on_to_its_handler() {
    let (_guard, _logs) = capture::capture(LOGS);
    let (mut client, _) = connect(start().await).await;
    let reply = request(&mut client, json!({"type":"echo","id":"e1","data":"hi"})).await;
    assert_eq!(
        (reply["type"].as_str(), reply["data"].as_str(), code(&reply)),
        (Some("echo"), Some("hi"), "(no code)"),
        "{reply}"
    );

    // Exactly at the limit is still within it.
    let text = padded(json!({"type":"echo","id":"e2","data":""}), LIMIT);
    let reply = request_text(&mut client, &text).await;
    assert_eq!(
        (reply["type"].as_str(), reply["id"].as_str()),
        (Some("echo"), Some("e2")),
        "{reply}"
    );
}

#[tokio::test]
async fn a_message_over_the_limit_is_finished_by_the_link_with_bad_request() {
    let (_guard, logs) = capture::capture(LOGS);
    let (mut client, _) = connect(start().await).await;

    let text = padded(json!({"type":"echo","id":"big","data":""}), LIMIT + 1);
    let reply = request_text(&mut client, &text).await;
    assert_eq!(
        (reply["type"].as_str(), code(&reply), reply["id"].as_str()),
        (Some("error"), "bad_request", Some("big")),
        "{reply}"
    );
    assert!(
        reply["message"].as_str().is_some_and(|m| !m.is_empty()),
        "say what was wrong in `message`: {reply}"
    );
    // The chain names the link that refused the message.
    logs.wait_for(&["message rejected", "by=\"max_message_size\"", "code=bad_request"]).await;

    // A rejection is an answer, not a disconnection: the session carries on.
    let reply = request(&mut client, json!({"type":"echo","data":"still here"})).await;
    assert_eq!(reply["data"], "still here", "{reply}");
}

#[tokio::test]
async fn a_finished_message_never_reaches_its_handler() {
    let (_guard, _logs) = capture::capture(LOGS);
    let (mut client, _) = connect(start().await).await;

    // A `join` padded past the limit (its room is fine; its id is long) is refused by the
    // link, so the `join` handler never runs and the session is not in the room.
    let mut join = json!({"type":"join","room":"lobby"});
    join["id"] = json!("j".repeat(LIMIT));
    let reply = request(&mut client, join).await;
    assert_eq!(code(&reply), "bad_request", "{reply}");

    let reply = request(&mut client, json!({"type":"members","id":"m","room":"lobby"})).await;
    assert_eq!((code(&reply), reply["id"].as_str()), ("not_in_room", Some("m")), "{reply}");
}

#[tokio::test]
async fn members_lists_a_rooms_sessions_in_ascending_order() {
    let (_guard, _logs) = capture::capture(LOGS);
    let addr = start().await;
    let (mut a, id_a) = connect(addr).await;
    let (mut b, id_b) = connect(addr).await;
    let (mut c, _) = connect(addr).await;
    for client in [&mut b, &mut a] {
        let reply = request(client, json!({"type":"join","room":"lobby"})).await;
        assert_eq!(reply["type"], "ack", "{reply}");
    }
    let reply = request(&mut c, json!({"type":"join","room":"elsewhere"})).await;
    assert_eq!(reply["type"], "ack", "{reply}");

    let mut expected = [id_a, id_b];
    expected.sort_by_key(|id| id.parse::<u64>().unwrap());
    for client in [&mut a, &mut b] {
        let reply = request(client, json!({"type":"members","id":"m1","room":"lobby"})).await;
        assert_eq!(
            (reply["type"].as_str(), reply["id"].as_str()),
            (Some("echo"), Some("m1")),
            "{reply}"
        );
        assert_eq!(
            reply["data"],
            json!({"room": "lobby", "members": expected}),
            "the data is {{room, members}}, session ids as strings, smallest first"
        );
    }
}

#[tokio::test]
async fn only_members_may_ask_who_is_in_a_room() {
    let (_guard, _logs) = capture::capture(LOGS);
    let addr = start().await;
    let (mut insider, id) = connect(addr).await;
    let (mut outsider, _) = connect(addr).await;
    request(&mut insider, json!({"type":"join","room":"lobby"})).await;

    for room in ["lobby", "no-such-room"] {
        let reply = request(&mut outsider, json!({"type":"members","id":"m2","room":room})).await;
        assert_eq!(
            (code(&reply), reply["id"].as_str()),
            ("not_in_room", Some("m2")),
            "room {room}: {reply}"
        );
    }
    // The router checks the typed request before your handler runs.
    let reply = request(&mut insider, json!({"type":"members","id":"m3"})).await;
    assert_eq!(code(&reply), "bad_request", "{reply}");

    let reply = request(&mut insider, json!({"type":"members","room":"lobby"})).await;
    assert_eq!(reply["data"]["members"], json!([id]), "{reply}");
}

#[tokio::test]
async fn the_log_shows_the_message_pass_through_your_link_to_your_handler() {
    let (_guard, logs) = capture::capture(LOGS);
    let (mut client, _) = connect(start().await).await;
    request(&mut client, json!({"type":"join","room":"lobby"})).await;
    let reply = request(&mut client, json!({"type":"members","room":"lobby"})).await;
    let trace = reply["trace"].as_str().expect("the reply carries the trace id");

    // One grep for the trace id: each link, then the handler, then the outcome, in order.
    let needle = format!("trace={trace}");
    logs.wait_for(&[&needle, "message handled"]).await;
    let path = logs.lines_with(&[&needle]);
    let steps = [
        "link{name=\"lifecycle\"}: ch05_handler_chain::chain: enter",
        "link{name=\"max_message_size\"}: ch05_handler_chain::chain: enter",
        "handler{name=\"members\"}: ch05_handler_chain::chain: handled ok=true",
        "message handled",
    ];
    let positions: Vec<usize> = steps
        .iter()
        .map(|step| {
            path.iter()
                .position(|line| line.contains(step))
                .unwrap_or_else(|| panic!("`{step}` is not on the path:\n{}", path.join("\n")))
        })
        .collect();
    assert!(positions.is_sorted(), "out of order: {positions:?}\n{}", path.join("\n"));
}
