#![allow(unused_imports)] // the imports you will need; the lint comes back once you use them

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{WebSocketStream, tungstenite::Message};

/// Serves one upgraded connection:
/// - a text message is sent back in upper case (`"hi"` -> `"HI"`);
/// - a binary message is sent back unchanged;
/// - when the client closes the connection, return how many messages were echoed.
pub async fn shout_echo(ws: WebSocketStream<TcpStream>) -> usize {
    let _ = ws;
    todo!("read messages with `ws.next()`, answer with `ws.send(..)`")
}
