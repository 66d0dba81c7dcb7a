//! The measurements. Each one is a fresh server, one wsload run against it, and the server
//! stopped; its result is wsload's JSON summary (see `wsload --help` for the fields).
//!
//! The machine is shared, so each measurement also checks that it had it to itself: before it,
//! that nothing else keeps the CPUs busy, and during it, wsload's count of busy cores against
//! what the server and wsload used. A measurement that another program disturbed is run again
//! (up to twice), and the page's run log shows every measurement's load average and
//! disturbance, so a reader can judge.
//!
//! A run leaves its summaries and a record of what wsload does not report (`run.json`: the
//! machine, the run log, kernel memory, demo pages served) in the work folder; `--replay` reads
//! them back through the same steps instead of measuring, to write the page again.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, bail};
use bench_tools::load::report::{Connections, Percentiles, RssSamples, Summary};
use serde::{Deserialize, Serialize};
use tokio::task::AbortHandle;

use crate::{
    plan::{self, CH08, FANOUT_MESSAGE, Plan, ReadPath, SERVERS, ServerSpec, TCP, duration_arg},
    procs::{self, KernelGrowth, Launcher, Machine},
};

/// Busy cores beyond the server's, wsload's and the kernel's interrupt work, in the measured
/// window, above which the measurement is run again. A little is always there: this program's
/// sampling, the kernel's timers.
pub(crate) const DISTURBED: f64 = 0.15;
/// Measurements of a busy machine are tried at most this many times; the quietest one counts.
const ATTEMPTS: u32 = 3;
/// Before a measurement, wait (up to this long) for other programs to go quiet.
const QUIET_WAIT: Duration = Duration::from_secs(30);
/// Time for a run's ramp and closing, beyond its warm-up and duration.
const SLACK: Duration = Duration::from_secs(120);

/// One measurement's result.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// wsload's summary, read back from its JSON.
    pub(crate) summary: Summary,
    /// How far kernel memory for sockets grew while wsload ran (machine-wide).
    pub(crate) kernel: KernelGrowth,
    /// When the measurement was repeated and this is the median run: every counted run's echo
    /// rate, in the order they ran (the k-th of every variant ran in the same round, unless a
    /// disturbed run was repeated).
    pub(crate) rates: Vec<f64>,
    /// Demo pages served by the admin listener during the run (see `Bench::page_views`).
    pub(crate) page_views: u64,
}

impl Outcome {
    /// Echo replies a second (echo runs).
    pub(crate) fn msgs_per_sec(&self) -> Option<f64> {
        Some(self.summary.messages.as_ref()?.per_sec)
    }

    /// The server's CPU microseconds per answer (reply, delivery, cycle).
    pub(crate) fn cpu_per_answer(&self) -> Option<f64> {
        self.summary.server_cpu.as_ref()?.per_answer_us
    }

    pub(crate) fn server_cores(&self) -> Option<f64> {
        Some(self.summary.server_cpu.as_ref()?.cores)
    }

    pub(crate) fn wsload_cores(&self) -> Option<f64> {
        Some(self.summary.wsload_cpu.as_ref()?.cores)
    }

    pub(crate) fn server_rss(&self) -> Option<&RssSamples> {
        self.summary.server_rss.as_ref()
    }

    /// The server's memory per connection held, in KiB.
    pub(crate) fn per_conn_kib(&self) -> Option<f64> {
        self.server_rss()?.per_connection_kib
    }

    pub(crate) fn connections(&self) -> Option<&Connections> {
        self.summary.connections.as_ref()
    }

    pub(crate) fn handshake(&self) -> Option<&Percentiles> {
        self.connections()?.handshake_us.as_ref()
    }

    pub(crate) fn latency(&self) -> Option<&Percentiles> {
        self.summary.latency_us.as_ref()
    }

    pub(crate) fn passed(&self) -> bool {
        self.summary.passed
    }

    /// Another program used more than `DISTURBED` cores during the window.
    pub(crate) fn disturbed(&self) -> bool {
        self.disturbance().is_some_and(|d| d > DISTURBED)
    }

    pub(crate) fn quiet(&self) -> bool {
        !self.disturbed()
    }

    /// Busy cores nobody of ours used during the window. Interrupts and softirqs are left
    /// out: they are mostly the run's own loopback packets, which the kernel bills to no one.
    fn disturbance(&self) -> Option<f64> {
        let machine = self.summary.machine_cpu.as_ref()?;
        let ours = self.server_cores()? + self.wsload_cores()?;
        Some((machine.busy_cores - machine.softirq_cores - ours).max(0.0))
    }
}

/// The run log: one entry per measurement, for the page, with what the measurement saw beside
/// wsload's summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogEntry {
    pub(crate) id: String,
    pub(crate) load_average: Option<f64>,
    pub(crate) disturbance: Option<f64>,
    pub(crate) attempts: u32,
    pub(crate) passed: bool,
    pub(crate) kernel: KernelGrowth,
    pub(crate) page_views: u64,
}

/// What a run measured beyond wsload's summaries, kept as `run.json` beside them so that
/// `--replay` can write the page again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    pub(crate) machine: Machine,
    pub(crate) took_secs: f64,
    pub(crate) log: Vec<LogEntry>,
}

impl RunRecord {
    pub(crate) fn path(work: &std::path::Path) -> PathBuf {
        work.join("run.json")
    }

    pub(crate) fn read(work: &std::path::Path) -> anyhow::Result<Self> {
        let path = Self::path(work);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("read {} (left by the run to replay)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }

    pub(crate) fn write(&self, work: &std::path::Path) -> anyhow::Result<()> {
        let path = Self::path(work);
        let json = serde_json::to_string_pretty(self).context("serialize the run record")?;
        std::fs::write(&path, json + "\n").with_context(|| format!("write {}", path.display()))
    }
}

/// Where measurements come from: servers and wsload started now, or an earlier run's files.
#[derive(Debug)]
pub(crate) enum Source {
    Live(Launcher),
    Replay(Vec<LogEntry>),
}

/// Runs measurements and keeps their log.
#[derive(Debug)]
pub(crate) struct Bench {
    source: Source,
    json_dir: PathBuf,
    quick: bool,
    cores: usize,
    log: Vec<LogEntry>,
    /// While set, every measurement also loads the server's demo page from its admin listener
    /// this many times a second, from this process (on the load generator's side).
    pub(crate) page_views: Option<u32>,
}

impl Bench {
    pub(crate) fn new(source: Source, work: PathBuf, quick: bool, cores: usize) -> Self {
        Self {
            source,
            json_dir: work.join("json"),
            quick,
            cores: cores.max(1),
            log: Vec::new(),
            page_views: None,
        }
    }

    pub(crate) fn into_log(self) -> Vec<LogEntry> {
        self.log
    }

    /// Starts `server` (with `server_extra` options), runs wsload with `args` (its scenario
    /// and load; protocol, target and output are added here) and stops the server. `planned`
    /// is the run's warm-up plus duration.
    async fn measure(
        &mut self,
        id: &str,
        server: &ServerSpec,
        server_extra: &[String],
        args: &[String],
        planned: Duration,
    ) -> anyhow::Result<Outcome> {
        let json = self.json_dir.join(format!("{}.json", id.replace('/', "-")));
        let launcher = match &self.source {
            Source::Live(launcher) => launcher,
            Source::Replay(log) => {
                let entry = log.iter().find(|entry| entry.id == id).with_context(|| {
                    format!("{id}: not in the record of the run to replay (run.json)")
                })?;
                let outcome = Outcome {
                    summary: read_summary(id, &json)?,
                    kernel: entry.kernel,
                    rates: Vec::new(),
                    page_views: entry.page_views,
                };
                self.log.push(entry.clone());
                return Ok(outcome);
            }
        };
        std::fs::create_dir_all(&self.json_dir)
            .with_context(|| format!("create {}", self.json_dir.display()))?;
        let attempts = if self.quick { 1 } else { ATTEMPTS };
        let mut best: Option<(Outcome, Option<f64>, Option<f64>)> = None;
        let mut tried = 0;
        for attempt in 1..=attempts {
            tried = attempt;
            if !self.quick {
                self.wait_for_quiet().await;
            }
            let load_average = procs::load_average();
            let running = launcher
                .start(server, server_extra, &format!("{}-{attempt}", id.replace('/', "-")))
                .await?;
            let mut full = args.to_vec();
            full.extend(server.protocol_args());
            full.extend(["--url".to_owned(), running.url()]);
            full.extend(["--server-pid".to_owned(), running.pid.to_string()]);
            full.extend(["--quiet".to_owned(), "--json".to_owned(), json.display().to_string()]);
            let _ = std::fs::remove_file(&json);
            let views = Arc::new(AtomicU64::new(0));
            let viewer = match (self.page_views, running.admin) {
                (Some(rate), Some(admin)) => {
                    Some(tokio::spawn(view_pages(admin, rate, Arc::clone(&views))).abort_handle())
                }
                _ => None,
            };
            let run = launcher.wsload(&full, planned + SLACK).await;
            viewer.inspect(AbortHandle::abort);
            let page_views = views.load(Ordering::Relaxed);
            let stopped = running.stop().await;
            let run = run.with_context(|| format!("{id}: wsload"))?;
            stopped.with_context(|| format!("{id}: server"))?;
            if run.code == Some(2) {
                bail!("{id}: wsload refused its options:\n{}", run.stderr);
            }
            if !json.exists() {
                bail!(
                    "{id}: wsload wrote no summary ({:?}):\n{}{}",
                    run.code,
                    run.stdout,
                    run.stderr
                );
            }
            let summary = read_summary(id, &json)?;
            let outcome =
                Outcome { summary, kernel: run.kernel_growth, rates: Vec::new(), page_views };
            let disturbance = outcome.disturbance();
            eprintln!(
                "bench-compare: {id:<28} {:<34} load {:>4}  others {:>5} cores{}",
                headline(&outcome),
                load_average.map_or_else(|| "?".into(), |load| format!("{load:.2}")),
                disturbance.map_or_else(|| "?".into(), |d| format!("{d:.2}")),
                if outcome.passed() { "" } else { "  (errors: see the summary)" },
            );
            let quieter = match (&best, disturbance) {
                (None, _) => true,
                (Some((_, Some(previous), _)), Some(now)) => now < *previous,
                _ => false,
            };
            if quieter {
                best = Some((outcome, disturbance, load_average));
            }
            if disturbance.is_none_or(|d| d <= DISTURBED) {
                break;
            }
            if attempt < attempts {
                eprintln!("bench-compare: {id}: another program was busy; measuring again in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        let Some((outcome, disturbance, load_average)) = best else {
            bail!("{id}: no attempt was made");
        };
        self.log.push(LogEntry {
            id: id.to_owned(),
            load_average,
            disturbance,
            attempts: tried,
            passed: outcome.passed(),
            kernel: outcome.kernel,
            page_views: outcome.page_views,
        });
        Ok(outcome)
    }

    /// Measures every variant `repeats` times and returns the median run of each (see
    /// [`median`]). In rounds, every variant once a round, rather than all the runs of one and
    /// then the next: this virtual machine's speed drifts over the minutes a table takes, and in
    /// rounds the drift falls on every variant alike instead of on the ones measured last, so
    /// the variants compare. A variant whose run another program disturbed gets one more in a
    /// later round, up to `2 × repeats` runs in all. Runs are named `id#round`.
    async fn in_rounds(
        &mut self,
        variants: &[Variant<'_>],
        planned: Duration,
        repeats: usize,
    ) -> anyhow::Result<Vec<Outcome>> {
        let repeats = repeats.max(1);
        let mut runs: Vec<Vec<Outcome>> = variants.iter().map(|_| Vec::new()).collect();
        for round in 1..=2 * repeats {
            for (variant, runs) in variants.iter().zip(&mut runs) {
                if quiet_runs(runs) >= repeats {
                    continue;
                }
                let id = format!("{}#{round}", variant.id);
                let Variant { server, extra, args, .. } = variant;
                runs.push(self.measure(&id, server, extra, args, planned).await?);
            }
        }
        Ok(runs.into_iter().map(median).collect())
    }

    /// Waits until other programs leave the CPUs alone (or `QUIET_WAIT` has passed).
    async fn wait_for_quiet(&self) {
        let deadline = tokio::time::Instant::now() + QUIET_WAIT;
        let mut said = false;
        while let Some(busy) = procs::busy_cores(Duration::from_millis(500), self.cores).await {
            if busy <= DISTURBED {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                eprintln!(
                    "bench-compare: the machine stays busy ({busy:.2} cores); measuring anyway"
                );
                return;
            }
            if !said {
                eprintln!("bench-compare: another program is using {busy:.2} cores; waiting");
                said = true;
            }
        }
    }
}

/// wsload's JSON summary of `id`, read back into its types.
fn read_summary(id: &str, json: &std::path::Path) -> anyhow::Result<Summary> {
    let text =
        std::fs::read_to_string(json).with_context(|| format!("{id}: read {}", json.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{id}: parse {}", json.display()))
}

/// Loads the demo page (`GET /` on the admin listener) `rate` times a second until aborted,
/// counting the pages that came back whole (200).
async fn view_pages(admin: SocketAddr, rate: u32, served: Arc<AtomicU64>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    loop {
        ticks.tick().await;
        if let Ok(page) = test_support::http::get(admin, "/").await {
            if page.status == 200 {
                served.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The one number of a summary worth a progress line.
fn headline(outcome: &Outcome) -> String {
    let rate = |value: f64, unit: &str| format!("{} {unit}", thousands(value));
    let summary = &outcome.summary;
    if let Some(messages) = &summary.messages {
        rate(messages.per_sec, "msgs/s")
    } else if let Some(broadcast) = &summary.broadcast {
        rate(broadcast.deliveries_per_sec, "deliveries/s")
    } else if let Some(churn) = &summary.churn {
        rate(churn.cycles_per_sec, "cycles/s")
    } else if let Some(kib) = outcome.per_conn_kib() {
        let opened = outcome.connections().map_or(0, |connections| connections.opened);
        format!("{kib:.1} KiB/conn, {} open", thousands(opened as f64))
    } else {
        "no result".to_owned()
    }
}

/// `12345.6` -> `12,346`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = (value.round().max(0.0) as u64).to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A row of a table: the server, and its outcome (`None` where the scenario does not apply).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) server: ServerSpec,
    pub(crate) outcome: Option<Outcome>,
}

impl Row {
    /// A value of the row's outcome: `row.get(Outcome::msgs_per_sec)`.
    pub(crate) fn get<T>(&self, value: impl FnOnce(&Outcome) -> Option<T>) -> Option<T> {
        self.outcome.as_ref().and_then(value)
    }
}

fn strings<const N: usize>(args: [&str; N]) -> Vec<String> {
    args.map(String::from).to_vec()
}

pub(crate) fn echo_args(plan: &Plan) -> Vec<String> {
    sized_echo_args(plan, plan.echo.size)
}

/// The echo load with the tuning's large messages.
pub(crate) fn large_echo_args(plan: &Plan) -> Vec<String> {
    sized_echo_args(plan, plan.tuning.large_message)
}

fn sized_echo_args(plan: &Plan, size: usize) -> Vec<String> {
    let echo = &plan.echo;
    let mut args = strings(["echo", "-n"]);
    args.extend([
        echo.connections.to_string(),
        "--size".into(),
        size.to_string(),
        "--warmup".into(),
        duration_arg(echo.warmup),
        "--duration".into(),
        duration_arg(echo.duration),
    ]);
    args
}

pub(crate) fn idle_args(plan: &Plan, connections: usize, hold: Duration) -> Vec<String> {
    let mut args = strings(["idle", "-n"]);
    args.extend([
        connections.to_string(),
        "--duration".into(),
        duration_arg(hold),
        "--sources".into(),
        plan.sources.to_string(),
    ]);
    args
}

pub(crate) fn broadcast_args(plan: &Plan, room: &plan::Broadcast) -> Vec<String> {
    let mut args = strings(["broadcast", "-n"]);
    args.extend([
        room.members.to_string(),
        "--rate".into(),
        room.rate.to_string(),
        "--warmup".into(),
        duration_arg(plan.broadcast_warmup),
        "--duration".into(),
        duration_arg(plan.broadcast_duration),
    ]);
    args
}

/// `churn`. No `--sources`: a socket bound to a source address gets its port at bind time, and
/// the kernel's search for one that no socket holds, TIME_WAIT included, becomes the
/// bottleneck after a few seconds of churn; connect() only needs a port free for this one
/// destination, and may reuse one a second into TIME_WAIT on loopback.
pub(crate) fn churn_args(plan: &Plan) -> Vec<String> {
    let churn = &plan.churn;
    let mut args = strings(["churn", "-c"]);
    args.extend([
        churn.concurrency.to_string(),
        "--size".into(),
        plan.echo.size.to_string(),
        "--warmup".into(),
        duration_arg(churn.warmup),
        "--duration".into(),
        duration_arg(churn.duration),
    ]);
    args
}

/// `--backlog` runs: every connection at once, as many in flight as the burst allows.
pub(crate) fn burst_args(plan: &Plan) -> Vec<String> {
    let tuning = &plan.tuning;
    let mut args = idle_args(plan, tuning.burst_connections, tuning.burst_hold);
    args.extend([
        "--max-inflight".into(),
        tuning.burst_inflight.to_string(),
        "--connect-rate".into(),
        "0".into(),
        // Refused and timed-out connections are what this run counts, not a reason to fail.
        "--max-errors".into(),
        tuning.burst_connections.to_string(),
    ]);
    args
}

/// The many-connections runs: a drop is a finding, reported, not a failed run.
pub(crate) fn many_args(plan: &Plan) -> Vec<String> {
    let tuning = &plan.tuning;
    let mut args = idle_args(plan, tuning.many_connections, tuning.many_hold);
    args.extend(["--max-errors".into(), tuning.many_connections.to_string()]);
    args
}

/// One of the things a repeated measurement compares: what `Bench::measure` takes.
struct Variant<'a> {
    id: String,
    server: &'a ServerSpec,
    extra: Vec<String>,
    args: &'a [String],
}

pub(crate) async fn echo(bench: &mut Bench, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let args = echo_args(plan);
    let planned = plan.echo.warmup + plan.echo.duration;
    let variants: Vec<Variant<'_>> = SERVERS
        .iter()
        .map(|server| Variant {
            id: format!("echo/{}", server.key),
            server,
            extra: Vec::new(),
            args: &args,
        })
        .collect();
    let outcomes = bench.in_rounds(&variants, planned, plan.echo.repeats).await?;
    Ok(SERVERS
        .into_iter()
        .zip(outcomes)
        .map(|(server, outcome)| Row { server, outcome: Some(outcome) })
        .collect())
}

/// The runs another program did not disturb.
fn quiet_runs(runs: &[Outcome]) -> usize {
    runs.iter().filter(|outcome| outcome.quiet()).count()
}

/// The run with the median echo rate among the undisturbed ones (among all, if none was),
/// carrying every one of their rates. `runs` is not empty.
fn median(mut runs: Vec<Outcome>) -> Outcome {
    if runs.iter().any(Outcome::quiet) {
        runs.retain(Outcome::quiet);
    }
    let rate = |outcome: &Outcome| outcome.msgs_per_sec().unwrap_or(0.0);
    let rates = runs.iter().map(rate).collect();
    runs.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let mut median = runs.swap_remove(runs.len() / 2);
    median.rates = rates;
    median
}

pub(crate) async fn idle(bench: &mut Bench, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let args = idle_args(plan, plan.idle.connections, plan.idle.hold);
    let mut rows = Vec::new();
    for server in SERVERS {
        let outcome = bench
            .measure(&format!("idle/{}", server.key), &server, &[], &args, plan.idle.hold)
            .await?;
        rows.push(Row { server, outcome: Some(outcome) });
    }
    Ok(rows)
}

/// One room size, every server (those without rooms get no outcome).
#[derive(Debug, Clone)]
pub(crate) struct RoomRows {
    pub(crate) room: plan::Broadcast,
    pub(crate) rows: Vec<Row>,
}

pub(crate) async fn broadcast(bench: &mut Bench, plan: &Plan) -> anyhow::Result<Vec<RoomRows>> {
    let planned = plan.broadcast_warmup + plan.broadcast_duration;
    let mut rooms = Vec::new();
    for room in &plan.broadcast {
        let args = broadcast_args(plan, room);
        let mut rows = Vec::new();
        for server in SERVERS {
            let id = format!("broadcast-{}/{}", room.members, server.key);
            let outcome = if server.rooms {
                Some(bench.measure(&id, &server, &[], &args, planned).await?)
            } else if server.key == TCP.key {
                // The ceiling: the same fan-out of messages of the same size over plain TCP.
                let size = FANOUT_MESSAGE.to_string();
                let fanout = ["--fanout".to_owned(), size.clone()];
                let args = [&args[..], &["--size".to_owned(), size]].concat();
                Some(bench.measure(&id, &server, &fanout, &args, planned).await?)
            } else {
                None
            };
            rows.push(Row { server, outcome });
        }
        rooms.push(RoomRows { room: room.clone(), rows });
    }
    Ok(rooms)
}

pub(crate) async fn churn(bench: &mut Bench, plan: &Plan) -> anyhow::Result<Vec<Row>> {
    let planned = plan.churn.warmup + plan.churn.duration;
    let mut rows = Vec::new();
    let args = churn_args(plan);
    for server in SERVERS {
        let outcome =
            bench.measure(&format!("churn/{}", server.key), &server, &[], &args, planned).await?;
        rows.push(Row { server, outcome: Some(outcome) });
    }
    Ok(rows)
}

/// One read path of chapter 08: idle memory with heartbeats, and echo with small and with
/// large messages.
#[derive(Debug, Clone)]
pub(crate) struct ReadPathRun {
    pub(crate) path: ReadPath,
    pub(crate) idle: Outcome,
    pub(crate) echo: Outcome,
    pub(crate) large: Outcome,
}

/// Chapter 08's tuning steps.
#[derive(Debug, Clone)]
pub(crate) struct TuningResults {
    pub(crate) read_paths: Vec<ReadPathRun>,
    /// Per `--backlog`: a burst of connections.
    pub(crate) backlog: Vec<(u32, Outcome)>,
    /// Many connections held with heartbeats, with the defaults.
    pub(crate) many: Outcome,
    /// Echo with the defaults, without and with demo pages loaded during the run.
    pub(crate) demo: (Outcome, Outcome),
}

pub(crate) async fn tuning(bench: &mut Bench, plan: &Plan) -> anyhow::Result<TuningResults> {
    let tuning = &plan.tuning;
    let heartbeat = ["--heartbeat-interval".to_owned(), duration_arg(tuning.heartbeat)];
    let planned = plan.echo.warmup + plan.echo.duration;
    let repeats = plan.echo.repeats;

    let idle = idle_args(plan, tuning.read_buffer_connections, tuning.read_buffer_hold);
    let mut held = Vec::new();
    for &path in &tuning.read_paths {
        let extra = [&path.args()[..], &heartbeat].concat();
        let id = format!("tuning/read-{}-idle", path.name());
        held.push(bench.measure(&id, &CH08, &extra, &idle, tuning.read_buffer_hold).await?);
    }
    let echo = echo_args(plan);
    let large = large_echo_args(plan);
    let variants = |load: &'static str, args| -> Vec<Variant<'_>> {
        tuning
            .read_paths
            .iter()
            .map(|path| Variant {
                id: format!("tuning/read-{}-{load}", path.name()),
                server: &CH08,
                extra: path.args(),
                args,
            })
            .collect()
    };
    let echoed = bench.in_rounds(&variants("echo", &echo), planned, repeats).await?;
    let large = bench.in_rounds(&variants("echo-large", &large), planned, repeats).await?;
    let read_paths = (tuning.read_paths.iter().zip(held))
        .zip(echoed.into_iter().zip(large))
        .map(|((&path, idle), (echo, large))| ReadPathRun { path, idle, echo, large })
        .collect();
    let burst = burst_args(plan);
    let mut backlog = Vec::new();
    for &size in &tuning.backlogs {
        let extra = ["--backlog".to_owned(), size.to_string()];
        let id = format!("tuning/backlog-{size}");
        backlog.push((size, bench.measure(&id, &CH08, &extra, &burst, tuning.burst_hold).await?));
    }
    let extra = heartbeat;
    let many =
        bench.measure("tuning/many", &CH08, &extra, &many_args(plan), tuning.many_hold).await?;

    // The same echo load back to back, the second time with demo pages loaded all along.
    let demo =
        |id: &str| [Variant { id: id.into(), server: &CH08, extra: Vec::new(), args: &echo }];
    let quiet = bench.in_rounds(&demo("tuning/demo-none"), planned, repeats).await?;
    bench.page_views = Some(tuning.page_views);
    let viewed = bench.in_rounds(&demo("tuning/demo-viewed"), planned, repeats).await;
    bench.page_views = None;
    let first = |outcomes: Vec<Outcome>| outcomes.into_iter().next().expect("one variant");
    Ok(TuningResults { read_paths, backlog, many, demo: (first(quiet), first(viewed?)) })
}

/// For tests: an outcome whose summary has wsload's required fields plus `sections` (a JSON
/// object of the summary's optional sections).
#[cfg(test)]
pub(crate) fn test_outcome(sections: serde_json::Value, rates: &[f64]) -> Outcome {
    let mut summary = serde_json::json!({
        "scenario": "echo", "url": "ws://127.0.0.1:1/", "protocol": "envelope", "settings": {},
        "passed": true, "interrupted": false, "measured_secs": 1.0, "answers_secs": 1.0,
        "errors": { "total": 0, "max_errors": 0, "by_kind": {}, "first": [] },
        "wsload_rss": {},
    });
    if let (Some(summary), serde_json::Value::Object(sections)) =
        (summary.as_object_mut(), sections)
    {
        summary.extend(sections);
    }
    Outcome {
        summary: serde_json::from_value(summary).expect("a summary"),
        kernel: KernelGrowth::default(),
        rates: rates.to_vec(),
        page_views: 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(rate: f64) -> Outcome {
        test_outcome(
            json!({ "messages": { "frame_bytes": 33, "sent": 1, "received": 1,
            "measured": 1, "per_sec": rate, "skipped": 0 } }),
            &[],
        )
    }

    #[test]
    fn the_median_run_keeps_every_rate_in_the_order_they_ran() {
        let median = median([250.0, 200.0, 240.0].map(run).to_vec());
        assert_eq!(median.msgs_per_sec(), Some(240.0));
        // The page pairs the k-th rate of two rows as one round: sorted, they would not be.
        assert_eq!(median.rates, [250.0, 200.0, 240.0]);
    }
}
