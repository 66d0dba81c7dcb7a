//! The admin listener: metrics, health and the log level, on a separate address.
//!
//! It binds to loopback by default and is never served on the public WebSocket port: what it
//! shows (and the log level it changes) is for operators, not for clients.
//!
//! | endpoint | does |
//! | --- | --- |
//! | `GET /metrics` | Prometheus exposition text |
//! | `GET /healthz` | `200 {"status":"ok","sessions":N,"rooms":M}` |
//! | `GET /log-level` | the log filter in force, in `RUST_LOG` syntax |
//! | `PUT /log-level` | replaces it with the request body, e.g. `info,ch07_limits=debug` |

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use shared::logging::LogControl;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::app::App;

/// What the admin endpoints read and change.
#[derive(Clone)]
pub struct Admin {
    pub app: Arc<App>,
    pub metrics: PrometheusHandle,
    pub log: LogControl,
}

// ANCHOR: router
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/log-level", get(log_level).put(set_log_level))
        .with_state(admin)
}
// ANCHOR_END: router

// ANCHOR: admin_serve
/// Serves the admin endpoints until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    admin: Admin,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // A histogram sample waits in the exporter's buffer until an upkeep (or a scrape) sorts
    // it into its bucket, so a server nobody scrapes still drains the buffers.
    let handle = admin.metrics.clone();
    let upkeep = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
    if let Err(error) = axum::serve(listener, router(admin)).with_graceful_shutdown(shutdown).await
    {
        warn!(%error, "admin listener failed");
    }
    upkeep.abort();
}
// ANCHOR_END: admin_serve

async fn metrics(State(admin): State<Admin>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], admin.metrics.render())
}

async fn healthz(State(admin): State<Admin>) -> impl IntoResponse {
    let registry = &admin.app.registry;
    Json(
        json!({"status": "ok", "sessions": registry.session_count(), "rooms": registry.room_count()}),
    )
}

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
