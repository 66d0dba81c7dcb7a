//! The admin listener: metrics, health and the log level, on a separate address.
//!
//! It binds to loopback by default and is never served on the public WebSocket port: what it
//! shows (and the log level it changes) is for operators, not for clients. The demo page lives
//! here too, so that the WebSocket hot path pays nothing for it.
//!
//! | endpoint | does |
//! | --- | --- |
//! | `GET /` | the browser demo (`static/demo.html`), pointed at the public WebSocket address |
//! | `GET /metrics` | Prometheus exposition text |
//! | `GET /healthz` | `200 {"status":"ok"\|"degraded","cluster":"off"\|"up"\|"down","node":N,"sessions":N,"rooms":M}` |
//! | `GET /log-level` | the log filter in force, in `RUST_LOG` syntax |
//! | `PUT /log-level` | replaces it with the request body, e.g. `info,ch09_scale_out=debug` |

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::{Html, IntoResponse},
    routing::get,
};
use prometheus::{Registry as MetricsRegistry, TextEncoder};
use serde_json::json;
use shared::logging::LogControl;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::app::App;

/// What the admin endpoints read and change.
#[derive(Clone)]
pub struct Admin {
    pub app: Arc<App>,
    /// What `/metrics` renders: the registry the Prometheus recorder records into.
    pub metrics: MetricsRegistry,
    pub log: LogControl,
    /// Where the public WebSocket listener is bound: the demo page connects there.
    pub public_addr: SocketAddr,
}

impl Admin {
    /// The URL WebSocket clients connect to, e.g. `ws://127.0.0.1:9000/`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}{}", self.public_addr, self.app.config.ws_path)
    }
}

// ANCHOR: router
pub fn router(admin: Admin) -> Router {
    // Rendered once: every request gets the same bytes.
    let page = Bytes::from(demo_page(&admin.ws_url()));
    Router::new()
        .route("/", get(move || demo(page.clone())))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/log-level", get(log_level).put(set_log_level))
        .with_state(admin)
}
// ANCHOR_END: router

/// Serves the admin endpoints until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    admin: Admin,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Err(error) = axum::serve(listener, router(admin)).with_graceful_shutdown(shutdown).await
    {
        warn!(%error, "admin listener failed");
    }
}

// ANCHOR: demo_page
/// The demo page, one self-contained HTML file compiled into the binary.
const DEMO_HTML: &str = include_str!("../static/demo.html");

/// The page may run inline script and style and open WebSockets; nothing else, from nowhere.
const DEMO_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; img-src data:; connect-src ws: wss:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The page with the WebSocket URL filled in (a `<meta>` attribute the script reads). The URL
/// is escaped for the attribute, so no listen address or path can change the page around it.
pub fn demo_page(ws_url: &str) -> String {
    let mut escaped = String::with_capacity(ws_url.len());
    for c in ws_url.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    DEMO_HTML.replace("{{WS_URL}}", &escaped)
}

async fn demo(page: Bytes) -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, DEMO_CSP),
            // The URL in it changes when the server restarts on another port.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(page),
    )
}
// ANCHOR_END: demo_page

async fn metrics(State(admin): State<Admin>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], render(&admin.metrics))
}

/// The Prometheus text format of every series in `metrics`.
fn render(metrics: &MetricsRegistry) -> String {
    TextEncoder::new().encode_to_string(&metrics.gather()).unwrap_or_else(|error| {
        warn!(%error, "metrics could not be rendered");
        String::new()
    })
}

// ANCHOR: healthz
async fn healthz(State(admin): State<Admin>) -> impl IntoResponse {
    let registry = &admin.app.registry;
    // A node whose cluster link is down still serves its own sessions: degraded, not dead.
    let (status, cluster) = match &admin.app.cluster {
        None => ("ok", "off"),
        Some(link) if link.is_up() => ("ok", "up"),
        Some(_) => ("degraded", "down"),
    };
    Json(json!({
        "status": status,
        "cluster": cluster,
        "node": registry.node(),
        "sessions": registry.session_count(),
        "rooms": registry.room_count(),
    }))
}
// ANCHOR_END: healthz

async fn log_level(State(admin): State<Admin>) -> String {
    admin.log.current()
}

// ANCHOR: set_log_level
async fn set_log_level(State(admin): State<Admin>, directives: String) -> (StatusCode, String) {
    let directives = directives.trim();
    match admin.log.set(directives) {
        Ok(()) => {
            info!(directives, "log level changed");
            (StatusCode::OK, admin.log.current())
        }
        Err(error) => (StatusCode::BAD_REQUEST, format!("{error:#}\n")),
    }
}
// ANCHOR_END: set_log_level

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_page_gets_the_url_once_and_escaped() {
        assert_eq!(DEMO_HTML.matches("{{WS_URL}}").count(), 1, "one placeholder to fill");
        let page = demo_page("ws://127.0.0.1:9000/");
        assert!(page.contains(r#"content="ws://127.0.0.1:9000/""#));
        assert!(!page.contains("{{WS_URL}}"));
        let hostile = demo_page(r#"ws://h/"><script>alert(1)</script>"#);
        assert!(hostile.contains("ws://h/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}
