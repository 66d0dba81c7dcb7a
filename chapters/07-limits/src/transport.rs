//! Transport: the listener, the accept loop, the HTTP upgrade, and the limits that protect
//! the server before a session exists.
//!
//! Everything here happens before a client costs more than a socket: a connection cap
//! answered with 503, a handshake deadline, a check of the request (path, origin, token) with
//! a proper 4xx answer, and an accept loop that backs off when the process runs out of file
//! descriptors instead of spinning. It knows nothing of messages.

use std::{future::Future, io, ops::ControlFlow, pin::Pin, sync::Arc, time::Duration};

use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_tungstenite::{
    WebSocketStream, accept_hdr_async_with_config,
    tungstenite::{
        self,
        handshake::server::{ErrorResponse, Request, Response},
        http::StatusCode,
        protocol::Role,
    },
};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, field, info, info_span, warn};

use crate::{app::App, metrics, session};

// ANCHOR: accept_loop
/// Accepts connections until `shutdown` completes, then closes every session gracefully.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let capacity = Arc::new(Semaphore::new(app.config.max_connections));
    let sessions = TaskTracker::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::ZERO;
                    metrics::connection_opened();
                    // No permit left: the handshake is answered 503, the session never starts.
                    let permit = Arc::clone(&capacity).try_acquire_owned().ok();
                    let span = info_span!("session", id = field::Empty, %peer);
                    sessions.spawn(connection(stream, permit, Arc::clone(&app)).instrument(span));
                }
                Err(error) => {
                    // Out of file descriptors: every accept fails until a socket closes, so
                    // wait (longer each time) instead of spinning on the error.
                    backoff = if is_out_of_descriptors(&error) {
                        (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1))
                    } else {
                        Duration::ZERO
                    };
                    warn!(%error, backoff_ms = backoff.as_millis() as u64, "accept failed");
                    if back_off(backoff, shutdown.as_mut()).await.is_break() {
                        break;
                    }
                }
            },
            () = &mut shutdown => break,
        }
    }
    // ANCHOR_END: accept_loop
    // ANCHOR: shutdown
    drop(listener);
    info!(sessions = app.registry.session_count(), "shutting down: closing every session");
    app.shutdown.cancel();
    sessions.close();
    // Sessions flush their queues within the grace period; after it, they are dropped.
    let deadline = app.config.shutdown_grace + Duration::from_secs(1);
    if tokio::time::timeout(deadline, sessions.wait()).await.is_err() {
        warn!(remaining = sessions.len(), "shutdown grace period over: dropping the rest");
    }
    info!("shutdown complete");
    // ANCHOR_END: shutdown
}

// ANCHOR: back_off
fn is_out_of_descriptors(error: &io::Error) -> bool {
    const EMFILE: i32 = 24; // this process is out of file descriptors
    const ENFILE: i32 = 23; // the whole system is
    matches!(error.raw_os_error(), Some(EMFILE | ENFILE))
}

/// Sleeps for `delay`, unless `shutdown` completes first: then `Break`, and the accept loop
/// ends now rather than after the sleep.
async fn back_off(
    delay: Duration,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> ControlFlow<()> {
    tokio::select! {
        () = tokio::time::sleep(delay) => ControlFlow::Continue(()),
        () = shutdown => ControlFlow::Break(()),
    }
}
// ANCHOR_END: back_off

// ANCHOR: connection
/// A connection's whole life: the upgrade, then the session. The permit is held until the
/// session ends; `None` means the server is full, and the upgrade is answered 503.
async fn connection(stream: TcpStream, permit: Option<OwnedSemaphorePermit>, app: Arc<App>) {
    let Some((ws, authenticated)) = upgrade(stream, permit.is_some(), &app).await else {
        return; // refused
    };
    session::run(ws, authenticated, app.shared()).await;
    drop(permit); // the session's place is free again
}

/// Turns an accepted TCP connection into a WebSocket (and whether the upgrade authenticated
/// it), or refuses it.
async fn upgrade(
    mut stream: TcpStream,
    has_capacity: bool,
    app: &App,
) -> Option<(WebSocketStream<TcpStream>, bool)> {
    debug!("connection accepted");
    let mut upgrade = Upgrade::new(app, has_capacity);
    if let Err(refusal) = handshake(&mut stream, &mut upgrade, app).await {
        refuse(stream, refusal).await;
        return None;
    }
    let config = Some(app.config.websocket());
    let ws = WebSocketStream::from_raw_socket(stream, Role::Server, config).await;
    Some((ws, upgrade.authenticated))
}

// ANCHOR_END: connection

// ANCHOR: handshake
/// The upgrade, within the handshake deadline.
#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
async fn handshake(
    stream: &mut TcpStream,
    upgrade: &mut Upgrade<'_>,
    app: &App,
) -> Result<(), Refusal> {
    // The handshake borrows the socket, so that we still own it to answer a request that
    // tungstenite rejects, and it must finish in time: a client that trickles its request
    // (slowloris) holds a socket, not the server.
    let handshake = accept_hdr_async_with_config(
        stream,
        |request: &Request, response| upgrade.check(request, response),
        Some(app.config.websocket()),
    );
    match tokio::time::timeout(app.config.handshake_timeout, handshake).await {
        Ok(Ok(_upgraded)) => Ok(()),
        Ok(Err(error)) => {
            Err(upgrade.refusal.unwrap_or_else(|| Refusal::from_handshake_error(&error)))
        }
        Err(_) => Err(Refusal::TIMEOUT),
    }
}

/// Counts and logs a refused upgrade, and answers it when tungstenite could not.
async fn refuse(mut stream: TcpStream, refusal: Refusal) {
    metrics::handshake_failed(refusal.reason);
    // Refusals of ours are an operator's business only in bulk (the metric); a broken
    // request or a timeout is worth a line.
    warn!(reason = refusal.reason, status = refusal.status.map(|s| s.as_u16()), "handshake failed");
    if let Some(response) = refusal.raw_response() {
        // Best effort: the client may be gone already.
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response.as_bytes()))
            .await;
    }
}
// ANCHOR_END: handshake

// ANCHOR: refusal
/// Why a connection did not become a session, and what HTTP answer (if any) we still owe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    /// The `reason` label of `ws_handshake_failures_total`.
    reason: &'static str,
    /// `Some`: we answer with this status ourselves (tungstenite could not).
    status: Option<StatusCode>,
}

impl Refusal {
    const TIMEOUT: Self = Self { reason: "timeout", status: None };

    /// An error of tungstenite's own checks: answer it properly, 426 for a WebSocket version
    /// we do not speak, 400 for any other malformed upgrade.
    fn from_handshake_error(error: &tungstenite::Error) -> Self {
        use tungstenite::{Error, error::ProtocolError};
        match error {
            Error::Protocol(ProtocolError::MissingSecWebSocketVersionHeader) => {
                Self { reason: "bad_version", status: Some(StatusCode::UPGRADE_REQUIRED) }
            }
            Error::Protocol(_) | Error::HttpFormat(_) | Error::Url(_) | Error::Utf8(_) => {
                Self { reason: "bad_request", status: Some(StatusCode::BAD_REQUEST) }
            }
            _ => Self { reason: "io_error", status: None },
        }
    }

    fn raw_response(self) -> Option<String> {
        let status = self.status?;
        let extra = if status == StatusCode::UPGRADE_REQUIRED {
            "Sec-WebSocket-Version: 13\r\n"
        } else {
            ""
        };
        let reason = status.canonical_reason().unwrap_or("");
        Some(format!(
            "HTTP/1.1 {} {reason}\r\n{extra}Connection: close\r\nContent-Length: 0\r\n\r\n",
            status.as_u16()
        ))
    }
}
// ANCHOR_END: refusal

// ANCHOR: upgrade_checks
/// The checks on the HTTP request of the upgrade, in the order a client would want to hear
/// about them. A refusal is sent as an HTTP error by tungstenite; no session is created.
struct Upgrade<'a> {
    app: &'a App,
    has_capacity: bool,
    authenticated: bool,
    refusal: Option<Refusal>,
}

#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
impl<'a> Upgrade<'a> {
    fn new(app: &'a App, has_capacity: bool) -> Self {
        Self { app, has_capacity, authenticated: false, refusal: None }
    }

    fn check(&mut self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        let config = &self.app.config;
        if request.uri().path() != config.ws_path {
            return self.refuse("not_found", StatusCode::NOT_FOUND, "no WebSocket endpoint here");
        }
        if !self.has_capacity {
            return self.refuse(
                "overloaded",
                StatusCode::SERVICE_UNAVAILABLE,
                "too many connections; retry later",
            );
        }
        let origin = request.headers().get("origin").and_then(|value| value.to_str().ok());
        if let Some(origin) = origin {
            if !config.allowed_origins.is_empty()
                && !config.allowed_origins.iter().any(|allowed| allowed == origin)
            {
                return self.refuse(
                    "forbidden_origin",
                    StatusCode::FORBIDDEN,
                    "origin not allowed",
                );
            }
        }
        if config.auth_at_upgrade {
            // The token is compared, never logged.
            match upgrade_token(request) {
                Some(token) if self.app.tokens.accepts(token) => self.authenticated = true,
                _ => {
                    return self.refuse(
                        "unauthorized",
                        StatusCode::UNAUTHORIZED,
                        "a valid token is required",
                    );
                }
            }
        }
        Ok(response)
    }
    // ANCHOR_END: upgrade_checks

    fn refuse(
        &mut self,
        reason: &'static str,
        status: StatusCode,
        body: &str,
    ) -> Result<Response, ErrorResponse> {
        self.refusal = Some(Refusal { reason, status: None });
        let mut response = ErrorResponse::new(Some(body.to_owned()));
        *response.status_mut() = status;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", "1".parse().expect("a valid header value"));
        }
        Err(response)
    }
}

// ANCHOR: upgrade_token
/// `Authorization: Bearer <token>`, or `?token=<token>` for browsers (which cannot set headers
/// on a WebSocket).
fn upgrade_token(request: &Request) -> Option<&str> {
    let bearer = request.headers().get("authorization").and_then(|value| value.to_str().ok());
    if let Some(token) = bearer.and_then(|value| value.strip_prefix("Bearer ")) {
        return Some(token);
    }
    request.uri().query()?.split('&').find_map(|pair| pair.strip_prefix("token="))
}
// ANCHOR_END: upgrade_token

#[cfg(test)]
mod tests {
    use super::*;

    /// A shutdown during a back-off ends it at once: the server stops when it is told to, not
    /// up to a second later.
    #[tokio::test(start_paused = true)]
    async fn a_back_off_ends_as_soon_as_shutdown_completes() {
        let started = tokio::time::Instant::now();
        let shutdown = tokio::time::sleep(Duration::from_millis(10));
        tokio::pin!(shutdown);
        assert!(back_off(Duration::from_secs(1), shutdown.as_mut()).await.is_break());
        assert_eq!(started.elapsed(), Duration::from_millis(10));

        let running = std::future::pending::<()>();
        tokio::pin!(running);
        assert!(back_off(Duration::from_secs(1), running.as_mut()).await.is_continue());
        assert_eq!(started.elapsed(), Duration::from_millis(1010));
    }
}
