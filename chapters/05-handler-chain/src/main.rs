use clap::Parser;
use shared::config::ServerOptions;
use tokio::net::TcpListener;

/// Chapter 05: the rooms server with a handler chain and traceable messages.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerOptions,
    #[command(flatten)]
    config: ch05_handler_chain::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    shared::logging::init(env!("CARGO_CRATE_NAME"), &cli.server);

    let listener = TcpListener::bind(cli.server.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening on ws://{}", listener.local_addr()?);
    let app = ch05_handler_chain::app::App::new(cli.config);
    ch05_handler_chain::serve(listener, app, shared::shutdown::signal()).await;
    Ok(())
}
