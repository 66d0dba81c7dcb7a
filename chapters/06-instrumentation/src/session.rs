//! Session: one task per connection. It owns the socket, registers itself, keeps the heartbeat,
//! hands each text frame to the chain, and writes two kinds of output: replies to its own
//! requests, and what other sessions queued for it.
//!
//! It never decides what a message means: that is the application's job.

use std::{fmt, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio::{net::TcpStream, sync::mpsc};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        self, Message, Utf8Bytes,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};
use tracing::{Span, debug, info, warn};

use crate::{
    app::Shared,
    heartbeat::{Beat, Heartbeat},
    metrics,
    protocol::{self, ErrorCode, ServerMessage},
    registry::{Outgoing, SessionId},
    state::SessionState,
};

/// The close code for a peer that missed its heartbeats (4000-4999 are for applications).
pub const HEARTBEAT_TIMEOUT: CloseCode = CloseCode::Library(4000);

/// How long we try to deliver our Close frame to a peer before dropping the connection anyway:
/// a dead peer may never read it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Why a session ended: a stable name for logs and the `reason` label of metrics.
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
pub async fn run(mut ws: WebSocketStream<TcpStream>, path: &str, shared: Shared<'_>) {
    let opened = Instant::now();
    let config = shared.config();
    let (outbound, mut queue) = mpsc::channel(config.outbound_queue);
    let registration = shared.registry().register(outbound);
    let session = registration.id();
    Span::current().record("id", tracing::field::display(session));
    info!(path, "session upgraded");

    let heartbeat = Heartbeat::new(config.heartbeat_interval, config.heartbeat_timeout);
    let state = SessionState::new(config);
    let mut counts = Counts::default();
    let reason =
        serve_frames(&mut ws, &mut queue, heartbeat, state, &mut counts, session, shared).await;

    // Unregister before saying so: once "session closed" is logged, no one can reach us.
    drop(registration);
    let lifetime = opened.elapsed();
    metrics::session_closed(reason.as_str(), lifetime);
    info!(
        %reason,
        duration_ms = lifetime.as_millis() as u64,
        messages_in = counts.received,
        messages_out = counts.sent,
        "session closed"
    );
}
// ANCHOR_END: run

/// Data messages in and out of one session, for its closing log line.
#[derive(Debug, Default)]
struct Counts {
    received: u64,
    sent: u64,
}

// ANCHOR: serve_frames
async fn serve_frames(
    ws: &mut WebSocketStream<TcpStream>,
    queue: &mut mpsc::Receiver<Outgoing>,
    mut heartbeat: Heartbeat,
    mut state: SessionState,
    counts: &mut Counts,
    session: SessionId,
    shared: Shared<'_>,
) -> CloseReason {
    let welcome = ServerMessage::Welcome { session: session.to_string() };
    if let Err(error) = send(ws, counts, welcome.kind(), protocol::encode(&welcome).into()).await {
        return CloseReason::from(&error);
    }
    loop {
        let (msg_type, frame) = tokio::select! {
            received = ws.next() => {
                heartbeat.saw_traffic();
                let reply = match received {
                    Some(Ok(Message::Text(text))) => {
                        counts.received += 1;
                        shared.chain().dispatch(session, shared.registry(), &mut state, &text)
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        counts.received += 1;
                        metrics::message_received("binary", bytes.len());
                        metrics::error_sent(ErrorCode::UnsupportedFrame.as_str());
                        let trace = state.next_trace(session);
                        info!(%trace, len = bytes.len(), "binary frame rejected");
                        ServerMessage::Error {
                            id: None,
                            trace,
                            code: ErrorCode::UnsupportedFrame,
                            message: "binary frames are not supported; send JSON in a text frame".into(),
                        }
                    }
                    Some(Ok(Message::Pong(payload))) => {
                        if let Some(rtt) = heartbeat.pong(&payload) {
                            metrics::heartbeat_rtt(rtt);
                            debug!(rtt_us = rtt.as_micros() as u64, "heartbeat pong");
                        }
                        continue;
                    }
                    // Close and Ping are answered by tungstenite while we keep reading.
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return CloseReason::from(&error),
                    None => return CloseReason::ClientClose,
                };
                (reply.kind(), Utf8Bytes::from(protocol::encode(&reply)))
            },
            // Already encoded by whoever queued it, shared with every other recipient.
            Some(outgoing) = queue.recv() => (outgoing.msg_type, outgoing.frame),
            beat = heartbeat.tick() => match beat {
                Beat::Ping(payload) => {
                    debug!("heartbeat sent");
                    if let Err(error) = ws.send(Message::Ping(payload.into())).await {
                        return CloseReason::from(&error);
                    }
                    continue;
                }
                Beat::TimedOut => {
                    metrics::heartbeat_timeout();
                    warn!(timeout_ms = shared.config().heartbeat_timeout.as_millis() as u64, "heartbeat timeout");
                    close(ws, HEARTBEAT_TIMEOUT, "heartbeat timeout").await;
                    return CloseReason::HeartbeatTimeout;
                }
            },
        };
        if let Err(error) = send(ws, counts, msg_type, frame).await {
            return CloseReason::from(&error);
        }
    }
}
// ANCHOR_END: serve_frames

// ANCHOR: send
/// Writes one data message, and counts it.
async fn send(
    ws: &mut WebSocketStream<TcpStream>,
    counts: &mut Counts,
    msg_type: &'static str,
    frame: Utf8Bytes,
) -> Result<(), tungstenite::Error> {
    metrics::message_sent(msg_type, frame.len());
    debug!(msg_type, len = frame.len(), "message sent");
    counts.sent += 1;
    ws.send(Message::Text(frame)).await
}
// ANCHOR_END: send

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
