use std::sync::Arc;

use anyhow::Context;
use ch07_limits::{admin, app::App, metrics};
use clap::Parser;
use shared::config::ServerOptions;
use tokio::net::TcpListener;

/// Chapter 07: the rooms server with limits, back-pressure and a graceful shutdown.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerOptions,
    #[command(flatten)]
    config: ch07_limits::Config,
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
    // The admin listener stops with the server, once every session has been told.
    tokio::spawn(admin::serve(admin_listener, admin, app.shutdown.clone().cancelled_owned()));
    // ANCHOR_END: spawn_admin
    ch07_limits::serve(listener, app, shared::shutdown::signal()).await;
    Ok(())
}
