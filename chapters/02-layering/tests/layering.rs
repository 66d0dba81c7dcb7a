//! Chapter 02 against a real server on 127.0.0.1:0 and real WebSocket clients.

use std::net::SocketAddr;

use serde_json::json;
use test_support::{capture, client::TestClient};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch02_layering as chapter;

async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(chapter::serve(listener, std::future::pending()));
    addr
}

#[tokio::test]
async fn echo_returns_id_and_any_json_data() -> anyhow::Result<()> {
    let mut client = TestClient::connect(start().await).await?;
    let data = json!({"text": "hi", "n": [1, 2.5, null, true]});
    client.send_json(&json!({"type": "echo", "id": "e1", "data": data})).await?;
    assert_eq!(client.recv_json().await?, json!({"type": "echo", "id": "e1", "data": data}));
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_an_error_reply_and_the_session_stays_open() -> anyhow::Result<()> {
    let (_guard, logs) = capture::capture("debug");
    let mut client = TestClient::connect(start().await).await?;

    client.send_text("{not json").await?;
    let reply = client.recv_json().await?;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("invalid_json"))
    );
    assert!(reply.get("id").is_none());

    client.send_json(&json!({"type": "dance", "id": "d1"})).await?;
    let reply = client.recv_json().await?;
    assert_eq!((reply["code"].as_str(), reply["id"].as_str()), (Some("unknown_type"), Some("d1")));
    assert!(reply["message"].as_str().is_some_and(|m| m.contains("dance")));

    client.send_json(&json!({"type": "echo", "id": "e2"})).await?;
    let reply = client.recv_json().await?;
    assert_eq!((reply["code"].as_str(), reply["id"].as_str()), (Some("bad_request"), Some("e2")));

    client.send(Message::binary(vec![1u8, 2, 3])).await?;
    assert_eq!(client.recv_json().await?["code"], "unsupported_frame");

    // Still open, still serving.
    client.send_json(&json!({"type": "echo", "id": "e3", "data": 3})).await?;
    assert_eq!(client.recv_json().await?, json!({"type": "echo", "id": "e3", "data": 3}));

    logs.wait_for(&["INFO", "bad request", "code=unknown_type"]).await;
    Ok(())
}

#[tokio::test]
async fn close_handshake_is_answered_and_logged() -> anyhow::Result<()> {
    let (_guard, logs) = capture::capture("debug");
    let client = TestClient::connect(start().await).await?;
    let answer = client.close().await?;
    assert!(answer.is_none_or(|frame| frame.code == CloseCode::Normal));
    logs.wait_for(&["disconnected", "reason=client_close"]).await;
    Ok(())
}

#[tokio::test]
async fn two_clients_are_served_independently() -> anyhow::Result<()> {
    let addr = start().await;
    let mut alice = TestClient::connect(addr).await?;
    let mut bob = TestClient::connect(addr).await?;
    alice.send_json(&json!({"type": "echo", "id": "a", "data": "alice"})).await?;
    bob.send_json(&json!({"type": "echo", "id": "b", "data": "bob"})).await?;
    assert_eq!(bob.recv_json().await?["data"], "bob");
    assert_eq!(alice.recv_json().await?["data"], "alice");
    Ok(())
}

#[tokio::test]
async fn an_abrupt_disconnect_is_an_io_error_and_the_server_keeps_serving() -> anyhow::Result<()> {
    let (_guard, logs) = capture::capture("debug");
    let addr = start().await;
    drop(TestClient::connect(addr).await?.into_inner()); // TCP close, no Close frame
    logs.wait_for(&["disconnected", "reason=io_error"]).await;

    let mut client = TestClient::connect(addr).await?;
    client.send_json(&json!({"type": "echo", "data": 1})).await?;
    assert_eq!(client.recv_json().await?["data"], 1);
    Ok(())
}
