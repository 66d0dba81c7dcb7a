//! `bench-compare`: the same load against every chapter's server and the plain TCP ceiling,
//! written into the book as tables and a chart.
//!
//! ```text
//! cargo run -p bench-tools --release --bin bench-compare       # ~30 minutes: book/src/benchmarks.md
//! cargo run -p bench-tools --release --bin bench-compare -- --quick --out /tmp/bench   # ~1 minute
//! ```
//!
//! It builds the servers and `wsload` once, then for every measurement starts a fresh server
//! pinned to CPU 0, runs `wsload` pinned to CPU 1 against it, and stops the server: echo, idle
//! memory, room broadcast and connection churn for every row, then chapter 08's tuning steps
//! (the read path, listen backlog, 19,000 connections held with heartbeats, the demo page).
//! The page it writes holds only what this run measured; the raw `wsload` summaries and the
//! server logs stay in `--work`. Nothing it starts outlives it (see `procs`).

mod chart;
mod measure;
mod page;
mod plan;
mod procs;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};

use measure::Bench;
use plan::Plan;
use procs::{Launcher, Machine};

/// Runs the benchmarks of every chapter against the TCP ceiling and writes the book's
/// benchmarks page (tables and an SVG chart).
#[derive(Debug, Parser)]
#[command(name = "bench-compare", version)]
struct Cli {
    /// Small and short: seconds per measurement and a few hundred connections. Checks that the
    /// whole pipeline works; the numbers mean little.
    #[arg(long)]
    quick: bool,

    /// Where `benchmarks.md` and `images/benchmarks.svg` go. Default: the book's sources.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Where the raw wsload summaries (JSON) and the server logs go.
    /// Default: target/bench-compare.
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,

    /// Run only these parts (comma-separated); the page then has only their sections.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PART,...")]
    only: Vec<Part>,
}

/// The sections of the page, each measured by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Echo,
    Idle,
    Broadcast,
    Churn,
    Tuning,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // What this program does itself (sampling /proc, loading the demo page) belongs to the
    // load generator's side: it runs again, pinned to wsload's CPU, never beside the server.
    if !procs::pinned_to_load_cpu() {
        return procs::rerun_on_load_cpu();
    }
    measure_all(cli)
}

#[tokio::main]
async fn measure_all(cli: Cli) -> ExitCode {
    // Ctrl-C (or SIGTERM) drops the whole run: every child process is killed on drop.
    let outcome = tokio::select! {
        outcome = run(cli) => outcome,
        () = shared::shutdown::signal() => Err(anyhow::anyhow!("interrupted: every process it started was stopped")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-compare: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let root = workspace_root();
    let out = cli.out.clone().unwrap_or_else(|| root.join("book/src"));
    let work = cli.work.clone().unwrap_or_else(|| root.join("target/bench-compare"));
    let release = !cfg!(debug_assertions);
    if !release && !cli.quick {
        bail!(
            "a debug build measures the compiler's debug code, not the servers: run it with \
             `cargo run -p bench-tools --release --bin bench-compare` (or pass --quick for a smoke \
             run)"
        );
    }
    let started = Instant::now();
    let bin_dir = procs::build(&root, release).await?;
    eprintln!("bench-compare: servers and wsload built ({})", bin_dir.display());

    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let launcher = Launcher::new(bin_dir, work.clone())?;
    let machine = Machine::describe(release).await;
    let plan = if cli.quick { Plan::quick() } else { Plan::full() };
    let mut bench = Bench::new(launcher, work.clone(), cli.quick, machine.cores);

    let wants = |part: Part| cli.only.is_empty() || cli.only.contains(&part);
    let mut results = page::Results::default();
    if wants(Part::Echo) {
        results.echo = Some(measure::echo(&mut bench, &plan).await?);
    }
    if wants(Part::Idle) {
        results.idle = Some(measure::idle(&mut bench, &plan).await?);
    }
    if wants(Part::Broadcast) {
        results.broadcast = Some(measure::broadcast(&mut bench, &plan).await?);
    }
    if wants(Part::Churn) {
        results.churn = Some(measure::churn(&mut bench, &plan).await?);
    }
    if wants(Part::Tuning) {
        results.tuning = Some(measure::tuning(&mut bench, &plan).await?);
    }
    results.log = bench.into_log();

    let command = command_line(&cli);
    let images = out.join("images");
    std::fs::create_dir_all(&images).with_context(|| format!("create {}", images.display()))?;
    let svg = images.join("benchmarks.svg");
    chart::draw(&results, &svg).context("draw the chart")?;
    let markdown = page::render(&results, &plan, &machine, &command, started.elapsed());
    let md = out.join("benchmarks.md");
    std::fs::write(&md, markdown).with_context(|| format!("write {}", md.display()))?;
    eprintln!(
        "bench-compare: wrote {} and {} in {:.0} s (raw summaries and logs in {})",
        md.display(),
        svg.display(),
        started.elapsed().as_secs_f64(),
        work.display()
    );
    Ok(())
}

/// The repository: two folders above this crate (`shared/bench-tools`), fixed at build time.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_path_buf()
}

/// The command that reproduces this run, for the page. `--out` and `--work` are left out: they
/// say where the files went, not what was measured.
fn command_line(cli: &Cli) -> String {
    let mut command = String::from("cargo run -p bench-tools --release --bin bench-compare");
    let mut args = Vec::new();
    if cli.quick {
        args.push("--quick".to_owned());
    }
    if !cli.only.is_empty() {
        let parts: Vec<String> = cli
            .only
            .iter()
            .filter_map(|part| part.to_possible_value().map(|value| value.get_name().to_owned()))
            .collect();
        args.push(format!("--only {}", parts.join(",")));
    }
    if !args.is_empty() {
        command.push_str(" -- ");
        command.push_str(&args.join(" "));
    }
    command
}
