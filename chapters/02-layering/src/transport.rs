//! Transport: the TCP listener, the accept loop and the HTTP upgrade.
//!
//! It turns a TCP connection into a WebSocket stream and hands it to the session layer. It
//! knows nothing of messages.

use std::{future::Future, time::Duration};

use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::accept_async;
use tracing::{Instrument, info, info_span, warn};

use crate::session;

// ANCHOR: accept_loop
/// Accepts connections until `shutdown` completes, one task per connection.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let span = info_span!("conn", %peer);
                    tokio::spawn(upgrade(stream).instrument(span));
                }
                Err(error) => {
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

// ANCHOR: upgrade
async fn upgrade(stream: TcpStream) {
    match accept_async(stream).await {
        Ok(ws) => session::run(ws).await,
        Err(error) => warn!(%error, "handshake failed"),
    }
}
// ANCHOR_END: upgrade
