//! `bench-compare`: the same load against every chapter's server and the plain TCP ceiling,
//! written into the book as tables and a chart.
//!
//! ```text
//! cargo run -p bench-tools --release --bin bench-compare       # ~30 minutes: book/src/benchmarks.md
//! cargo run -p bench-tools --release --bin bench-compare -- --quick --out /tmp/bench   # ~1 minute
//! cargo run -p bench-tools --release --bin bench-compare -- --replay   # the last run, again
//! ```
//!
//! It builds the servers and `wsload` once, then for every measurement starts a fresh server
//! pinned to CPU 0, runs `wsload` pinned to CPU 1 against it, and stops the server: echo, idle
//! memory, room broadcast and connection churn for every row, then chapter 08's tuning steps
//! (the read path, listen backlog, 19,000 connections held with heartbeats, the demo page).
//! The page, `book/src/benchmarks.md`, is written by hand; this program writes the parts of it
//! that come from a run into `generated/` beside it (see `page`), and the chart into `images/`.
//! The raw `wsload` summaries, the server logs and a record of the run (`run.json`) stay in
//! `--work`, and `--replay` writes the parts again from them without measuring. Nothing it
//! starts outlives it (see `procs`).

mod chart;
mod measure;
mod page;
mod plan;
mod procs;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};

use measure::{Bench, RunRecord, Source};
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

    /// Where the generated parts (`generated/benchmarks-*.md`) and `images/benchmarks.svg`
    /// go; any other folder than the book's also gets a copy of the hand-written
    /// `benchmarks.md`, so that it reads whole. Default: the book's sources.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Where the raw wsload summaries (JSON), the server logs and the run's record go.
    /// Default: target/bench-compare.
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,

    /// Measure nothing: write the page's parts and the chart again from what an earlier run
    /// left in `--work` (give the same `--quick` and `--only` as that run).
    #[arg(long)]
    replay: bool,

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
    if !cli.replay && !procs::pinned_to_load_cpu() {
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
    if !release && !cli.quick && !cli.replay {
        bail!(
            "a debug build measures the compiler's debug code, not the servers: run it with \
             `cargo run -p bench-tools --release --bin bench-compare` (or pass --quick for a smoke \
             run)"
        );
    }
    let started = Instant::now();
    let replayed = if cli.replay { Some(RunRecord::read(&work)?) } else { None };
    let (source, machine) = match replayed.clone() {
        Some(record) => (Source::Replay(record.log), record.machine),
        None => {
            let bin_dir = procs::build(&root, release).await?;
            eprintln!("bench-compare: servers and wsload built ({})", bin_dir.display());
            std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
            (Source::Live(Launcher::new(bin_dir, work.clone())?), Machine::describe(release).await)
        }
    };
    let plan = if cli.quick { Plan::quick() } else { Plan::full() };
    let mut bench = Bench::new(source, work.clone(), cli.quick, machine.cores);

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
    let took = match &replayed {
        Some(record) => Duration::from_secs_f64(record.took_secs),
        None => {
            let took = started.elapsed();
            let record = RunRecord {
                machine: machine.clone(),
                took_secs: took.as_secs_f64(),
                log: results.log.clone(),
            };
            record.write(&work)?;
            took
        }
    };

    let command = command_line(&cli);
    let images = out.join("images");
    std::fs::create_dir_all(&images).with_context(|| format!("create {}", images.display()))?;
    let svg = images.join("benchmarks.svg");
    chart::draw(&results, &svg).context("draw the chart")?;
    let generated = out.join("generated");
    std::fs::create_dir_all(&generated)
        .with_context(|| format!("create {}", generated.display()))?;
    for part in page::render(&results, &plan, &machine, &command, took) {
        let path = generated.join(part.file_name());
        std::fs::write(&path, part.text).with_context(|| format!("write {}", path.display()))?;
    }
    let page = root.join("book/src/benchmarks.md");
    let md = out.join("benchmarks.md");
    if !same_file(&page, &md) {
        std::fs::copy(&page, &md)
            .with_context(|| format!("copy {} to {}", page.display(), md.display()))?;
    }
    eprintln!(
        "bench-compare: wrote {} (with its parts in {}) and {} in {:.0} s (raw summaries and \
         logs in {})",
        md.display(),
        generated.display(),
        svg.display(),
        started.elapsed().as_secs_f64(),
        work.display()
    );
    Ok(())
}

/// Both paths name the same file (the default `--out` is the book itself).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The repository: two folders above this crate (`shared/bench-tools`), fixed at build time.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_path_buf()
}

/// The command that reproduces this run, for the page. `--out`, `--work` and `--replay` are
/// left out: they say where the files went, not what was measured.
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
