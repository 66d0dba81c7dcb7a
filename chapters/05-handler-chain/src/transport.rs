//! Transport: the TCP listener, the accept loop and the HTTP upgrade.
//!
//! It turns a TCP connection into a WebSocket stream and hands it to the session layer. It
//! knows nothing of messages.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::accept_async;
use tracing::{Instrument, field, info, info_span, warn};

use crate::{app::App, session};

// ANCHOR: accept_loop
/// Accepts connections until `shutdown` completes, one task per connection.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // `id` is filled in once the session has registered and been given one.
                    let span = info_span!("session", id = field::Empty, %peer);
                    tokio::spawn(upgrade(stream, Arc::clone(&app)).instrument(span));
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

async fn upgrade(stream: TcpStream, app: Arc<App>) {
    match accept_async(stream).await {
        Ok(ws) => session::run(ws, app.shared()).await,
        Err(error) => warn!(%error, "handshake failed"),
    }
}
