//! `wsload`, the load generator the book's benchmarks use: it opens many WebSocket connections
//! to one of the chapter servers and measures what the server does with them.
//!
//! Four scenarios, one module each: `idle` (connections that only answer pings: memory and
//! handshake rate), `echo` (round-trip latency and throughput), `broadcast` (room fan-out:
//! publish-to-delivery latency, lost deliveries) and `churn` (connect-echo-close cycles). They
//! share the connection code (`conn`), the phases of a run (`run`, `lifecycle`) and the
//! summary (`report`, with the server's memory from `rss` and CPU time from `cpu`). `tcp` is
//! the client side of the ceiling row: the same bytes over plain TCP, no WebSocket.
//!
//! It is a tool for this machine only: it refuses any target outside 127.0.0.0/8, and every
//! run is bounded in connections and time and stops by itself.

mod broadcast;
mod churn;
mod cli;
mod conn;
mod cpu;
mod echo;
mod failure;
mod idle;
mod lifecycle;
pub mod report;
mod rss;
mod run;
mod tcp;
mod wire;

use std::{collections::BTreeMap, io::Write as _, path::Path, sync::Arc};

use anyhow::Context as _;
use cpu::{CpuProbe, MachineProbe};
use serde_json::Value;

pub use cli::Cli;
use cli::{CommonArgs, MAX_RUN, Scenario};
use report::{Errors, Summary, window_secs};
use rss::RssSamples;
use run::{Phase, Progress, Run, Window, read, spawn_progress};

/// Runs the scenario, prints the summary (and writes the JSON one when asked). Returns whether
/// the run passed: no more errors than `--max-errors`.
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    let (summary, common) = match cli.scenario {
        Scenario::Idle(args) => (idle::run(&args).await, args.common),
        Scenario::Echo(args) => (echo::run(&args).await, args.common),
        Scenario::Broadcast(args) => (broadcast::run(&args).await, args.common),
        Scenario::Churn(args) => (churn::run(&args).await, args.common),
    };
    let json_to_stdout = common.json.as_deref() == Some(Path::new("-"));
    if json_to_stdout {
        eprint!("{}", summary.text());
    } else {
        print!("{}", summary.text());
    }
    if let Some(path) = &common.json {
        let json = serde_json::to_string_pretty(&summary).context("serialize the summary")?;
        if json_to_stdout {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{json}").context("write the JSON summary")?;
        } else {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("write the JSON summary to {}", path.display()))?;
        }
    }
    Ok(summary.passed)
}

/// What every scenario sets up the same way: the shared state, the RSS and CPU probes, the
/// progress line.
struct Start {
    run: Arc<Run>,
    server_rss: Option<RssSamples>,
    own_rss: RssSamples,
    server_cpu: Option<CpuProbe>,
    own_cpu: CpuProbe,
    machine_cpu: MachineProbe,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Start {
    fn new(common: &CommonArgs, progress: Progress) -> Self {
        let run = Run::new();
        let server_cpu = common.server_pid.map(|pid| CpuProbe::new(Some(pid)));
        let own_cpu = CpuProbe::new(None);
        // The window opens when the coordinator moves the phase to Measure; read the CPU
        // clocks right then. A run that never measures (nothing opened, or interrupted during
        // the warm-up) leaves them unread and reports no CPU use.
        let machine_cpu = MachineProbe::default();
        let probes: Vec<CpuProbe> = server_cpu.iter().cloned().chain([own_cpu.clone()]).collect();
        let machine = machine_cpu.clone();
        let mut phase = run.phase();
        let mut tasks = vec![tokio::spawn(async move {
            if phase.wait_for(|phase| *phase >= Phase::Measure).await.is_ok()
                && *phase.borrow() == Phase::Measure
            {
                probes.iter().for_each(CpuProbe::window_start);
                machine.window_start();
            }
        })];
        if !common.quiet {
            tasks.push(spawn_progress(Arc::clone(&run), progress));
        }
        Self {
            server_rss: common.server_pid.map(|pid| RssSamples::start(Some(pid))),
            own_rss: RssSamples::start(None),
            server_cpu,
            own_cpu,
            machine_cpu,
            tasks,
            run,
        }
    }

    /// Every connection is open: the first "after" sample.
    fn all_open(&mut self) {
        for rss in self.server_rss.iter_mut().chain([&mut self.own_rss]) {
            rss.open_kib = rss.sample();
        }
    }

    /// The end of the measured window, with `connections` still open.
    fn window_end(&mut self, connections: u64) {
        for cpu in self.server_cpu.iter_mut().chain([&mut self.own_cpu]) {
            cpu.window_end();
        }
        self.machine_cpu.window_end();
        for rss in self.server_rss.iter_mut().chain([&mut self.own_rss]) {
            rss.end(connections);
        }
    }

    /// Everything closed: the last sample, and the summary's common part. The scenario fills
    /// in its own sections.
    fn finish(
        mut self,
        scenario: &'static str,
        common: &CommonArgs,
        settings: BTreeMap<&'static str, Value>,
        window: &Window,
    ) -> Summary {
        for rss in self.server_rss.iter_mut().chain([&mut self.own_rss]) {
            rss.closed();
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
        let errors = Errors::of(&self.run, common.max_errors);
        let answers = read(&self.run.counters.measured);
        Summary {
            scenario: scenario.to_owned(),
            url: common.url.text.clone(),
            protocol: common.protocol.as_str().to_owned(),
            settings: settings.into_iter().map(|(key, value)| (key.to_owned(), value)).collect(),
            passed: errors.total <= common.max_errors,
            interrupted: self.run.interrupted(),
            measured_secs: report::round3(window_secs(window).as_secs_f64()),
            answers_secs: report::round3(window_secs(window).as_secs_f64()),
            connections: None,
            messages: None,
            broadcast: None,
            churn: None,
            latency_us: None,
            errors,
            server_rss: self.server_rss,
            wsload_rss: self.own_rss,
            server_cpu: self.server_cpu.and_then(|cpu| cpu.usage(answers)),
            wsload_cpu: self.own_cpu.usage(answers),
            machine_cpu: self.machine_cpu.usage(),
        }
    }
}

/// What is left of the 15-minute cap for the ramp, once warm-up and measurement are planned.
fn ramp_budget(common: &CommonArgs) -> std::time::Duration {
    MAX_RUN.saturating_sub(common.warmup + common.duration)
}

/// The settings every summary shows.
fn common_settings(common: &CommonArgs) -> BTreeMap<&'static str, Value> {
    let mut settings = BTreeMap::new();
    let duration = |d| Value::from(humantime::format_duration(d).to_string());
    settings.insert("duration", duration(common.duration));
    settings.insert("warmup", duration(common.warmup));
    if common.protocol == cli::Protocol::Envelope {
        settings.insert("welcome", Value::from(!common.no_welcome));
    }
    if let Some(sources) = &common.sources {
        settings.insert("sources", Value::from(sources.0.len()));
    }
    settings
}
