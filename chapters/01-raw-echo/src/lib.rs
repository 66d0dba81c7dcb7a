//! Chapter 01: the smallest correct WebSocket echo server.
//!
//! One accept loop, one task per connection, and an echo loop. Everything a later chapter
//! improves on is here in its plainest form, on purpose: the default `WebSocketConfig`, no
//! limits, no heartbeat. This is the "before" picture.

use std::{future::Future, net::SocketAddr, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::{
    WebSocketStream, accept_async,
    tungstenite::{self, Message},
};
use tracing::{debug, info, warn};

// ANCHOR: accept_loop
/// Accepts connections until `shutdown` completes, one task per connection.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // The task owns the socket; a slow or broken peer affects only its own task.
                    tokio::spawn(handle_connection(stream, peer));
                }
                Err(error) => {
                    // Usually a transient per-connection error (or out of file descriptors):
                    // pause instead of spinning; chapter 08 handles this properly.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut shutdown => {
                info!("stopped accepting connections");
                return;
            }
        }
    }
}
// ANCHOR_END: accept_loop

// ANCHOR: handle_connection
async fn handle_connection(stream: TcpStream, peer: SocketAddr) {
    // The HTTP upgrade. Anything that is not a valid WebSocket handshake ends here.
    let ws = match accept_async(stream).await {
        Ok(ws) => ws,
        Err(error) => {
            warn!(%peer, %error, "handshake failed");
            return;
        }
    };
    info!(%peer, "connected");
    let reason = echo(ws).await;
    info!(%peer, reason, "disconnected");
}
// ANCHOR_END: handle_connection

// ANCHOR: echo
/// Echoes text and binary messages until the connection ends; returns why it ended.
async fn echo(mut ws: WebSocketStream<TcpStream>) -> &'static str {
    while let Some(received) = ws.next().await {
        let message = match received {
            Ok(message) => message,
            Err(error) => return close_reason(&error),
        };
        debug!(msg_type = message_type(&message), len = message.len(), "message received");
        match message {
            Message::Text(_) | Message::Binary(_) => {
                if let Err(error) = ws.send(message).await {
                    return close_reason(&error);
                }
            }
            // tungstenite answers a Close with a Close and a Ping with a Pong by itself; we keep
            // reading so that the answer is flushed and the stream can end cleanly.
            Message::Close(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    "client_close"
}
// ANCHOR_END: echo

/// A short, stable name for why a connection ended, for logs.
fn close_reason(error: &tungstenite::Error) -> &'static str {
    use tungstenite::Error;
    match error {
        Error::ConnectionClosed | Error::AlreadyClosed => "client_close",
        Error::Io(_)
        | Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            "io_error"
        }
        _ => "protocol_error",
    }
}

fn message_type(message: &Message) -> &'static str {
    match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
        Message::Frame(_) => "frame",
    }
}
