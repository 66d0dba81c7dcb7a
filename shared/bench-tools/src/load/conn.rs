//! Opening and closing one client connection: TCP from a chosen source address, the WebSocket
//! upgrade, the server's welcome and (for rooms) the join, each under one deadline. With
//! `--protocol tcp` a connection is the TCP stream alone (see `tcp`).
//!
//! A load generator that needs more memory per connection than the server it measures cannot
//! show the server's limits, so every connection gets small buffers here.

use std::{
    future::Future,
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use tokio::{
    net::{TcpSocket, TcpStream},
    time::{Instant, timeout, timeout_at},
};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{Message, protocol::WebSocketConfig},
};

use super::{
    cli::{CommonArgs, Protocol, TargetUrl},
    failure::{Failure, excerpt},
    wire::{self, frame_name},
};

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Bytes one read from the socket may take: tungstenite's read buffer here, and what the `tcp`
/// connections read into too, so both make the same system calls for the same replies.
pub(crate) const READ_BUFFER: usize = 4096;

/// How long our half of the closing handshake may take.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a connection does right after the upgrade, before it counts as open.
#[derive(Debug, Clone)]
pub(crate) enum Setup {
    Nothing,
    /// Join this room and wait for the ack.
    Join(String),
}

/// What the ramp opens for a scenario's connections: a WebSocket ([`Ws`]), or a bare
/// [`TcpStream`] for `--protocol tcp`.
pub(crate) trait Connection: Sized + Send + 'static {
    /// Opens connection number `n`; the error's kind names the step that failed.
    fn open(
        target: &Target,
        n: usize,
        setup: &Setup,
    ) -> impl Future<Output = Result<Self, Failure>> + Send;
}

impl Connection for Ws {
    fn open(
        target: &Target,
        n: usize,
        setup: &Setup,
    ) -> impl Future<Output = Result<Self, Failure>> + Send {
        target.open(n, setup)
    }
}

impl Connection for TcpStream {
    /// Just the TCP connection: no upgrade, so nothing to set up either (`tcp` has no rooms).
    fn open(
        target: &Target,
        n: usize,
        _setup: &Setup,
    ) -> impl Future<Output = Result<Self, Failure>> + Send {
        target.open_tcp(n)
    }
}

/// Where and how to connect; shared by every connection of a run.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) url: TargetUrl,
    /// Wait for `{"type":"welcome"}` after the upgrade.
    pub(crate) welcome: bool,
    sources: Vec<Ipv4Addr>,
    connect_timeout: Duration,
}

impl Target {
    pub(crate) fn new(common: &CommonArgs) -> Self {
        Self {
            url: common.url.clone(),
            welcome: common.protocol == Protocol::Envelope && !common.no_welcome,
            sources: common.sources.as_ref().map(|sources| sources.0.clone()).unwrap_or_default(),
            connect_timeout: common.connect_timeout,
        }
    }

    // ANCHOR: open
    /// Opens connection number `n`: TCP, upgrade, welcome, setup, all within the connect
    /// timeout. The error's kind names the step that failed.
    pub(crate) async fn open(&self, n: usize, setup: &Setup) -> Result<Ws, Failure> {
        let deadline = Instant::now() + self.connect_timeout;
        let stream = timeout_at(deadline, self.connect_tcp(n))
            .await
            .map_err(|_| Failure::timeout("connect", "no TCP connection in time"))??;

        // The client side of the upgrade. `client_async_with_config` takes a stream we opened
        // ourselves, which is what lets us choose the source address above.
        let config = WebSocketConfig::default()
            // Read buffers are allocated eagerly: 4 KiB instead of the default 128 KiB keeps
            // 20,000 clients at tens of MiB rather than 2.5 GiB.
            .read_buffer_size(READ_BUFFER)
            // Write each message straight through: a load generator wants no batching of its
            // own between the send it times and the socket.
            .write_buffer_size(0);
        let (mut ws, _response) = timeout_at(
            deadline,
            client_async_with_config(self.url.text.as_str(), stream, Some(config)),
        )
        .await
        .map_err(|_| Failure::timeout("upgrade", "no upgrade response in time"))?
        .map_err(|error| Failure::ws("upgrade", &error))?;

        if self.welcome {
            let text =
                timeout_at(deadline, next_text(&mut ws, "welcome")).await.map_err(|_| {
                    Failure::timeout(
                        "welcome",
                        "no welcome message in time (chapter 02 sends none: pass --no-welcome)",
                    )
                })??;
            let message: wire::Incoming<'_, IgnoredAny> = wire::parse("welcome", &text)?;
            if message.kind != "welcome" {
                return Err(Failure::new(
                    "welcome:unexpected",
                    format!("expected a welcome, got {}", excerpt(&text)),
                ));
            }
        }
        if let Setup::Join(room) = setup {
            timeout_at(deadline, join(&mut ws, room))
                .await
                .map_err(|_| Failure::timeout("join", "no ack to the join in time"))??;
        }
        Ok(ws)
    }
    // ANCHOR_END: open

    /// Opens connection number `n` as a plain TCP stream (`--protocol tcp`), within the
    /// connect timeout.
    pub(crate) async fn open_tcp(&self, n: usize) -> Result<TcpStream, Failure> {
        timeout(self.connect_timeout, self.connect_tcp(n))
            .await
            .map_err(|_| Failure::timeout("connect", "no TCP connection in time"))?
    }

    async fn connect_tcp(&self, n: usize) -> Result<TcpStream, Failure> {
        let socket = TcpSocket::new_v4().map_err(|error| Failure::io("socket", &error))?;
        // Without --sources the kernel picks the source and a port per destination. With them,
        // binding first spreads connections over several 127.x addresses, each with its own
        // range of ephemeral ports.
        if !self.sources.is_empty() {
            let source = self.sources[n % self.sources.len()];
            socket
                .bind(SocketAddr::from((source, 0)))
                .map_err(|error| Failure::io("bind", &error))?;
        }
        let stream = socket
            .connect(self.url.addr.into())
            .await
            .map_err(|error| Failure::io("connect", &error))?;
        // Small frames must not wait for Nagle's algorithm, or every round trip is timed at
        // the delayed-ACK timer instead of the server.
        stream.set_nodelay(true).map_err(|error| Failure::io("connect", &error))?;
        Ok(stream)
    }
}

async fn join(ws: &mut Ws, room: &str) -> Result<(), Failure> {
    ws.send(wire::join_request(room)).await.map_err(|error| Failure::ws("join", &error))?;
    let text = next_text(ws, "join").await?;
    let reply: wire::Incoming<'_, IgnoredAny> = wire::parse("join", &text)?;
    match (reply.kind.as_ref(), reply.id.as_deref()) {
        ("ack", Some("join")) => Ok(()),
        ("error", _) => Err(wire::server_error("join", &reply, &text)),
        _ => Err(Failure::new(
            "join:unexpected",
            format!("expected the join's ack, got {}", excerpt(&text)),
        )),
    }
}

/// The next text frame; Ping and Pong are skipped (tungstenite answers Pings while we read).
async fn next_text(ws: &mut Ws, stage: &str) -> Result<String, Failure> {
    match next_data(ws, stage).await? {
        Message::Text(text) => Ok(text.as_str().to_owned()),
        other => Err(Failure::new(
            format!("{stage}:unexpected"),
            format!("a {} frame", frame_name(&other)),
        )),
    }
}

/// The next Text or Binary frame. A Close, the end of the stream and errors are failures.
pub(crate) async fn next_data(ws: &mut Ws, stage: &str) -> Result<Message, Failure> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(frame))) => return Err(Failure::closed(stage, frame.as_ref())),
            Some(Ok(message)) => return Ok(message),
            Some(Err(error)) => return Err(Failure::ws(stage, &error)),
            None => return Err(Failure::eof(stage)),
        }
    }
}

/// The closing handshake from our side: send Close, then read until the server's Close and the
/// end of the TCP stream, so the server sees a clean `client_close` rather than a reset.
pub(crate) async fn close(mut ws: Ws) -> Result<(), Failure> {
    let handshake = async {
        ws.close(None).await.map_err(|error| Failure::ws("close", &error))?;
        // Data frames still in flight are read and dropped; the stream ends (`None`) once the
        // server has answered our Close and closed its side.
        while let Some(frame) = ws.next().await {
            frame.map_err(|error| Failure::ws("close", &error))?;
        }
        Ok(())
    };
    timeout(CLOSE_TIMEOUT, handshake)
        .await
        .map_err(|_| Failure::timeout("close", "the server did not finish the closing handshake"))?
}
