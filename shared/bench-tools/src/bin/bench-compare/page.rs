//! The generated parts of the book's benchmarks page: what comes from one run. The page itself
//! (`book/src/benchmarks.md`) is written by hand and includes these parts from `generated/`:
//! the run's facts, the wsload command lines, every table, the sentences that quote a table's
//! figures, and the run log. Each part is one file, `generated/benchmarks-NAME.md`; the prose
//! that explains them lives in the page, not here.

use std::{fmt::Write as _, time::Duration};

use bench_tools::load::report::{Broadcast, FrameBytes, Percentiles};

use crate::{
    measure::{self, LogEntry, Outcome, ReadPathRun, RoomRows, Row, TuningResults, thousands},
    plan::{Plan, ReadPath},
    procs::Machine,
};

/// Everything one run measured; a part left out with `--only` is `None`.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) echo: Option<Vec<Row>>,
    pub(crate) idle: Option<Vec<Row>>,
    pub(crate) broadcast: Option<Vec<RoomRows>>,
    pub(crate) churn: Option<Vec<Row>>,
    pub(crate) tuning: Option<TuningResults>,
    pub(crate) log: Vec<LogEntry>,
}

/// A change smaller than this (in either direction) is called noise, not a win or a loss; more
/// when the run itself shows more (see `noise_floor`).
const NOISE: f64 = 0.03;

/// The first line of every part, for whoever opens the file.
const HEADER: &str = "<!-- Written by bench-compare (shared/bench-tools/src/bin/bench-compare) \
                      from one run. Do not edit by hand: run it again. -->";

/// What a part of a section that `--only` left out says.
const NOT_MEASURED: &str = "*Not measured in this run (`--only`).*";

/// One generated part of the page: `generated/benchmarks-{name}.md`.
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) name: &'static str,
    pub(crate) text: String,
}

impl Part {
    pub(crate) fn file_name(&self) -> String {
        format!("benchmarks-{}.md", self.name)
    }
}

/// A part made of markdown blocks (paragraphs, tables, code), one blank line apart.
fn part(name: &'static str, blocks: Vec<String>) -> Part {
    let blocks: Vec<String> = blocks.into_iter().filter(|block| !block.is_empty()).collect();
    Part { name, text: format!("{HEADER}\n\n{}\n", blocks.join("\n\n")) }
}

/// The parts of a section, or each of them saying it was not measured.
fn section(names: &[&'static str], parts: Option<Vec<Part>>) -> Vec<Part> {
    parts.unwrap_or_else(|| {
        names.iter().map(|name| part(name, vec![NOT_MEASURED.to_owned()])).collect()
    })
}

pub(crate) fn render(
    results: &Results,
    plan: &Plan,
    machine: &Machine,
    command: &str,
    took: Duration,
) -> Vec<Part> {
    let echo_rows = results.echo.as_deref();
    let mut parts = vec![
        part("run", vec![quick_note(plan), facts(machine, took)]),
        part("command", vec![code(&[command.to_owned()])]),
    ];
    parts.extend(section(&["echo-load", "echo"], echo_rows.map(|rows| echo(plan, rows))));
    parts.extend(section(
        &["idle-load", "idle"],
        results.idle.as_ref().map(|rows| idle(plan, rows)),
    ));
    parts.extend(section(
        &["broadcast"],
        results.broadcast.as_ref().map(|rooms| vec![broadcast(plan, rooms)]),
    ));
    parts.extend(section(
        &["churn-load", "churn"],
        results.churn.as_ref().map(|rows| churn(plan, rows)),
    ));
    parts.extend(section(
        TUNING_PARTS,
        results.tuning.as_ref().map(|tuning| tuning_steps(plan, tuning, echo_rows)),
    ));
    parts.push(run_log(&results.log));
    parts
}

/// The parts of the tuning section, in page order.
const TUNING_PARTS: &[&str] = &[
    "tuning-noise",
    "read-path-load",
    "read-path",
    "backlog-load",
    "backlog",
    "many-load",
    "many",
    "demo",
    "steps",
    "lost",
];

fn quick_note(plan: &Plan) -> String {
    if !plan.quick {
        return String::new();
    }
    "> **A quick run.** Seconds per measurement and a few hundred connections: it checks that \
     the tools work, and its numbers mean little."
        .to_owned()
}

fn facts(machine: &Machine, took: Duration) -> String {
    let rows = [
        ("date", machine.date.clone()),
        ("CPU", machine.cpu_model.clone()),
        ("cores", machine.cores.to_string()),
        ("memory", format!("{:.0} GiB", machine.memory_gib)),
        ("kernel", format!("Linux {}", machine.kernel)),
        ("compiler", machine.rustc.clone()),
        ("build", format!("{} profile", machine.profile)),
        ("open files", machine.open_files.clone()),
        ("the whole run took", format!("{:.0} s", took.as_secs_f64())),
    ];
    let mut table = String::from("| | |\n| --- | --- |");
    for (label, value) in rows {
        let _ = write!(table, "\n| {label} | {value} |");
    }
    table
}

/// A `sh` code block of command lines.
fn code(lines: &[String]) -> String {
    format!("```sh\n{}\n```", lines.join("\n"))
}

/// A wsload command line as the page shows it: its load, then what bench-compare adds.
fn wsload(args: &[String], added: &str) -> String {
    format!("wsload {} {added}", args.join(" "))
}

const TARGET: &str = "--url … --server-pid …";
const PROTOCOL_TARGET: &str = "--protocol … --url … --server-pid …";

/// A markdown table.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let aligns: Vec<&str> =
        headers.iter().enumerate().map(|(i, _)| if i == 0 { "---" } else { "---:" }).collect();
    let mut lines =
        vec![format!("| {} |", headers.join(" | ")), format!("| {} |", aligns.join(" | "))];
    lines.extend(rows.iter().map(|row| format!("| {} |", row.join(" | "))));
    lines.join("\n")
}
fn dash() -> String {
    "—".to_owned()
}

fn int(value: Option<f64>) -> String {
    value.map_or_else(dash, thousands)
}

fn int_u(value: Option<u64>) -> String {
    value.map_or_else(dash, |value| thousands(value as f64))
}

fn dec(value: Option<f64>, places: usize) -> String {
    value.map_or_else(dash, |value| format!("{value:.places$}"))
}

fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(value), Some(base)) if base > 0.0 => format!("{:.2}×", value / base),
        _ => dash(),
    }
}

/// `+4.2 %` from `before` to `after`.
fn change(before: f64, after: f64) -> String {
    if before == 0.0 {
        return dash();
    }
    format!("{:+.1} %", (after - before) / before * 100.0)
}

fn relative(before: f64, after: f64) -> f64 {
    if before == 0.0 { 0.0 } else { (after - before) / before }
}

/// `181,837–189,091`: the lowest and highest rate of a repeated measurement.
fn range(outcome: Option<&Outcome>) -> String {
    match outcome.map(|outcome| outcome.rates.as_slice()) {
        Some(rates @ [_, _, ..]) => {
            let lowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let highest = rates.iter().copied().fold(0.0, f64::max);
            format!("{}–{}", thousands(lowest), thousands(highest))
        }
        _ => dash(),
    }
}

/// `0.86×, 0.91×, 0.85×: median 0.86×`: each of `row`'s runs against the ceiling's run of the
/// same round (the k-th against the k-th: a disturbed run repeated later moves its pair by a
/// round). A drift of the machine between rounds falls on both runs of a pair alike.
fn round_by_round(row: &Outcome, ceiling: &Outcome) -> Option<String> {
    let mut ratios: Vec<f64> =
        row.rates.iter().zip(&ceiling.rates).map(|(run, ceiling)| run / ceiling).collect();
    if ratios.len() < 2 {
        return None;
    }
    let each: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}×")).collect();
    ratios.sort_by(f64::total_cmp);
    Some(format!("{}: median {:.2}×", each.join(", "), ratios[ratios.len() / 2]))
}

/// A measurement that another program still disturbed after every attempt gets a mark.
const DISTURBED_MARK: &str = " ⚠";

fn marked<'a>(label: String, outcomes: impl IntoIterator<Item = &'a Outcome>) -> String {
    if outcomes.into_iter().any(Outcome::disturbed) { label + DISTURBED_MARK } else { label }
}

fn title(row: &Row) -> String {
    marked(row.server.title.to_owned(), row.outcome.iter())
}

fn errors(row: &Row) -> String {
    int_u(row.get(|o| Some(o.summary.errors.total)))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(dash, |kib| format!("{:.1}", kib as f64 / 1024.0))
}

fn find<'a>(rows: &'a [Row], key: &str) -> Option<&'a Row> {
    rows.iter().find(|row| row.server.key == key)
}

fn echo(plan: &Plan, rows: &[Row]) -> Vec<Part> {
    let load = code(&[wsload(&measure::echo_args(plan), PROTOCOL_TARGET)]);
    let ceiling = find(rows, "tcp").and_then(|row| row.get(Outcome::msgs_per_sec));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let per_sec = row.get(Outcome::msgs_per_sec);
            let latency = |value: fn(&Percentiles) -> u64| row.get(|o| o.latency().map(value));
            vec![
                title(row),
                int_u(row.get(|o| Some(o.summary.messages.as_ref()?.frame_bytes as u64))),
                int(per_sec),
                range(row.outcome.as_ref()),
                ratio(per_sec, ceiling),
                int_u(latency(|p| p.p50)),
                int_u(latency(|p| p.p99)),
                int_u(latency(|p| p.p999)),
                int_u(latency(|p| p.max)),
                dec(row.get(Outcome::cpu_per_answer), 1),
                dec(row.get(Outcome::server_cores), 2),
                dec(row.get(Outcome::wsload_cores), 2),
                mib(row.get(|o| o.server_rss()?.peak_kib)),
                errors(row),
            ]
        })
        .collect();
    let table = table(
        &[
            "server",
            "bytes/msg",
            "msgs/s",
            "range",
            "vs ceiling",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "server CPU µs/msg",
            "server cores",
            "wsload cores",
            "server peak MiB",
            "errors",
        ],
        &body,
    );
    let outcome = |key| find(rows, key).and_then(|row| row.outcome.as_ref());
    let rounds =
        outcome("ch08").zip(outcome("tcp")).and_then(|(ch08, tcp)| round_by_round(ch08, tcp));
    let rounds = rounds.map(|rounds| {
        format!(
            "Round by round, each of chapter 08's runs against the ceiling's run of the same \
             round (a drift of the machine between rounds falls on both alike): {rounds}."
        )
    });
    vec![
        part("echo-load", vec![load]),
        part("echo", vec![table, echo_cpu(rows).unwrap_or_default(), rounds.unwrap_or_default()]),
    ]
}

/// The CPU a message costs the ceiling, chapter 01 and chapter 08, and the costliest step.
fn echo_cpu(rows: &[Row]) -> Option<String> {
    let cpu = |key| find(rows, key).and_then(|row| row.get(Outcome::cpu_per_answer));
    let (tcp, ch01, ch08) = (cpu("tcp")?, cpu("ch01")?, cpu("ch08")?);
    let mut text = format!(
        "Per message, the ceiling's server spends {tcp:.1} µs of CPU, chapter 01 {ch01:.1} µs \
         and chapter 08 {ch08:.1} µs."
    );
    // The step worth a sentence: the biggest loss between neighbouring chapters.
    let mut steps: Vec<(String, f64)> = rows
        .windows(2)
        .skip(1)
        .filter_map(|pair| {
            let before = pair[0].get(Outcome::cpu_per_answer)?;
            let after = pair[1].get(Outcome::cpu_per_answer)?;
            Some((format!("{} → {}", pair[0].server.key, pair[1].server.key), after - before))
        })
        .collect();
    steps.sort_by(|a, b| b.1.total_cmp(&a.1));
    if let Some((step, cost)) = steps.first().filter(|(_, cost)| *cost > 0.0) {
        let _ = write!(text, " The costliest step between two chapters is {step}: +{cost:.1} µs.");
    }
    Some(text)
}

fn idle(plan: &Plan, rows: &[Row]) -> Vec<Part> {
    let args = measure::idle_args(plan, plan.idle.connections, plan.idle.hold);
    let load = code(&[wsload(&args, PROTOCOL_TARGET)]);
    let ceiling = find(rows, "tcp").and_then(|row| row.get(Outcome::per_conn_kib));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let per = row.get(Outcome::per_conn_kib);
            vec![
                title(row),
                int_u(row.get(|o| Some(o.connections()?.opened))),
                mib(row.get(|o| o.server_rss()?.baseline_kib)),
                mib(row.get(|o| o.server_rss()?.end_kib)),
                dec(per, 1),
                ratio(per, ceiling),
                int(row.get(|o| Some(o.connections()?.handshakes_per_sec))),
                int_u(row.get(|o| Some(o.handshake()?.p99))),
                int_u(row.get(|o| Some(o.connections()?.dropped))),
                errors(row),
            ]
        })
        .collect();
    let table = table(
        &[
            "server",
            "open",
            "RSS before MiB",
            "RSS held MiB",
            "KiB/conn",
            "vs ceiling",
            "handshakes/s",
            "handshake p99 µs",
            "dropped",
            "errors",
        ],
        &body,
    );
    let kib = |key| find(rows, key).and_then(|row| row.get(Outcome::per_conn_kib));
    let held = match (kib("ch06"), kib("ch07"), kib("ch08")) {
        (Some(ch06), Some(ch07), Some(ch08)) => format!(
            "Per connection, chapter 06 holds {ch06:.1} KiB, chapter 07, with its limits, \
             {ch07:.1} KiB, and chapter 08 {ch08:.1} KiB."
        ),
        _ => String::new(),
    };
    vec![part("idle-load", vec![load]), part("idle", vec![table, held])]
}

fn broadcast(plan: &Plan, rooms: &[RoomRows]) -> Part {
    let mut blocks = Vec::new();
    for room in rooms {
        blocks.push(format!(
            "### A room of {} members, {} publishes a second",
            thousands(room.room.members as f64),
            room.room.rate
        ));
        blocks.push(code(&[wsload(&measure::broadcast_args(plan, &room.room), TARGET)]));
        let ceiling = find(&room.rows, "tcp").and_then(|row| row.get(Outcome::cpu_per_answer));
        let body: Vec<Vec<String>> = room
            .rows
            .iter()
            .map(|row| {
                if row.outcome.is_none() {
                    let mut cells = vec![row.server.title.to_owned(), "no rooms".to_owned()];
                    cells.extend((0..11).map(|_| dash()));
                    return cells;
                }
                let cpu = row.get(Outcome::cpu_per_answer);
                let broadcast = |value: fn(&Broadcast) -> f64| {
                    row.get(|o| o.summary.broadcast.as_ref().map(value))
                };
                vec![
                    title(row),
                    int(broadcast(|b| b.publishes_per_sec)),
                    int(broadcast(|b| b.deliveries_per_sec)),
                    frames(row),
                    ratio(ceiling, cpu),
                    int_u(row.get(|o| Some(o.latency()?.p50))),
                    int_u(row.get(|o| Some(o.latency()?.p99))),
                    int_u(row.get(|o| Some(o.latency()?.max))),
                    int_u(row.get(|o| Some(o.summary.broadcast.as_ref()?.lost))),
                    dec(cpu, 2),
                    dec(row.get(Outcome::server_cores), 2),
                    mib(row.get(|o| o.server_rss()?.peak_kib)),
                    errors(row),
                ]
            })
            .collect();
        blocks.push(table(
            &[
                "server",
                "publishes/s",
                "deliveries/s",
                "frame bytes",
                "capacity vs ceiling",
                "p50 µs",
                "p99 µs",
                "max µs",
                "lost",
                "server CPU µs/delivery",
                "server cores",
                "server peak MiB",
                "errors",
            ],
            &body,
        ));
    }
    part("broadcast", blocks)
}

/// The sizes of the frames a broadcast run received: `96` or `91-102`.
fn frames(row: &Row) -> String {
    match row.get(|o| o.summary.broadcast.as_ref()?.frame_bytes.clone()) {
        Some(FrameBytes { min, max }) if min == max => min.to_string(),
        Some(FrameBytes { min, max }) => format!("{min}-{max}"),
        None => dash(),
    }
}

fn churn(plan: &Plan, rows: &[Row]) -> Vec<Part> {
    let load = code(&[wsload(&measure::churn_args(plan), PROTOCOL_TARGET)]);
    let ceiling = find(rows, "tcp").and_then(|row| row.get(Outcome::cpu_per_answer));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                title(row),
                int(row.get(|o| Some(o.summary.churn.as_ref()?.cycles_per_sec))),
                ratio(row.get(Outcome::cpu_per_answer), ceiling),
                int_u(row.get(|o| Some(o.latency()?.p50))),
                int_u(row.get(|o| Some(o.latency()?.p99))),
                int_u(row.get(|o| Some(o.handshake()?.p50))),
                int_u(row.get(|o| Some(o.handshake()?.p99))),
                dec(row.get(Outcome::cpu_per_answer), 1),
                dec(row.get(Outcome::server_cores), 2),
                dec(row.get(Outcome::wsload_cores), 2),
                errors(row),
            ]
        })
        .collect();
    let table = table(
        &[
            "server",
            "cycles/s",
            "CPU/cycle vs ceiling",
            "cycle p50 µs",
            "cycle p99 µs",
            "handshake p50 µs",
            "handshake p99 µs",
            "server CPU µs/cycle",
            "server cores",
            "wsload cores",
            "errors",
        ],
        &body,
    );
    let tcp = find(rows, "tcp");
    let ceiling_cores =
        tcp.and_then(|row| row.get(Outcome::wsload_cores).zip(row.get(Outcome::server_cores)));
    let ceiling_cores = ceiling_cores.map_or_else(String::new, |(client, server)| {
        format!("In this run the ceiling's wsload kept {client:.2} cores busy and its server {server:.2}.")
    });
    vec![part("churn-load", vec![load]), part("churn", vec![table, ceiling_cores])]
}

fn per_conn(outcome: &Outcome) -> Option<f64> {
    outcome.per_conn_kib()
}

/// How far apart two measurements of the same server came in this run: chapter 08's echo row
/// and the tuning run with its default read path. Returns the threshold to call a change
/// noise, and the two rates when both were measured.
fn noise_floor(tuning: &TuningResults, echo_rows: Option<&[Row]>) -> (f64, Option<(f64, f64)>) {
    let row = echo_rows
        .and_then(|rows| find(rows, "ch08"))
        .and_then(|row| row.get(Outcome::msgs_per_sec));
    let tuned = tuning
        .read_paths
        .iter()
        .find(|run| run.path == ReadPath::DEFAULT)
        .and_then(|run| run.echo.msgs_per_sec());
    match (row, tuned) {
        (Some(a), Some(b)) if a > 0.0 => (NOISE.max((b - a).abs() / a), Some((a, b))),
        _ => (NOISE, None),
    }
}

/// `--read-buffer 4096` → `--read-buffer 256` changes, for the notes under the table.
fn read_path_note(before: &ReadPathRun, after: &ReadPathRun, noise: f64) -> Option<String> {
    let (x, y) = (per_conn(&before.idle)?, per_conn(&after.idle)?);
    let count = after.idle.connections().map_or(0, |connections| connections.opened) as f64;
    let mut note = format!(
        "- {} → {}: {:.2} KiB {} per connection ({:.1} MiB at {} connections)",
        before.path.label(),
        after.path.label(),
        (x - y).abs(),
        if y <= x { "less" } else { "more" },
        (x - y).abs() * count / 1024.0,
        thousands(count)
    );
    for (what, a, b) in
        [("small", &before.echo, &after.echo), ("large", &before.large, &after.large)]
    {
        if let (Some(a), Some(b)) = (a.msgs_per_sec(), b.msgs_per_sec()) {
            let _ = write!(note, "; {what}-message echo {}", change(a, b));
            if relative(a, b).abs() < noise {
                note.push_str(" (within noise)");
            }
        }
    }
    note.push('.');
    Some(note)
}

fn tuning_steps(plan: &Plan, tuning: &TuningResults, echo_rows: Option<&[Row]>) -> Vec<Part> {
    let (noise, twice) = noise_floor(tuning, echo_rows);
    let twice = twice.map_or_else(String::new, |(a, b)| {
        format!(
            "Chapter 08 with its defaults was measured twice on the echo load in this run (its \
             row in the echo table, and the default read path below): {} and {} msgs/s, {} \
             apart. That is this machine's noise, so below, a throughput change smaller than \
             {:.1} % is called noise, not a win or a loss.",
            thousands(a),
            thousands(b),
            change(a, b),
            noise * 100.0,
        )
    });
    let backlog = backlog_verdict(tuning);
    vec![
        part("tuning-noise", vec![twice]),
        part("read-path-load", vec![read_path_load(plan)]),
        part("read-path", read_paths(plan, tuning, noise)),
        part("backlog-load", vec![code(&[wsload(&measure::burst_args(plan), TARGET)])]),
        part("backlog", backlog_table(tuning, backlog)),
        part("many-load", vec![code(&[wsload(&measure::many_args(plan), TARGET)])]),
        part("many", vec![many_table(&tuning.many)]),
        part("demo", demo(tuning, noise)),
        part("steps", steps(tuning, echo_rows, noise)),
        part("lost", vec![lost(tuning, backlog, noise)]),
    ]
}

fn read_path_load(plan: &Plan) -> String {
    let t = &plan.tuning;
    code(&[
        wsload(&measure::idle_args(plan, t.read_buffer_connections, t.read_buffer_hold), TARGET),
        wsload(&measure::echo_args(plan), TARGET),
        wsload(&measure::large_echo_args(plan), TARGET),
    ])
}

fn read_paths(plan: &Plan, tuning: &TuningResults, noise: f64) -> Vec<String> {
    let body: Vec<Vec<String>> = tuning
        .read_paths
        .iter()
        .map(|run| {
            vec![
                marked(run.path.label(), [&run.idle, &run.echo, &run.large]),
                int_u(run.idle.connections().map(|c| c.opened)),
                dec(per_conn(&run.idle), 2),
                int_u(run.idle.connections().map(|c| c.pings)),
                int_u(run.idle.connections().map(|c| c.dropped)),
                int(run.echo.msgs_per_sec()),
                range(Some(&run.echo)),
                dec(run.echo.cpu_per_answer(), 2),
                int(run.large.msgs_per_sec()),
                range(Some(&run.large)),
                dec(run.large.cpu_per_answer(), 2),
            ]
        })
        .collect();
    let small = format!("echo {} B msgs/s", plan.echo.size);
    let large = format!("echo {} B msgs/s", plan.tuning.large_message);
    let table = table(
        &[
            "read path",
            "open",
            "KiB/conn",
            "pings answered",
            "unexpected closes",
            &small,
            "range",
            "server CPU µs/msg",
            &large,
            "range",
            "server CPU µs/msg",
        ],
        &body,
    );
    let notes: Vec<String> = tuning
        .read_paths
        .windows(2)
        .filter_map(|pair| read_path_note(&pair[0], &pair[1], noise))
        .collect();
    vec![table, notes.join("\n")]
}

/// The smallest and the largest backlog, and how long each took to open the burst.
type BacklogVerdict = Option<(u32, u32, f64, f64)>;

fn backlog_verdict(tuning: &TuningResults) -> BacklogVerdict {
    let ramp = |run: &Outcome| run.connections().map(|c| c.ramp_secs);
    match tuning.backlog.as_slice() {
        [(small, small_run), .., (big, big_run)] => {
            ramp(small_run).zip(ramp(big_run)).map(|(slow, fast)| (*small, *big, slow, fast))
        }
        _ => None,
    }
}

fn backlog_table(tuning: &TuningResults, verdict: BacklogVerdict) -> Vec<String> {
    let body: Vec<Vec<String>> = tuning
        .backlog
        .iter()
        .map(|(backlog, burst)| {
            vec![
                marked(format!("`--backlog {backlog}`"), [burst]),
                int_u(burst.connections().map(|c| c.opened)),
                int_u(burst.connections().map(|c| c.failed)),
                dec(burst.connections().map(|c| c.ramp_secs), 2),
                int(burst.connections().map(|c| c.handshakes_per_sec)),
                int_u(burst.handshake().map(|p| p.p50)),
                int_u(burst.handshake().map(|p| p.p99)),
                int_u(burst.handshake().map(|p| p.max)),
            ]
        })
        .collect();
    let table = table(
        &[
            "setting",
            "opened",
            "failed",
            "seconds to open all",
            "handshakes/s",
            "handshake p50 µs",
            "handshake p99 µs",
            "handshake max µs",
        ],
        &body,
    );
    let sentence = verdict.map_or_else(String::new, |(small, big, slow, fast)| {
        // Differences under 50 ms are the scheduler's, not the backlog's.
        let verdict = if relative(slow, fast).abs() < NOISE || (slow - fast).abs() < 0.05 {
            "no measurable difference".to_owned()
        } else if fast < slow {
            format!("{:.1}× faster", slow / fast.max(1e-9))
        } else {
            format!("{:.1}× slower", fast / slow.max(1e-9))
        };
        format!(
            "Opening the burst took {slow:.2} s with a backlog of {small} and {fast:.2} s with \
             {big}: {verdict}."
        )
    });
    vec![table, sentence]
}

fn many_table(many: &Outcome) -> String {
    let connections = many.connections();
    let open = connections.map_or(0, |c| c.opened).max(1) as f64;
    let body = vec![vec![
        marked("defaults".to_owned(), [many]),
        int_u(connections.map(|c| c.opened)),
        mib(many.server_rss().and_then(|rss| rss.end_kib)),
        dec(per_conn(many), 2),
        per_conn(many).map_or_else(dash, |kib| if kib <= 3.0 { "yes" } else { "no" }.to_owned()),
        int_u(connections.map(|c| c.dropped)),
        int_u(Some(many.summary.errors.total)),
        int_u(connections.map(|c| c.pings)),
        dec(many.server_cores(), 3),
        dec(Some(many.kernel.slab_kib as f64 / open), 2),
        dec(Some(many.kernel.tcp_buffers_kib as f64 / open), 2),
    ]];
    table(
        &[
            "setting",
            "open",
            "server RSS MiB",
            "KiB/conn",
            "≤ 3 KiB",
            "unexpected closes",
            "errors",
            "pings answered",
            "server cores while idle",
            "kernel slab KiB/conn",
            "kernel TCP buffers KiB/conn",
        ],
        &body,
    )
}

fn demo(tuning: &TuningResults, noise: f64) -> Vec<String> {
    let (quiet, viewed) = &tuning.demo;
    let body: Vec<Vec<String>> = [("echo alone", quiet), ("echo + demo page loads", viewed)]
        .into_iter()
        .map(|(label, run)| {
            vec![
                marked(label.to_owned(), [run]),
                int_u(Some(run.page_views)),
                int(run.msgs_per_sec()),
                range(Some(run)),
                int_u(run.latency().map(|p| p.p99)),
                dec(run.cpu_per_answer(), 2),
            ]
        })
        .collect();
    let table = table(
        &["run", "pages served", "echo msgs/s", "range", "p99 µs", "server CPU µs/msg"],
        &body,
    );
    let sentence =
        quiet.msgs_per_sec().zip(viewed.msgs_per_sec()).map_or_else(String::new, |(a, b)| {
            let verdict =
                if relative(a, b).abs() < noise { "within noise" } else { "beyond noise" };
            format!("Echo throughput with the page loaded: {} ({verdict}).", change(a, b))
        });
    vec![table, sentence]
}

/// Chapter 06 -> 07 -> 08 on the echo path: what the limits cost, then what the tuning wins.
fn steps(tuning: &TuningResults, echo_rows: Option<&[Row]>, noise: f64) -> Vec<String> {
    let mut body = Vec::new();
    for key in ["ch06", "ch07", "ch08"] {
        if let Some(row) = echo_rows.and_then(|rows| find(rows, key)) {
            body.push(vec![
                title(row),
                int(row.get(Outcome::msgs_per_sec)),
                int_u(row.get(|o| Some(o.latency()?.p50))),
                int_u(row.get(|o| Some(o.latency()?.p99))),
                dec(row.get(Outcome::cpu_per_answer), 2),
            ]);
        }
    }
    for run in &tuning.read_paths {
        body.push(vec![
            marked(format!("ch08 {}", run.path.label()), [&run.echo]),
            int(run.echo.msgs_per_sec()),
            int_u(run.echo.latency().map(|p| p.p50)),
            int_u(run.echo.latency().map(|p| p.p99)),
            dec(run.echo.cpu_per_answer(), 2),
        ]);
    }
    let table = table(&["server", "echo msgs/s", "p50 µs", "p99 µs", "server CPU µs/msg"], &body);
    // A chapter's echo rate and server CPU per message.
    let echo_of = |key: &str| -> Option<(f64, f64)> {
        let row = echo_rows.and_then(|rows| find(rows, key))?;
        row.get(Outcome::msgs_per_sec).zip(row.get(Outcome::cpu_per_answer))
    };
    let step = |what: &str, from: &str, to: &str| {
        let ((a, ca), (b, cb)) = echo_of(from).zip(echo_of(to))?;
        Some(format!(
            "From chapter {} to {} ({what}): throughput {}, server CPU per message {} \
             ({ca:.2} → {cb:.2} µs){}.",
            &from[2..],
            &to[2..],
            change(a, b),
            change(ca, cb),
            if relative(a, b).abs() < noise { ", within noise for throughput" } else { "" },
        ))
    };
    let mut sentences: Vec<String> =
        [step("the limits", "ch06", "ch07"), step("the tuning", "ch07", "ch08")]
            .into_iter()
            .flatten()
            .collect();
    // Chapter 08 with chapter 07's buffer: what the rest of the tuning is worth.
    let same_buffer = tuning
        .read_paths
        .iter()
        .find(|run| run.path.buffer == 128 * 1024 && !run.path.on_demand)
        .and_then(|run| run.echo.cpu_per_answer());
    if let (false, Some((_, c07)), Some((_, c08)), Some(c128)) =
        (sentences.is_empty(), echo_of("ch07"), echo_of("ch08"), same_buffer)
    {
        sentences.push(format!(
            "With chapter 07's 128 KiB buffer read straight, chapter 08 spends {c128:.2} µs per \
             message: {} against chapter 07, which is what the metric handles, `TCP_NODELAY` and \
             the rest of the tuning are worth together; the read path accounts for the other {} \
             from there to {c08:.2} µs.",
            change(c07, c128),
            change(c128, c08),
        ));
    }
    vec![table, sentences.join(" ")]
}

/// What did not win: a list, one line per step that lost something.
fn lost(tuning: &TuningResults, backlog: BacklogVerdict, noise: f64) -> String {
    let mut lost = Vec::new();
    for pair in tuning.read_paths.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        for (what, a, b) in
            [("small", &before.echo, &after.echo), ("large", &before.large, &after.large)]
        {
            if let Some((x, y)) = a.msgs_per_sec().zip(b.msgs_per_sec()) {
                if relative(x, y) <= -noise {
                    lost.push(format!(
                        "- {} instead of {} cost {what}-message echo throughput ({}).",
                        after.path.label(),
                        before.path.label(),
                        change(x, y)
                    ));
                }
            }
        }
        if let (Some(x), Some(y)) = (per_conn(&before.idle), per_conn(&after.idle)) {
            if x - y < 0.25 {
                lost.push(format!(
                    "- {} instead of {} saved no memory worth having ({:+.2} KiB per connection).",
                    after.path.label(),
                    before.path.label(),
                    y - x
                ));
            }
        }
    }
    if let Some((small, big, slow, fast)) = backlog {
        if relative(slow, fast) > -NOISE || (slow - fast).abs() < 0.05 {
            lost.push(format!(
                "- `--backlog {big}` did not open the burst faster than `--backlog {small}` \
                 ({slow:.2} s → {fast:.2} s)."
            ));
        }
    }
    if let Some(kib) = per_conn(&tuning.many).filter(|kib| *kib > 3.0) {
        lost.push(format!(
            "- With the defaults the server needs {kib:.2} KiB per connection: over the 3 KiB \
             target (see chapter 08's page for where it goes)."
        ));
    }
    if lost.is_empty() {
        "Every step above measured a gain in this run.".to_owned()
    } else {
        lost.join("\n")
    }
}

fn run_log(log: &[LogEntry]) -> Part {
    let body: Vec<Vec<String>> = log
        .iter()
        .map(|entry| {
            vec![
                format!("`{}`", entry.id),
                dec(entry.load_average, 2),
                dec(entry.disturbance, 2),
                entry.attempts.to_string(),
                if entry.passed { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    let table =
        table(&["measurement", "load average", "other cores busy", "attempts", "no errors"], &body);
    let summary = format!("<details><summary>{} measurements</summary>", log.len());
    part("log", vec![summary, table, "</details>".to_owned()])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        measure::{DISTURBED, test_outcome},
        plan::{self, FANOUT_MESSAGE, MAX_CONNECTIONS, ServerSpec, duration_arg},
    };

    fn runs(rates: &[f64]) -> Outcome {
        test_outcome(json!({}), rates)
    }

    #[test]
    fn rounds_pair_runs_in_the_order_they_ran() {
        let ceiling = runs(&[200.0, 250.0, 240.0]);
        let row = runs(&[180.0, 200.0, 216.0]);
        // Sorted first, the pairs would be 180/200, 200/240 and 216/250 instead.
        assert_eq!(round_by_round(&row, &ceiling).unwrap(), "0.90×, 0.80×, 0.90×: median 0.90×");
        assert_eq!(range(Some(&row)), "180–216");
        assert_eq!(round_by_round(&runs(&[1.0]), &runs(&[1.0])), None);
    }

    /// The chapters whose server `has` something, as the page names them: `chapter 08`,
    /// `chapters 07 and 08`, `chapters 05-08`.
    fn chapters_where(has: impl Fn(&ServerSpec) -> bool) -> String {
        let numbers: Vec<&str> = plan::SERVERS
            .iter()
            .filter(|server| has(server))
            .filter_map(|server| server.key.strip_prefix("ch"))
            .collect();
        match numbers.as_slice() {
            [] => "no chapter".to_owned(),
            [one] => format!("chapter {one}"),
            [first, second] => format!("chapters {first} and {second}"),
            [first, .., last] => format!("chapters {first}-{last}"),
        }
    }

    fn page() -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book/src");
        std::fs::read_to_string(root.join("benchmarks.md")).expect("the benchmarks page")
    }

    #[test]
    fn the_page_includes_every_generated_part() {
        let machine = Machine {
            cpu_model: String::new(),
            cores: 2,
            memory_gib: 1.0,
            kernel: String::new(),
            rustc: String::new(),
            date: String::new(),
            profile: "release".to_owned(),
            open_files: String::new(),
        };
        let parts = render(&Results::default(), &Plan::full(), &machine, "", Duration::ZERO);
        let page = page();
        for part in parts {
            let include = format!("{{{{#include generated/{}}}}}", part.file_name());
            assert_eq!(page.matches(&include).count(), 1, "{include}");
        }
    }

    /// The page's prose describes the full plan in words: it must say what `Plan::full` runs.
    #[test]
    fn the_prose_quotes_the_full_plan() {
        let plan = Plan::full();
        let (echo, idle, churn, t) = (&plan.echo, &plan.idle, &plan.churn, &plan.tuning);
        let d = duration_arg;
        let n = |count: usize| thousands(count as f64);
        let rate_limited = chapters_where(|server| server.rate_limited);
        let capped = chapters_where(|server| server.capped);
        let expected = [
            format!(
                "{rate_limited} get `--rate-limit 1000000 --rate-burst 1000000` and {capped} \
                 `--max-connections {MAX_CONNECTIONS}`"
            ),
            format!("and {} get an `--admin-listen`", chapters_where(|server| server.admin)),
            format!("{} connections, each sending a {}-byte message", echo.connections, echo.size),
            format!(
                "{} warm-up then {} measured, {} times",
                d(echo.warmup),
                d(echo.duration),
                echo.repeats
            ),
            format!("the highest of the {} runs", echo.repeats),
            format!(
                "envelope of {} cannot",
                chapters_where(|server| server.protocol == "envelope")
            ),
            format!("{} connections opened and held for {}", n(idle.connections), d(idle.hold)),
            format!(
                "({} warm-up, {} measured)",
                d(plan.broadcast_warmup),
                d(plan.broadcast_duration)
            ),
            format!("`tcp-echo --fanout {FANOUT_MESSAGE}`: every {FANOUT_MESSAGE}-byte message"),
            format!("{} workers, each looping", churn.concurrency),
            format!("{} warm-up, {} measured:", d(churn.warmup), d(churn.duration)),
            format!(
                "Memory: {} idle connections held {} with `--heartbeat-interval {}`",
                n(t.read_buffer_connections),
                d(t.read_buffer_hold),
                d(t.heartbeat)
            ),
            format!(
                "with {}-byte messages, and the same with {}-byte ones",
                echo.size,
                n(t.large_message)
            ),
            format!(
                "{} connections at once from one wsload process, {} handshakes in flight",
                n(t.burst_connections),
                n(t.burst_inflight)
            ),
            format!("### {} connections with heartbeats", n(t.many_connections)),
            format!(
                "{} connections held for {} with `--heartbeat-interval {}`",
                n(t.many_connections),
                d(t.many_hold),
                d(t.heartbeat)
            ),
            format!("more than {DISTURBED:.2} cores"),
        ];
        let page = page().split_whitespace().collect::<Vec<_>>().join(" ");
        for phrase in expected {
            assert!(page.contains(&phrase), "the page does not say: {phrase}");
        }
        assert_eq!(t.page_views, 1, "the page says the demo page is loaded once a second");
    }

    #[test]
    fn the_prose_names_the_chapters_the_plan_treats_alike() {
        assert_eq!(chapters_where(|server| server.rate_limited), "chapters 05-08");
        assert_eq!(chapters_where(|server| server.capped), "chapters 07 and 08");
        assert_eq!(chapters_where(|server| server.admin), "chapters 06-08");
        assert_eq!(chapters_where(|server| server.protocol == "envelope"), "chapters 02-08");
        assert_eq!(chapters_where(|server| server.protocol == "raw"), "chapter 01");
        assert_eq!(chapters_where(|server| server.protocol == "none"), "no chapter");
    }
}
