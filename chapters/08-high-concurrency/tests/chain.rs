//! The handler chain against a real server: the path of a message, each link's rejection,
//! containment of a panicking handler.

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc, time::Duration};

use serde_json::{Value, json};
use test_support::{capture, client::TestClient};
use tokio::net::TcpListener;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch08_high_concurrency as chapter;
use chapter::{
    Config,
    app::{self, App},
    chain::{Chain, Cx, Handler, Outcome, Router},
    handlers, middleware,
};

/// Its crate name, as log filters and log lines spell it: strings, which the alias cannot reach.
const CRATE: &str = "ch08_high_concurrency";

async fn start(app: Arc<App>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(chapter::serve(listener, app, std::future::pending()));
    addr
}

async fn connect(addr: SocketAddr) -> TestClient {
    let mut client = TestClient::connect(addr).await.unwrap();
    assert_eq!(client.recv_json().await.unwrap()["type"], "welcome");
    client
}

async fn request(client: &mut TestClient, message: Value) -> Value {
    client.send_json(&message).await.unwrap();
    client.recv_json().await.unwrap()
}

fn code(reply: &Value) -> &str {
    reply["code"].as_str().unwrap_or("(no code)")
}

#[tokio::test]
async fn one_grep_for_a_trace_id_shows_the_whole_path_through_the_chain() {
    let (_guard, logs) = capture::capture(&format!("{CRATE}=debug"));
    let addr = start(App::new(Config::default())).await;
    let mut client = connect(addr).await;
    let reply = request(&mut client, json!({"type":"join","id":"j1","room":"lobby"})).await;
    let trace = reply["trace"].as_str().expect("the reply carries the trace id");

    let needle = format!("trace={trace}");
    let line = logs.wait_for(&[&needle, "message handled"]).await;
    assert!(line.contains("outcome=\"ok\"") && line.contains("duration_us="), "{line}");

    // Every line about this message, in order: each link, then the handler, then the outcome.
    let path: Vec<String> = logs.lines_with(&[&needle]);
    let position = |what: &str| {
        path.iter()
            .position(|line| line.contains(what))
            .unwrap_or_else(|| panic!("`{what}` is not on the path:\n{}", path.join("\n")))
    };
    let target = format!("{CRATE}::chain");
    let steps = [
        format!("link{{name=\"lifecycle\"}}: {target}: enter"),
        format!("link{{name=\"rate_limit\"}}: {target}: enter"),
        format!("link{{name=\"require_auth\"}}: {target}: enter"),
        format!("link{{name=\"validate\"}}: {target}: enter"),
        format!("handler{{name=\"join\"}}: {target}: handled ok=true"),
        "message handled".to_owned(),
    ];
    let positions: Vec<usize> = steps.iter().map(|step| position(step)).collect();
    assert!(positions.is_sorted(), "out of order: {positions:?}\n{}", path.join("\n"));
    // The spans nest session > message > links, and name the session and the message type.
    let handled = &path[positions[4]];
    assert!(handled.contains("session{peer=") && handled.contains(" id="), "{handled}");
    assert!(path[positions[4]].contains("msg_type=\"join\""), "{}", path[positions[4]]);
}

#[tokio::test]
async fn an_unauthenticated_session_may_only_do_what_is_allowed() {
    let config = Config { auth_tokens: vec!["s3cret".into()], ..Config::default() };
    let (_guard, logs) = capture::capture(&format!("{CRATE}=debug"));
    let mut client = connect(start(App::new(config)).await).await;

    // `echo` is allowed anonymously by default; `join` is not.
    assert_eq!(request(&mut client, json!({"type":"echo","data":1})).await["type"], "echo");
    let reply = request(&mut client, json!({"type":"join","id":"j","room":"r"})).await;
    assert_eq!((code(&reply), reply["id"].as_str()), ("unauthenticated", Some("j")));
    logs.wait_for(&["message rejected", "by=\"require_auth\"", "code=unauthenticated"]).await;

    let reply = request(&mut client, json!({"type":"auth","id":"a","token":"guess"})).await;
    assert_eq!(code(&reply), "unauthorized");
    let reply = request(&mut client, json!({"type":"auth","id":"a","token":"s3cret"})).await;
    assert_eq!(reply["type"], "ack");
    let reply = request(&mut client, json!({"type":"join","id":"j","room":"r"})).await;
    assert_eq!(reply["type"], "ack");

    // Tokens never reach the log.
    assert!(!logs.contents().contains("s3cret") && !logs.contents().contains("guess"));
}

#[tokio::test(start_paused = true)]
async fn a_flood_is_rate_limited_and_the_bucket_refills() {
    // Every test of this binary captures: see `test_support::capture`.
    let (_guard, _logs) = capture::capture(&format!("{CRATE}=debug"));
    let config = Config {
        rate_limit: NonZeroU32::new(10).unwrap(),
        rate_burst: NonZeroU32::new(3).unwrap(),
        ..Config::default()
    };
    let mut client = connect(start(App::new(config)).await).await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let reply = request(&mut client, json!({"type":"echo","data":0})).await;
        codes.push(reply["code"].as_str().unwrap_or("ok").to_owned());
    }
    assert_eq!(codes, ["ok", "ok", "ok", "rate_limited", "rate_limited"]);

    // Ten a second: after a tenth of a second (of tokio's paused clock) one more goes through.
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_eq!(request(&mut client, json!({"type":"echo","data":0})).await["type"], "echo");
    assert_eq!(code(&request(&mut client, json!({"type":"echo","data":0})).await), "rate_limited");
}

#[tokio::test]
async fn out_of_range_values_are_rejected_by_validation() {
    let (_guard, logs) = capture::capture(&format!("{CRATE}=debug"));
    let mut client = connect(start(App::new(Config::default())).await).await;
    let long_room = "r".repeat(middleware::MAX_ROOM_NAME + 1);
    let reply = request(&mut client, json!({"type":"join","id":"j","room":long_room})).await;
    assert_eq!((code(&reply), reply["id"].as_str()), ("bad_request", Some("j")));
    logs.wait_for(&["message rejected", "by=\"validate\""]).await;

    let long_id = "i".repeat(middleware::MAX_ID + 1);
    let reply = request(&mut client, json!({"type":"join","id":long_id,"room":"r"})).await;
    assert_eq!(code(&reply), "bad_request");
}

#[tokio::test]
async fn bad_messages_get_an_error_with_code_id_and_trace_and_the_session_stays_open() {
    // Every test of this binary captures: see `test_support::capture`.
    let (_guard, _logs) = capture::capture(&format!("{CRATE}=debug"));
    let mut client = connect(start(App::new(Config::default())).await).await;
    let cases = [
        ("{oops", "invalid_json", None),
        (r#"{"type":"dance","id":"d"}"#, "unknown_type", Some("d")),
        (r#"{"type":"join","id":"m"}"#, "bad_request", Some("m")),
        (r#"{"type":"join","id":"w","room":7}"#, "bad_request", Some("w")),
        (r#"{"type":"join","id":"x","room":"r","extra":1}"#, "bad_request", Some("x")),
    ];
    for (text, expected, id) in cases {
        client.send_text(text).await.unwrap();
        let reply = client.recv_json().await.unwrap();
        assert_eq!(
            (reply["type"].as_str(), code(&reply), reply["id"].as_str()),
            (Some("error"), expected, id),
            "{text}"
        );
        assert!(reply["trace"].is_string(), "{reply}");
    }
    assert_eq!(
        request(&mut client, json!({"type":"echo","data":"still here"})).await["data"],
        "still here"
    );
}

/// A handler with a bug in it.
struct Explode;

impl Handler for Explode {
    const TYPE: &'static str = "explode";
    type Request = serde::de::IgnoredAny;

    fn handle(&self, _cx: &mut Cx<'_>, _request: Self::Request) -> Outcome {
        panic!("a bug in a handler");
    }
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_the_session_survives() {
    let (_guard, logs) = capture::capture(&format!("{CRATE}=debug"));
    let chain =
        Chain::new(Router::new().route(handlers::Echo).route(Explode)).with(middleware::Lifecycle);
    let addr = start(App::with_chain(Config::default(), chain)).await;
    let mut client = connect(addr).await;

    let reply = request(&mut client, json!({"type":"explode","id":"boom"})).await;
    assert_eq!((code(&reply), reply["id"].as_str()), ("internal", Some("boom")));
    let trace = reply["trace"].as_str().unwrap();
    assert!(
        reply["message"].as_str().unwrap().contains(trace),
        "the client can quote the trace id"
    );
    logs.wait_for(&["ERROR", "handler panicked", &format!("trace={trace}"), "a bug in a handler"])
        .await;

    // The same session, and everyone else, carry on.
    assert_eq!(request(&mut client, json!({"type":"echo","data":1})).await["data"], 1);
    let mut other = connect(addr).await;
    assert_eq!(request(&mut other, json!({"type":"echo","data":2})).await["data"], 2);
}

#[test]
fn the_standard_chain_has_its_links_in_order_and_a_handler_per_type() {
    let chain = app::standard_chain(&Config::default());
    assert_eq!(chain.link_names(), ["lifecycle", "rate_limit", "require_auth", "validate"]);
    let mut types: Vec<_> = chain.router().types().collect();
    types.sort_unstable();
    assert_eq!(types, ["auth", "direct", "echo", "join", "leave", "publish"]);
}
