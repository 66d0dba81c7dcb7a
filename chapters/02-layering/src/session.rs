//! Session: one task per connection. It owns the socket, reads frames, passes text frames to the
//! protocol and the application, writes the replies, and knows why the connection ended.
//!
//! It never decides what a message means: that is the application's job.

use std::fmt;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, Message},
};
use tracing::{debug, info};

use crate::{
    application,
    protocol::{self, ProtocolError, Reply},
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
pub async fn run(mut ws: WebSocketStream<TcpStream>) {
    info!("connected");
    let reason = serve_frames(&mut ws).await;
    info!(%reason, "disconnected");
}

async fn serve_frames(ws: &mut WebSocketStream<TcpStream>) -> CloseReason {
    while let Some(received) = ws.next().await {
        let reply = match received {
            Ok(Message::Text(text)) => handle_text(&text),
            Ok(Message::Binary(bytes)) => {
                debug!(msg_type = "binary", len = bytes.len(), "message received");
                ProtocolError::unsupported_frame().into()
            }
            // Close, Ping and Pong are answered by tungstenite while we keep reading.
            Ok(_) => continue,
            Err(error) => return CloseReason::from(&error),
        };
        if let Err(error) = ws.send(Message::text(protocol::encode(&reply))).await {
            return CloseReason::from(&error);
        }
    }
    CloseReason::ClientClose
}
// ANCHOR_END: run

// ANCHOR: handle_text
fn handle_text(text: &str) -> Reply {
    match protocol::decode(text) {
        Ok(request) => {
            debug!(msg_type = request.kind(), len = text.len(), "message received");
            application::handle(request)
        }
        Err(error) => {
            // The client's mistake, not the server's: answered, logged, the session goes on.
            info!(code = %error.code, id = error.id.as_deref(), "bad request: {}", error.message);
            error.into()
        }
    }
}
// ANCHOR_END: handle_text
