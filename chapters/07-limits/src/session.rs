//! Session: one task per connection. It owns the socket, registers itself, keeps the heartbeat,
//! hands each text frame to the chain, and writes two kinds of output: replies to its own
//! requests, and what other sessions queued for it.
//!
//! It never decides what a message means: that is the application's job.

use std::{fmt, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::{net::TcpStream, time::Instant};
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
    registry::{self, Inbox, Registration, SessionId},
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
/// Serves one upgraded connection until it ends. `authenticated`: the upgrade carried a valid
/// token (`--auth-at-upgrade`).
pub async fn run(mut ws: WebSocketStream<TcpStream>, authenticated: bool, shared: Shared<'_>) {
    let opened = Instant::now();
    let config = shared.config();
    let (outbound, queued) = registry::queue(config.outbound_queue);
    // One token for both reasons to stop: the registry cancels it to kick the session, and as
    // a child of the server's shutdown token it is cancelled at shutdown too.
    let registration = shared.registry().register(outbound, shared.shutdown().child_token());
    let session = registration.id();
    Span::current().record("id", tracing::field::display(session));
    // The only path an upgrade is accepted on.
    info!(path = config.ws_path, "session upgraded");

    let mut state = SessionState::new(config);
    state.authenticated |= authenticated;
    let mut link = Link {
        ws: &mut ws,
        queued,
        heartbeat: Heartbeat::new(config.heartbeat_interval, config.heartbeat_timeout),
        state,
        counts: Counts::default(),
        session,
        registration: &registration,
        shared,
    };
    let reason = link.serve().await;
    let counts = std::mem::take(&mut link.counts);
    drop(link); // it borrows the registration, which goes next

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

/// What the session does next, decided as soon as something happens.
enum Step {
    /// Write a frame: a data message or a heartbeat Ping.
    Write(Message),
    /// Nothing to write.
    Wait,
    /// End the session.
    End(End),
}

/// How a session ends, and what it still owes the peer.
enum End {
    /// Answer the peer's Close.
    AnswerClose,
    /// Send a Close frame with this code and reason.
    Close(CloseReason, CloseCode, &'static str),
    /// Send the Close frame the reason calls for, if any (see `stop`).
    Stop(CloseReason),
}

/// One live session: its socket, its queue, its heartbeat and its state.
struct Link<'a> {
    ws: &'a mut WebSocketStream<TcpStream>,
    /// What other sessions queued for us.
    queued: Inbox,
    heartbeat: Heartbeat,
    state: SessionState,
    counts: Counts,
    session: SessionId,
    registration: &'a Registration,
    shared: Shared<'a>,
}

impl Link<'_> {
    // ANCHOR: serve_loop
    async fn serve(&mut self) -> CloseReason {
        let welcome = ServerMessage::Welcome { session: self.session.to_string() };
        let welcome = self.outgoing(welcome.kind(), Utf8Bytes::from(protocol::encode(&welcome)));
        if let Err(reason) = self.write(welcome).await {
            return self.stop(reason).await;
        }
        loop {
            // Wait for something to happen and decide what to do about it; then do it.
            let step = tokio::select! {
                received = self.ws.next() => self.on_frame(received),
                // Already encoded by whoever queued it, shared with every other recipient.
                Some(queued) = self.queued.recv() => {
                    Step::Write(self.outgoing(queued.msg_type, queued.frame))
                }
                beat = self.heartbeat.tick() => self.on_beat(beat),
                () = self.registration.stopped() => Step::End(End::Stop(self.why_stopped())),
            };
            let frame = match step {
                Step::Write(frame) => frame,
                Step::Wait => continue,
                Step::End(end) => return self.end(end).await,
            };
            if let Err(reason) = self.write(frame).await {
                return self.stop(reason).await;
            }
            if self.state.close.take().is_some() {
                warn!(strikes = self.state.strikes, "rate limit abuse: closing the session");
                let end = End::Close(CloseReason::Policy, CloseCode::Policy, "rate limit exceeded");
                return self.end(end).await;
            }
        }
    }
    // ANCHOR_END: serve_loop

    /// A frame from the peer (or the end of its stream): a text frame goes through the chain.
    fn on_frame(&mut self, received: Option<Result<Message, tungstenite::Error>>) -> Step {
        self.heartbeat.saw_traffic();
        let reply = match received {
            Some(Ok(Message::Text(text))) => {
                self.counts.received += 1;
                let registry = self.shared.registry();
                self.shared.chain().dispatch(self.session, registry, &mut self.state, &text)
            }
            Some(Ok(Message::Binary(bytes))) => self.binary(bytes.len()),
            Some(Ok(Message::Pong(payload))) => {
                if let Some(rtt) = self.heartbeat.pong(&payload) {
                    metrics::heartbeat_rtt(rtt);
                    debug!(rtt_us = rtt.as_micros() as u64, "heartbeat pong");
                }
                return Step::Wait;
            }
            Some(Ok(Message::Close(_))) => return Step::End(End::AnswerClose),
            // A Ping is answered by tungstenite while we keep reading.
            Some(Ok(_)) => return Step::Wait,
            Some(Err(error)) => {
                return match read_error(&error) {
                    (reason, Some((code, why))) => {
                        info!(%error, code = u16::from(code), "closing on a protocol violation");
                        Step::End(End::Close(reason, code, why))
                    }
                    (reason, None) => Step::End(End::Stop(reason)),
                };
            }
            None => return Step::End(End::Stop(CloseReason::ClientClose)),
        };
        Step::Write(self.outgoing(reply.kind(), Utf8Bytes::from(protocol::encode(&reply))))
    }

    /// A heartbeat tick: ping the peer, or give up on it.
    fn on_beat(&mut self, beat: Beat) -> Step {
        match beat {
            Beat::Ping(payload) => {
                debug!("heartbeat sent");
                Step::Write(Message::Ping(payload.into()))
            }
            Beat::TimedOut => {
                metrics::heartbeat_timeout();
                let timeout_ms = self.shared.config().heartbeat_timeout.as_millis() as u64;
                warn!(timeout_ms, "heartbeat timeout");
                let reason = CloseReason::HeartbeatTimeout;
                Step::End(End::Close(reason, HEARTBEAT_TIMEOUT, "heartbeat timeout"))
            }
        }
    }

    /// Ends the session, with what it still owes the peer.
    async fn end(&mut self, end: End) -> CloseReason {
        match end {
            // tungstenite has queued the answer to the peer's Close. It goes before anything
            // else: a data frame written after the peer's Close fails, and the peer would see
            // no answer, only the drop.
            End::AnswerClose => {
                answer_close(self.ws).await;
                CloseReason::ClientClose
            }
            End::Close(reason, code, why) => {
                self.close(code, why).await;
                reason
            }
            End::Stop(reason) => self.stop(reason).await,
        }
    }

    fn binary(&mut self, len: usize) -> ServerMessage {
        self.counts.received += 1;
        metrics::message_received("binary", len);
        metrics::error_sent(ErrorCode::UnsupportedFrame.as_str());
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
        let grace = self.shared.config().shutdown_grace;
        let drain = async {
            while let Ok(outgoing) = self.queued.try_recv() {
                let frame = self.outgoing(outgoing.msg_type, outgoing.frame);
                if self.write(frame).await.is_err() {
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

    // ANCHOR: write
    /// A data message on its way out, counted.
    fn outgoing(&mut self, msg_type: &'static str, frame: Utf8Bytes) -> Message {
        metrics::message_sent(msg_type, frame.len());
        debug!(msg_type, len = frame.len(), "message sent");
        self.counts.sent += 1;
        Message::Text(frame)
    }

    /// Writes one frame. A write waits while the peer's buffers are full; it gives up when the
    /// registry kicks the session or after the heartbeat timeout, so a peer that stopped reading
    /// cannot hold the session (and its memory) forever.
    async fn write(&mut self, frame: Message) -> Result<(), CloseReason> {
        let stall = self.shared.config().heartbeat_timeout;
        let shutting_down = self.shared.shutdown().is_cancelled();
        finish_write(self.ws.send(frame), stall, self.registration, shutting_down).await
    }

    /// Ends the session for `reason`, with the Close frame that reason calls for.
    async fn stop(&mut self, reason: CloseReason) -> CloseReason {
        match reason {
            CloseReason::Kicked => {
                warn!("slow consumer: closing the session");
                self.close(CloseCode::Again, "slow consumer").await;
            }
            CloseReason::ServerShutdown => return self.shut_down().await,
            _ => {}
        }
        reason
    }

    /// The registration's token was cancelled: by the registry, or by the server's shutdown.
    fn why_stopped(&self) -> CloseReason {
        if self.shared.shutdown().is_cancelled() {
            CloseReason::ServerShutdown
        } else {
            CloseReason::Kicked
        }
    }
    // ANCHOR_END: write

    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        close(self.ws, code, reason).await;
    }
}

// ANCHOR: finish_write
/// A write, bounded: it gives up when the registry kicks the session, or after `stall` when the
/// peer does not read. Shutting down, the token is cancelled for every session and
/// means no kick: the drain goes on, bounded by `stall` and the grace period.
async fn finish_write(
    write: impl Future<Output = Result<(), tungstenite::Error>>,
    stall: Duration,
    registration: &Registration,
    shutting_down: bool,
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
        () = registration.stopped(), if !shutting_down => Err(CloseReason::Kicked),
    }
}
// ANCHOR_END: finish_write

// ANCHOR: answer_close
/// Sends the answer to the peer's Close that tungstenite queued, within `CLOSE_GRACE`.
async fn answer_close(ws: &mut WebSocketStream<TcpStream>) {
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
async fn close(ws: &mut WebSocketStream<TcpStream>, code: CloseCode, reason: &'static str) {
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

#[cfg(test)]
mod tests {
    use std::future::pending;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::registry::Registry;

    const STALL: Duration = Duration::from_secs(45);

    fn registered(token: &CancellationToken) -> Registration {
        let (outbound, _queued) = registry::queue(1);
        Registry::new().register(outbound, token.clone())
    }

    /// A write that can never finish: the peer stopped reading and its buffers are full.
    fn stuck() -> impl Future<Output = Result<(), tungstenite::Error>> {
        pending()
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_gives_up_after_the_stall_deadline() {
        let token = CancellationToken::new();
        let registration = registered(&token);
        let started = Instant::now();
        assert_eq!(
            finish_write(stuck(), STALL, &registration, false).await,
            Err(CloseReason::Kicked)
        );
        assert_eq!(started.elapsed(), STALL);
    }

    #[tokio::test(start_paused = true)]
    async fn a_kick_ends_a_waiting_write_at_once() {
        let token = CancellationToken::new();
        let registration = registered(&token);
        let kick = tokio::spawn({
            let token = token.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                token.cancel();
            }
        });
        let started = Instant::now();
        assert_eq!(
            finish_write(stuck(), STALL, &registration, false).await,
            Err(CloseReason::Kicked)
        );
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        kick.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutting_down_the_cancelled_token_does_not_cut_the_drain_short() {
        let token = CancellationToken::new();
        let registration = registered(&token);
        token.cancel(); // what the server's shutdown does to every session's token
        let slow = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(())
        };
        let started = Instant::now();
        assert_eq!(finish_write(slow, STALL, &registration, true).await, Ok(()));
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }
}
