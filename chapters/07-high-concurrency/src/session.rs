//! Session: one task per connection. It owns the socket, registers itself, keeps the heartbeat,
//! hands each text frame to the chain, and writes two kinds of output: replies to its own
//! requests, and what other sessions queued for it.
//!
//! It never decides what a message means: that is the application's job.

use std::{fmt, time::Duration};

use flume::r#async::RecvStream;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        self, Message, Utf8Bytes,
        protocol::{CloseFrame, Role, frame::coding::CloseCode},
    },
};
use tracing::{Span, debug, info, warn};

use crate::{
    app::App,
    heartbeat::{Beat, Heartbeat},
    protocol::{self, ErrorCode, ServerMessage},
    registry::{self, Inbox, Outgoing, Registration, SessionId},
    socket::Socket,
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
    /// The client broke the WebSocket protocol: a bad frame (1002), invalid UTF-8 (1007), a
    /// message over the size limit (1009).
    ProtocolError,
    /// The connection failed underneath us (reset, broken pipe, closed without a Close frame).
    IoError,
    /// Nothing heard from the client, not even a Pong, for the heartbeat timeout.
    HeartbeatTimeout,
    /// The server is shutting down (1001).
    ServerShutdown,
    /// The registry dropped a session that could not keep up (slow-consumer policy `close`).
    Kicked,
    /// The session kept breaking a rule after being told (rate-limit abuse, 1008).
    Policy,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientClose => "client_close",
            Self::ProtocolError => "protocol_error",
            Self::IoError => "io_error",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::ServerShutdown => "server_shutdown",
            Self::Kicked => "kicked",
            Self::Policy => "policy",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ANCHOR: read_error
/// What a read error means, and the Close frame (if any) the client is owed for it.
fn read_error(error: &tungstenite::Error) -> (CloseReason, Option<(CloseCode, &'static str)>) {
    use tungstenite::{Error, error::ProtocolError as Wire};
    match error {
        Error::ConnectionClosed | Error::AlreadyClosed => (CloseReason::ClientClose, None),
        Error::Io(_) | Error::Protocol(Wire::ResetWithoutClosingHandshake) => {
            (CloseReason::IoError, None)
        }
        Error::Utf8(_) => (CloseReason::ProtocolError, Some((CloseCode::Invalid, "invalid UTF-8"))),
        Error::Capacity(_) => {
            (CloseReason::ProtocolError, Some((CloseCode::Size, "message too big")))
        }
        _ => (CloseReason::ProtocolError, Some((CloseCode::Protocol, "protocol error"))),
    }
}
// ANCHOR_END: read_error

/// A write error: the peer is gone or broken; there is no one left to send a Close to.
fn write_error(error: &tungstenite::Error) -> CloseReason {
    match read_error(error).0 {
        CloseReason::ClientClose => CloseReason::ClientClose,
        _ => CloseReason::IoError,
    }
}

// ANCHOR: run
/// Serves one upgraded connection until it ends.
pub async fn run(socket: Socket, path: &str, authenticated: bool, app: &App) {
    let opened = Instant::now();
    let mut ws =
        WebSocketStream::from_raw_socket(socket, Role::Server, Some(app.config.websocket())).await;
    let (outbound, inbox) = registry::queue(app.config.outbound_queue);
    let registration = app.registry.register(outbound);
    let session = registration.id();
    Span::current().record("id", tracing::field::display(session));
    info!(path, "session upgraded");

    let mut state = SessionState::new(&app.config);
    state.authenticated |= authenticated;
    let mut link = Link {
        ws: &mut ws,
        queued: inbox.stream(),
        inbox: &inbox,
        heartbeat: Heartbeat::new(app.config.heartbeat_interval, app.config.heartbeat_timeout),
        state,
        counts: Counts::default(),
        session,
        registration: &registration,
        app,
    };
    let reason = link.serve().await;
    let counts = std::mem::take(&mut link.counts);
    drop(link); // it borrows the registration, which goes next

    // Unregister before saying so: once "session closed" is logged, no one can reach us.
    drop(registration);
    let lifetime = opened.elapsed();
    app.metrics.session_closed(reason.as_str(), lifetime);
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

/// One live session: its socket, its queue, its heartbeat and its state.
struct Link<'a> {
    ws: &'a mut WebSocketStream<Socket>,
    /// Waits for what others queue for us (one waker registration, kept across the loop).
    queued: RecvStream<'a, Outgoing>,
    inbox: &'a Inbox,
    heartbeat: Heartbeat,
    state: SessionState,
    counts: Counts,
    session: SessionId,
    registration: &'a Registration,
    app: &'a App,
}

impl Link<'_> {
    // ANCHOR: serve_frames
    async fn serve(&mut self) -> CloseReason {
        // In a block of its own, so that the message is not kept in the future's state for the
        // session's whole life.
        let (kind, frame) = {
            let welcome = ServerMessage::Welcome { session: self.session.to_string() };
            (welcome.kind(), Utf8Bytes::from(protocol::encode(&welcome)))
        };
        if let Err(reason) = self.send(kind, frame).await {
            return self.stop(reason).await;
        }
        loop {
            let (msg_type, frame) = tokio::select! {
                received = self.ws.next() => {
                    self.heartbeat.saw_traffic();
                    let reply = match received {
                        Some(Ok(Message::Text(text))) => {
                            self.counts.received += 1;
                            self.app.chain.dispatch(self.session, &self.app.registry, &mut self.state, &text)
                        }
                        Some(Ok(Message::Binary(bytes))) => self.binary(bytes.len()),
                        Some(Ok(Message::Pong(payload))) => {
                            if let Some(rtt) = self.heartbeat.pong(&payload) {
                                self.app.metrics.heartbeat_rtt(rtt);
                                debug!(rtt_us = rtt.as_micros() as u64, "heartbeat pong");
                            }
                            continue;
                        }
                        // The peer's Close: tungstenite has queued the answer. Send it and end
                        // here: a message queued for us must not go first (a write after the
                        // peer's Close fails, and the peer would see no answer, only the drop).
                        Some(Ok(Message::Close(_))) => {
                            Box::pin(answer_close(self.ws)).await;
                            return CloseReason::ClientClose;
                        }
                        // A Ping is answered by tungstenite while we keep reading.
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => {
                            let (reason, close) = read_error(&error);
                            if let Some((code, why)) = close {
                                info!(%error, code = u16::from(code), "closing on a protocol violation");
                                self.close(code, why).await;
                            }
                            return reason;
                        }
                        None => return CloseReason::ClientClose,
                    };
                    (reply.kind(), Utf8Bytes::from(protocol::encode(&reply)))
                },
                // Already encoded by whoever queued it, shared with every other recipient.
                Some(outgoing) = self.queued.next() => (outgoing.msg_type, outgoing.frame),
                beat = self.heartbeat.tick() => match beat {
                    Beat::Ping(payload) => {
                        debug!("heartbeat sent");
                        if let Err(error) = self.ws.send(Message::Ping(payload.into())).await {
                            return write_error(&error);
                        }
                        continue;
                    }
                    Beat::TimedOut => {
                        self.app.metrics.heartbeat_timeout();
                        warn!(timeout_ms = self.app.config.heartbeat_timeout.as_millis() as u64, "heartbeat timeout");
                        self.close(HEARTBEAT_TIMEOUT, "heartbeat timeout").await;
                        return CloseReason::HeartbeatTimeout;
                    }
                },
                () = self.registration.kicked() => return self.stop(CloseReason::Kicked).await,
                () = self.app.shutdown.cancelled() => return Box::pin(self.shut_down()).await,
            };
            if let Err(reason) = self.send(msg_type, frame).await {
                return self.stop(reason).await;
            }
            if self.state.close.take().is_some() {
                warn!(strikes = self.state.strikes, "rate limit abuse: closing the session");
                self.close(CloseCode::Policy, "rate limit exceeded").await;
                return CloseReason::Policy;
            }
        }
    }
    // ANCHOR_END: serve_frames

    fn binary(&mut self, len: usize) -> ServerMessage {
        self.counts.received += 1;
        self.app.metrics.message_received("binary", len);
        self.app.metrics.error_sent(ErrorCode::UnsupportedFrame.as_str());
        let trace = self.state.next_trace(self.session);
        info!(%trace, len, "binary frame rejected");
        ServerMessage::Error {
            id: None,
            trace,
            code: ErrorCode::UnsupportedFrame,
            message: "binary frames are not supported; send JSON in a text frame".into(),
        }
    }

    // ANCHOR: shut_down
    /// Delivers what is already queued for this session (within the grace period), then
    /// says goodbye with 1001.
    async fn shut_down(&mut self) -> CloseReason {
        let grace = self.app.config.shutdown_grace;
        let drain = async {
            while let Ok(outgoing) = self.inbox.try_recv() {
                if self.send(outgoing.msg_type, outgoing.frame).await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            warn!("shutdown grace period over before the queue was flushed");
        }
        self.close(CloseCode::Away, "server shutdown").await;
        CloseReason::ServerShutdown
    }
    // ANCHOR_END: shut_down

    // ANCHOR: send
    /// Writes one data message, and counts it. A write waits while the peer's buffers are full;
    /// it gives up when the registry kicks the session or after the heartbeat timeout, so a
    /// peer that stopped reading cannot hold the session (and its memory) forever.
    async fn send(&mut self, msg_type: &'static str, frame: Utf8Bytes) -> Result<(), CloseReason> {
        self.app.metrics.message_sent(msg_type, frame.len());
        debug!(msg_type, len = frame.len(), "message sent");
        self.counts.sent += 1;
        let mut write = self.ws.send(Message::Text(frame));
        // Almost every write completes at once. Only one that must wait needs the deadline and
        // the kick, and their state is boxed: inline, it would make every session bigger.
        match (&mut write).now_or_never() {
            Some(written) => written.map_err(|error| write_error(&error)),
            None => {
                let stall = self.app.config.heartbeat_timeout;
                Box::pin(finish_write(write, stall, self.registration)).await
            }
        }
    }

    /// Ends the session for `reason`, with the Close frame that reason calls for.
    async fn stop(&mut self, reason: CloseReason) -> CloseReason {
        if reason == CloseReason::Kicked {
            warn!("slow consumer: closing the session");
            self.close(CloseCode::Again, "slow consumer").await;
        }
        reason
    }
    // ANCHOR_END: send

    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        // Boxed, like `shut_down`: a future is as large as its largest await point, and every
        // idle session would otherwise carry the state of these rare ones.
        Box::pin(close(self.ws, code, reason)).await;
    }
}

// ANCHOR: finish_write
/// A write that has to wait for the peer to read: it gives up when the registry kicks the
/// session, or after `stall`.
async fn finish_write(
    write: impl Future<Output = Result<(), tungstenite::Error>>,
    stall: Duration,
    registration: &Registration,
) -> Result<(), CloseReason> {
    tokio::select! {
        written = tokio::time::timeout(stall, write) => match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(write_error(&error)),
            Err(_) => {
                warn!("write stalled for the heartbeat timeout: the peer is not reading");
                Err(CloseReason::Kicked)
            }
        },
        () = registration.kicked() => Err(CloseReason::Kicked),
    }
}
// ANCHOR_END: finish_write

// ANCHOR: answer_close
/// Sends the answer to the peer's Close that tungstenite queued, within `CLOSE_GRACE`.
async fn answer_close(ws: &mut WebSocketStream<Socket>) {
    match tokio::time::timeout(CLOSE_GRACE, ws.flush()).await {
        Ok(Ok(())) | Ok(Err(tungstenite::Error::ConnectionClosed)) => {}
        Ok(Err(error)) => debug!(%error, "answering the peer's Close failed"),
        Err(_) => debug!("peer did not take our Close in time"),
    }
}
// ANCHOR_END: answer_close

// ANCHOR: close
/// The closing handshake, bounded: send our Close frame and, for a peer that is still
/// listening, wait for its answer so that it sees a clean close. A peer we are closing on is
/// often one that stopped reading, so after a short grace period the connection is dropped
/// either way.
async fn close(ws: &mut WebSocketStream<Socket>, code: CloseCode, reason: &'static str) {
    // A silent or stalled peer will not answer: do not wait for it.
    let peer_listens = !matches!(code, HEARTBEAT_TIMEOUT | CloseCode::Again);
    let frame = CloseFrame { code, reason: reason.into() };
    let handshake = async {
        ws.close(Some(frame)).await?;
        // tungstenite ends the stream once the peer's Close has arrived.
        while peer_listens && ws.next().await.transpose()?.is_some() {}
        Ok::<_, tungstenite::Error>(())
    };
    match tokio::time::timeout(CLOSE_GRACE, handshake).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => debug!(%error, "closing handshake failed"),
        Err(_) => debug!("peer did not complete the closing handshake in time"),
    }
}
// ANCHOR_END: close
