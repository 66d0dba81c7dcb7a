//! `wsload`: the load generator for the chapter servers.
//!
//! ```text
//! cargo run -p bench-tools --release --bin wsload -- echo --protocol raw --url ws://127.0.0.1:9000/
//! ```
//!
//! Everything but parsing and the exit status lives in `bench_tools::load`; `wsload --help`
//! lists the scenarios and `wsload <scenario> --help` their options.

use std::process::ExitCode;

use bench_tools::load::{self, Cli};
use clap::{CommandFactory, Parser, error::ErrorKind};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Refused before any connection: exit status 2, like any other usage error.
    if let Err(message) = cli.validate() {
        Cli::command().error(ErrorKind::ValueValidation, message).exit();
    }
    match load::run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("wsload: {error:#}");
            ExitCode::FAILURE
        }
    }
}
