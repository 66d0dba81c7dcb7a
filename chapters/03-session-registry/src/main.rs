use clap::Parser;
use shared::config::ServerOptions;
use tokio::net::TcpListener;

/// Chapter 03: a rooms / pub-sub WebSocket server with a session registry.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerOptions,
    #[command(flatten)]
    config: ch03_session_registry::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    shared::logging::init(env!("CARGO_CRATE_NAME"), &cli.server);

    let listener = TcpListener::bind(cli.server.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening on ws://{}", listener.local_addr()?);
    let registry = ch03_session_registry::Registry::new();
    ch03_session_registry::serve(listener, registry, cli.config, shared::shutdown::signal()).await;
    Ok(())
}
