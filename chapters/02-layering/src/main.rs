use clap::Parser;
use shared::config::ServerOptions;
use tokio::net::TcpListener;

/// Chapter 02: the echo server, in layers, speaking JSON.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerOptions,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    shared::logging::init(env!("CARGO_CRATE_NAME"), &cli.server);

    let listener = TcpListener::bind(cli.server.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening on ws://{}", listener.local_addr()?);
    ch02_layering::serve(listener, shared::shutdown::signal()).await;
    Ok(())
}
