//! Provided tests for exercise 01: run them with `cargo test -p ex01-echo`.

use std::net::SocketAddr;

use ex01_echo::shout_echo;
use test_support::client::TestClient;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_tungstenite::tungstenite::Message;

/// Accepts one connection and runs the exercise on it; the handle yields its return value.
async fn serve_one() -> (SocketAddr, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        shout_echo(ws).await
    });
    (addr, server)
}

#[tokio::test]
async fn text_comes_back_in_upper_case() -> anyhow::Result<()> {
    let (addr, _server) = serve_one().await;
    let mut client = TestClient::connect(addr).await?;
    client.send_text("hello, world").await?;
    assert_eq!(client.recv_text().await?, "HELLO, WORLD");
    Ok(())
}

#[tokio::test]
async fn binary_comes_back_unchanged() -> anyhow::Result<()> {
    let (addr, _server) = serve_one().await;
    let mut client = TestClient::connect(addr).await?;
    client.send(Message::binary(vec![0u8, 1, 2, 255])).await?;
    assert_eq!(client.recv().await?, Message::binary(vec![0u8, 1, 2, 255]));
    Ok(())
}

#[tokio::test]
async fn returns_the_count_after_the_client_closes() -> anyhow::Result<()> {
    let (addr, server) = serve_one().await;
    let mut client = TestClient::connect(addr).await?;
    for word in ["a", "b", "c"] {
        client.send_text(word).await?;
        client.recv_text().await?;
    }
    client.close().await?;
    assert_eq!(server.await?, 3);
    Ok(())
}
