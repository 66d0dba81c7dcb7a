use std::sync::Arc;

use anyhow::Context;
use ch06_instrumentation::{admin, app::App, metrics};
use clap::Parser;
use shared::config::ServerOptions;
use tokio::net::TcpListener;

/// Chapter 06: the rooms server, instrumented: state events, Prometheus metrics, log control.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerOptions,
    #[command(flatten)]
    config: ch06_instrumentation::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let log = shared::logging::init(env!("CARGO_CRATE_NAME"), &cli.server);

    // ANCHOR: install_recorder
    let recorder = metrics::prometheus_recorder();
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder).context("install the metrics recorder")?;
    metrics::describe();
    // ANCHOR_END: install_recorder

    let listener = TcpListener::bind(cli.server.listen).await?;
    // ANCHOR: spawn_admin
    let admin_listener = TcpListener::bind(cli.config.admin_listen).await?;
    let admin_addr = admin_listener.local_addr()?;
    tracing::info!(addr = %listener.local_addr()?, "listening on ws://{}", listener.local_addr()?);
    tracing::info!(addr = %admin_addr, "admin on http://{admin_addr}/metrics, /healthz, /log-level");

    let app = App::new(cli.config);
    let admin = admin::Admin { app: Arc::clone(&app), metrics: handle, log };
    tokio::spawn(admin::serve(admin_listener, admin, std::future::pending()));
    // ANCHOR_END: spawn_admin
    ch06_instrumentation::serve(listener, app, shared::shutdown::signal()).await;
    Ok(())
}
