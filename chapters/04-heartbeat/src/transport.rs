//! Transport: the TCP listener, the accept loop and the HTTP upgrade.
//!
//! It turns a TCP connection into a WebSocket stream and hands it to the session layer. It
//! knows nothing of messages.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::accept_async;
use tracing::{Instrument, field, info, info_span, warn};

use crate::{Config, registry::Registry, session};

// ANCHOR: accept_loop
/// Accepts connections until `shutdown` completes, one task per connection.
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Registry>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) {
    let config = Arc::new(config);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // `id` is filled in once the session has registered and been given one.
                    let span = info_span!("session", id = field::Empty, %peer);
                    let (registry, config) = (Arc::clone(&registry), Arc::clone(&config));
                    tokio::spawn(upgrade(stream, registry, config).instrument(span));
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
async fn upgrade(stream: TcpStream, registry: Arc<Registry>, config: Arc<Config>) {
    match accept_async(stream).await {
        Ok(ws) => session::run(ws, &registry, &config).await,
        Err(error) => warn!(%error, "handshake failed"),
    }
}
// ANCHOR_END: upgrade
