//! Chapter 01 against a real server on 127.0.0.1:0 and real WebSocket clients.

use std::net::SocketAddr;

use test_support::{capture, client::TestClient};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch01_raw_echo as chapter;

/// Starts the chapter's server on an ephemeral port; it runs until the test ends.
async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(chapter::serve(listener, std::future::pending()));
    addr
}

#[tokio::test]
async fn echoes_text() -> anyhow::Result<()> {
    let mut client = TestClient::connect(start().await).await?;
    client.send_text("hello").await?;
    assert_eq!(client.recv_text().await?, "hello");
    Ok(())
}

#[tokio::test]
async fn echoes_binary() -> anyhow::Result<()> {
    let mut client = TestClient::connect(start().await).await?;
    let payload = vec![0u8, 159, 146, 150, 255];
    client.send(Message::binary(payload.clone())).await?;
    assert_eq!(client.recv().await?, Message::binary(payload));
    Ok(())
}

#[tokio::test]
async fn answers_the_close_handshake() -> anyhow::Result<()> {
    let (_guard, logs) = capture::capture("debug");
    let client = TestClient::connect(start().await).await?;
    let answer = client.close().await?;
    // We sent a Close without a code; the server's answer echoes the status (normal or none).
    assert!(answer.is_none_or(|frame| frame.code == CloseCode::Normal));
    logs.wait_for(&["disconnected", "reason=\"client_close\""]).await;
    Ok(())
}

#[tokio::test]
async fn two_clients_at_once_each_get_their_own_echo() -> anyhow::Result<()> {
    let addr = start().await;
    let mut alice = TestClient::connect(addr).await?;
    let mut bob = TestClient::connect(addr).await?;
    alice.send_text("from alice").await?;
    bob.send_text("from bob").await?;
    assert_eq!(bob.recv_text().await?, "from bob");
    assert_eq!(alice.recv_text().await?, "from alice");
    Ok(())
}

#[tokio::test]
async fn plain_http_get_fails_the_handshake_is_logged_and_the_server_keeps_serving()
-> anyhow::Result<()> {
    let (_guard, logs) = capture::capture("debug");
    let addr = start().await;

    let mut http = TcpStream::connect(addr).await?;
    http.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
    let mut response = Vec::new();
    http.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    // tungstenite drops a failed handshake without an HTTP answer; chapter 08 answers 400.
    assert!(!response.contains(" 101 "), "the server upgraded a plain GET: {response}");
    logs.wait_for(&["WARN", "handshake failed"]).await;

    let mut client = TestClient::connect(addr).await?;
    client.send_text("still here").await?;
    assert_eq!(client.recv_text().await?, "still here");
    Ok(())
}
