use clap::Parser;
use shared::config::ServerOptions;
use tokio::net::TcpListener;

/// Chapter 04: the rooms server with heartbeats.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerOptions,
    #[command(flatten)]
    config: ch04_heartbeat::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    shared::logging::init(env!("CARGO_CRATE_NAME"), &cli.server);

    let listener = TcpListener::bind(cli.server.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening on ws://{}", listener.local_addr()?);
    let registry = ch04_heartbeat::Registry::new();
    ch04_heartbeat::serve(listener, registry, cli.config, shared::shutdown::signal()).await;
    Ok(())
}
