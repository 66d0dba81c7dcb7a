use std::sync::Arc;

use anyhow::Context;
use ch09_scale_out::{admin, app::App, metrics, transport};
use clap::Parser;
use shared::config::ServerOptions;
use tokio::net::TcpListener;

/// Chapter 09: the complete server, scaled out: several nodes share one room space through Redis.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerOptions,
    #[command(flatten)]
    config: ch09_scale_out::Config,
    /// Worker threads of tokio's runtime; 0 runs everything on one thread (tokio's
    /// current-thread runtime). Default: one per CPU this process may run on.
    #[arg(long, env = "WS_WORKER_THREADS")]
    worker_threads: Option<usize>,
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Built by hand rather than by `#[tokio::main]`, so that its shape is an option (measured
    // on chapter 08's page).
    let mut runtime = match cli.worker_threads {
        Some(0) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if let Some(threads) = cli.worker_threads.filter(|&threads| threads > 0) {
        runtime.worker_threads(threads);
    }
    runtime.enable_all().build().context("start the runtime")?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let log = shared::logging::init(env!("CARGO_CRATE_NAME"), &cli.server);

    // ANCHOR: install_recorder
    let recorder = metrics::prometheus_recorder();
    let metrics_registry = recorder.registry().clone();
    ::metrics::set_global_recorder(recorder).context("install the metrics recorder")?;
    metrics::describe();
    // ANCHOR_END: install_recorder

    let listener = transport::bind(cli.server.listen, cli.config.backlog)
        .with_context(|| format!("listen on {}", cli.server.listen))?;
    let admin_listener = TcpListener::bind(cli.config.admin_listen).await?;
    let admin_addr = admin_listener.local_addr()?;
    tracing::info!(addr = %listener.local_addr()?, "listening on ws://{}", listener.local_addr()?);
    tracing::info!(addr = %admin_addr, "admin on http://{admin_addr}/metrics, /healthz, /log-level");
    tracing::info!(addr = %admin_addr, "demo page on http://{admin_addr}/");

    match &cli.config.redis_url {
        Some(_) => tracing::info!(node = cli.config.node_id, "joining the cluster through redis"),
        None => tracing::info!("no --redis-url: running as a single node"),
    }
    let app = App::new(cli.config);
    let public_addr = listener.local_addr()?;
    let admin = admin::Admin { app: Arc::clone(&app), metrics: metrics_registry, log, public_addr };
    tokio::spawn(admin::serve(admin_listener, admin, app.shutdown.clone().cancelled_owned()));
    ch09_scale_out::serve(listener, app, shared::shutdown::signal()).await;
    Ok(())
}
