use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{WebSocketStream, tungstenite::Message};

/// Serves one upgraded connection:
/// - a text message is sent back in upper case (`"hi"` -> `"HI"`);
/// - a binary message is sent back unchanged;
/// - when the client closes the connection, return how many messages were echoed.
pub async fn shout_echo(mut ws: WebSocketStream<TcpStream>) -> usize {
    let mut echoed = 0;
    while let Some(Ok(message)) = ws.next().await {
        let reply = match message {
            Message::Text(text) => Message::text(text.to_uppercase()),
            Message::Binary(bytes) => Message::Binary(bytes),
            // Close, Ping and Pong are answered by tungstenite while we keep reading.
            _ => continue,
        };
        if ws.send(reply).await.is_err() {
            break;
        }
        echoed += 1;
    }
    echoed
}
