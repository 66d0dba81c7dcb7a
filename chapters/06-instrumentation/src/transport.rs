//! Transport: the TCP listener, the accept loop and the HTTP upgrade.
//!
//! It turns a TCP connection into a WebSocket stream and hands it to the session layer. It
//! knows nothing of messages.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::{
    accept_hdr_async,
    tungstenite::handshake::server::{Request, Response},
};
use tracing::{Instrument, debug, field, info, info_span, warn};

use crate::{app::App, metrics, session};

// ANCHOR: accept_loop
/// Accepts connections until `shutdown` completes, one task per connection.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    metrics::connection_opened();
                    // `id` is filled in once the session has registered and been given one.
                    let span = info_span!("session", id = field::Empty, %peer);
                    // Debug, not info: it is followed by "session upgraded" or "handshake failed".
                    span.in_scope(|| debug!("connection accepted"));
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

// ANCHOR: upgrade
#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
async fn upgrade(stream: TcpStream, app: Arc<App>) {
    // The callback sees the HTTP request of the upgrade: keep its path for the log.
    let mut path = String::new();
    let remember_path = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    match accept_hdr_async(stream, remember_path).await {
        Ok(ws) => session::run(ws, &path, app.shared()).await,
        Err(error) => {
            metrics::handshake_failed();
            warn!(%error, "handshake failed");
        }
    }
}
// ANCHOR_END: upgrade
