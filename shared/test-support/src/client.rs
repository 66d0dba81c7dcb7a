//! A small WebSocket client for integration tests (and for poking at a server by hand).
//!
//! Every receive has a deadline, so a test that waits for a message that never comes fails
//! with a clear message instead of hanging the test run.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{
        Message,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

/// How long a receive waits before the test fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct TestClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    timeout: Duration,
}

impl TestClient {
    /// Connects to `ws://{addr}/`.
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        Self::connect_url(&format!("ws://{addr}/")).await
    }

    pub async fn connect_url(url: &str) -> Result<Self> {
        let (ws, _response) = connect_async(url).await.with_context(|| format!("connect {url}"))?;
        Ok(Self { ws, timeout: RECV_TIMEOUT })
    }

    /// Changes the receive deadline (tests on a paused clock may want a long one).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.ws.send(message).await.context("send")
    }

    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.send(Message::text(text)).await
    }

    pub async fn send_json(&mut self, value: &Value) -> Result<()> {
        self.send_text(&value.to_string()).await
    }

    /// The next frame of any kind, Ping and Pong included.
    pub async fn recv_frame(&mut self) -> Result<Message> {
        match tokio::time::timeout(self.timeout, self.ws.next()).await {
            Err(_) => bail!("no message within {:?}", self.timeout),
            Ok(None) => bail!("connection ended"),
            Ok(Some(message)) => message.context("receive"),
        }
    }

    /// The next data or close frame; Ping and Pong are skipped (the library answers Pings).
    pub async fn recv(&mut self) -> Result<Message> {
        loop {
            match self.recv_frame().await? {
                Message::Ping(_) | Message::Pong(_) => continue,
                message => return Ok(message),
            }
        }
    }

    pub async fn recv_text(&mut self) -> Result<String> {
        match self.recv().await? {
            Message::Text(text) => Ok(text.as_str().to_owned()),
            other => bail!("expected a text frame, got {other:?}"),
        }
    }

    pub async fn recv_json(&mut self) -> Result<Value> {
        let text = self.recv_text().await?;
        serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))
    }

    /// Reads until the server's Close frame and returns it (`None` for a Close without payload).
    pub async fn expect_close(&mut self) -> Result<Option<CloseFrame>> {
        loop {
            match self.recv().await? {
                Message::Close(frame) => return Ok(frame),
                other => tracing::debug!(?other, "skipped while waiting for close"),
            }
        }
    }

    /// Reads until the server's Close frame and returns its code.
    pub async fn expect_close_code(&mut self) -> Result<CloseCode> {
        let frame = self.expect_close().await?.context("close frame without a code")?;
        Ok(frame.code)
    }

    /// Starts the closing handshake and waits for the server's answer.
    pub async fn close(mut self) -> Result<Option<CloseFrame>> {
        self.ws.close(None).await.context("send close")?;
        self.expect_close().await
    }

    /// The underlying stream, for tests that need to do something unusual.
    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.ws
    }
}
