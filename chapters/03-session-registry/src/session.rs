//! Session: one task per connection. It owns the socket, registers itself, reads frames and
//! hands text to the protocol and the application, and writes two kinds of output: replies to
//! its own requests, and what other sessions queued for it.
//!
//! It never decides what a message means: that is the application's job.

use std::{fmt, sync::Arc};

use futures::{SinkExt, StreamExt};
use tokio::{net::TcpStream, sync::mpsc};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, Message, Utf8Bytes},
};
use tracing::{Span, debug, info};

use crate::{
    Config,
    application::{self, Context},
    protocol::{self, ProtocolError, ServerMessage},
    registry::Registry,
};

// ANCHOR: close_reason
/// Why a session ended: a stable name for logs (and, from chapter 06, for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection with a Close frame.
    ClientClose,
    /// The client broke the WebSocket protocol (bad frame, invalid UTF-8, too large, ...).
    ProtocolError,
    /// The connection failed underneath us (reset, broken pipe, closed without a Close frame).
    IoError,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientClose => "client_close",
            Self::ProtocolError => "protocol_error",
            Self::IoError => "io_error",
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
// ANCHOR_END: close_reason

// ANCHOR: run
/// Serves one upgraded connection until it ends.
pub async fn run(mut ws: WebSocketStream<TcpStream>, registry: &Arc<Registry>, config: &Config) {
    let (outbound, mut queue) = mpsc::channel(config.outbound_queue);
    let registration = registry.register(outbound);
    let cx = Context { session: registration.id(), registry };
    Span::current().record("id", tracing::field::display(cx.session));
    info!("connected");

    let reason = serve_frames(&mut ws, &mut queue, cx).await;

    // Unregister before saying so: once "disconnected" is logged, no one can reach us.
    drop(registration);
    info!(%reason, "disconnected");
}
// ANCHOR_END: run

// ANCHOR: serve_frames
async fn serve_frames(
    ws: &mut WebSocketStream<TcpStream>,
    queue: &mut mpsc::Receiver<Utf8Bytes>,
    cx: Context<'_>,
) -> CloseReason {
    let welcome = ServerMessage::Welcome { session: cx.session.to_string() };
    if let Err(error) = ws.send(Message::text(protocol::encode(&welcome))).await {
        return CloseReason::from(&error);
    }
    loop {
        let frame = tokio::select! {
            received = ws.next() => match received {
                Some(Ok(Message::Text(text))) => protocol::encode(&handle_text(&text, cx)).into(),
                Some(Ok(Message::Binary(bytes))) => {
                    debug!(msg_type = "binary", len = bytes.len(), "message received");
                    protocol::encode(&ProtocolError::unsupported_frame().into()).into()
                }
                // Close, Ping and Pong are answered by tungstenite while we keep reading.
                Some(Ok(_)) => continue,
                Some(Err(error)) => return CloseReason::from(&error),
                None => return CloseReason::ClientClose,
            },
            // Already encoded by whoever queued it, shared with every other recipient.
            Some(frame) = queue.recv() => frame,
        };
        if let Err(error) = ws.send(Message::Text(frame)).await {
            return CloseReason::from(&error);
        }
    }
}
// ANCHOR_END: serve_frames

// ANCHOR: handle_text
fn handle_text(text: &str, cx: Context<'_>) -> ServerMessage {
    match protocol::decode(text) {
        Ok(request) => {
            debug!(msg_type = request.kind(), len = text.len(), "message received");
            application::handle(cx, request)
        }
        Err(error) => {
            // The client's mistake, not the server's: answered, logged, the session goes on.
            info!(code = %error.code, id = error.id.as_deref(), "bad request: {}", error.message);
            error.into()
        }
    }
}
// ANCHOR_END: handle_text
