//! Session: one task per connection. It owns the socket, registers itself, keeps the heartbeat,
//! hands each text frame to the chain, and writes two kinds of output: replies to its own
//! requests, and what other sessions queued for it.
//!
//! It never decides what a message means: that is the application's job.

use std::{fmt, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::{net::TcpStream, sync::mpsc};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        self, Message, Utf8Bytes,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};
use tracing::{Span, debug, info};

use crate::{
    app::Shared,
    heartbeat::{Beat, Heartbeat},
    protocol::{self, ErrorCode, ServerMessage},
    registry::SessionId,
    state::SessionState,
};

/// The close code for a peer that missed its heartbeats (4000-4999 are for applications).
pub const HEARTBEAT_TIMEOUT: CloseCode = CloseCode::Library(4000);

/// How long we try to deliver our Close frame to a peer before dropping the connection anyway:
/// a dead peer may never read it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Why a session ended: a stable name for logs (and, from chapter 06, for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection with a Close frame.
    ClientClose,
    /// The client broke the WebSocket protocol (bad frame, invalid UTF-8, too large, ...).
    ProtocolError,
    /// The connection failed underneath us (reset, broken pipe, closed without a Close frame).
    IoError,
    /// Nothing heard from the client, not even a Pong, for the heartbeat timeout.
    HeartbeatTimeout,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientClose => "client_close",
            Self::ProtocolError => "protocol_error",
            Self::IoError => "io_error",
            Self::HeartbeatTimeout => "heartbeat_timeout",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&tungstenite::Error> for CloseReason {
    fn from(error: &tungstenite::Error) -> Self {
        use tungstenite::{Error, error::ProtocolError as Wire};
        match error {
            Error::ConnectionClosed | Error::AlreadyClosed => Self::ClientClose,
            Error::Io(_) | Error::Protocol(Wire::ResetWithoutClosingHandshake) => Self::IoError,
            _ => Self::ProtocolError,
        }
    }
}

// ANCHOR: run
/// Serves one upgraded connection until it ends.
pub async fn run(mut ws: WebSocketStream<TcpStream>, shared: Shared<'_>) {
    let config = shared.config();
    let (outbound, mut queue) = mpsc::channel(config.outbound_queue);
    let registration = shared.registry().register(outbound);
    let session = registration.id();
    Span::current().record("id", tracing::field::display(session));
    info!("connected");

    let heartbeat = Heartbeat::new(config.heartbeat_interval, config.heartbeat_timeout);
    let state = SessionState::new(config);
    let reason = serve_frames(&mut ws, &mut queue, heartbeat, state, session, shared).await;

    // Unregister before saying so: once "disconnected" is logged, no one can reach us.
    drop(registration);
    info!(%reason, "disconnected");
}
// ANCHOR_END: run

// ANCHOR: serve_frames
async fn serve_frames(
    ws: &mut WebSocketStream<TcpStream>,
    queue: &mut mpsc::Receiver<Utf8Bytes>,
    mut heartbeat: Heartbeat,
    mut state: SessionState,
    session: SessionId,
    shared: Shared<'_>,
) -> CloseReason {
    let welcome = ServerMessage::Welcome { session: session.to_string() };
    if let Err(error) = ws.send(Message::text(protocol::encode(&welcome))).await {
        return CloseReason::from(&error);
    }
    loop {
        let frame = tokio::select! {
            received = ws.next() => {
                heartbeat.saw_traffic();
                match received {
                    Some(Ok(Message::Text(text))) => {
                        let reply =
                            shared.chain().dispatch(session, shared.registry(), &mut state, &text);
                        Message::text(protocol::encode(&reply))
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        let trace = state.next_trace(session);
                        info!(%trace, len = bytes.len(), "binary frame rejected");
                        Message::text(protocol::encode(&ServerMessage::Error {
                            id: None,
                            trace,
                            code: ErrorCode::UnsupportedFrame,
                            message: "binary frames are not supported; send JSON in a text frame".into(),
                        }))
                    }
                    Some(Ok(Message::Pong(payload))) => {
                        if let Some(rtt) = heartbeat.pong(&payload) {
                            debug!(rtt_us = rtt.as_micros() as u64, "heartbeat pong");
                        }
                        continue;
                    }
                    // Close and Ping are answered by tungstenite while we keep reading.
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return CloseReason::from(&error),
                    None => return CloseReason::ClientClose,
                }
            },
            // Already encoded by whoever queued it, shared with every other recipient.
            Some(frame) = queue.recv() => Message::Text(frame),
            beat = heartbeat.tick() => match beat {
                Beat::Ping(payload) => {
                    debug!("heartbeat ping");
                    Message::Ping(payload.into())
                }
                Beat::TimedOut => {
                    close(ws, HEARTBEAT_TIMEOUT, "heartbeat timeout").await;
                    return CloseReason::HeartbeatTimeout;
                }
            },
        };
        if let Err(error) = ws.send(frame).await {
            return CloseReason::from(&error);
        }
    }
}
// ANCHOR_END: serve_frames

// ANCHOR: close
/// Sends a Close frame and gives up after a short grace period: the connection is dropped
/// right after either way, because a peer we are closing on is often one that stopped reading.
async fn close(ws: &mut WebSocketStream<TcpStream>, code: CloseCode, reason: &'static str) {
    let frame = CloseFrame { code, reason: reason.into() };
    if tokio::time::timeout(CLOSE_GRACE, ws.close(Some(frame))).await.is_err() {
        debug!("peer did not take our Close frame in time");
    }
}
// ANCHOR_END: close
