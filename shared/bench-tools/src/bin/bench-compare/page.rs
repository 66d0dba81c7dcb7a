//! The book's benchmarks page, written from one run's results. Every number on it comes from
//! this run; the prose around the tables only picks which numbers to compare, so it says what
//! the numbers say even when they change.

use std::{fmt::Write as _, time::Duration};

use crate::{
    measure::{
        self, DISTURBED, LogEntry, Outcome, ReadPathRun, RoomRows, Row, TuningResults, thousands,
    },
    plan::{self, Plan, ReadPath, ServerSpec, duration_arg},
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

pub(crate) fn render(
    results: &Results,
    plan: &Plan,
    machine: &Machine,
    command: &str,
    took: Duration,
) -> String {
    let mut page = String::new();
    header(&mut page, plan, machine, command, took);
    if let Some(rows) = &results.echo {
        echo(&mut page, plan, rows);
    }
    if let Some(rows) = &results.idle {
        idle(&mut page, plan, rows);
    }
    if let Some(rooms) = &results.broadcast {
        broadcast(&mut page, plan, rooms);
    }
    if let Some(rows) = &results.churn {
        churn(&mut page, plan, rows);
    }
    if let Some(tuning) = &results.tuning {
        tuning_steps(&mut page, plan, tuning, results.echo.as_deref());
    }
    run_log(&mut page, &results.log);
    page
}

fn header(page: &mut String, plan: &Plan, machine: &Machine, command: &str, took: Duration) {
    let _ = write!(
        page,
        "# Benchmarks\n\n\
         <!-- Written by bench-compare (shared/bench-tools/src/bin/bench-compare). Do not edit \
         by hand: run it again. -->\n\n\
         The same load against every chapter's server, and against a plain TCP echo server that \
         does no WebSocket work at all: the ceiling. Each row is one server; the gap between a \
         row and the ceiling is what that chapter's layers cost, and the gap between two \
         neighbouring rows is what one chapter's idea costs.\n\n"
    );
    if plan.quick {
        page.push_str(
            "> **A quick run.** Seconds per measurement and a few hundred connections: it checks \
             that the tools work, and its numbers mean little.\n\n",
        );
    }
    let _ = write!(
        page,
        "## How it was measured\n\n\
         | | |\n| --- | --- |\n\
         | date | {} |\n\
         | CPU | {} |\n\
         | cores | {} |\n\
         | memory | {:.0} GiB |\n\
         | kernel | Linux {} |\n\
         | compiler | {} |\n\
         | build | {} profile |\n\
         | open files | {} |\n\
         | the whole run took | {:.0} s |\n\n\
         One command measured everything on this page, wrote it, and drew the chart:\n\n\
         ```sh\n{command}\n```\n\n\
         It builds the servers and `wsload` once, then for every measurement starts a **fresh \
         server pinned to CPU 0** (`taskset -c 0`) and runs **`wsload` pinned to CPU 1**, so \
         the two never share a core, and stops the server afterwards. The servers run as \
         shipped, at their default log level (output to a file), with three exceptions: \
         {rate_limited} get `--rate-limit {lim} --rate-burst {lim}` and {capped} \
         `--max-connections {cap}` (above every run's count), because these benchmarks \
         measure the server and not its limits, and {admin} get an `--admin-listen` port of \
         their own. wsload talks to chapter 01 with `--protocol raw`, to chapter 02 with \
         `--no-welcome`, to the others with the JSON envelope, and to the ceiling with \
         `--protocol tcp`: the bytes a WebSocket client would send for the same message (a \
         masked binary frame), echoed back byte for byte by `tcp-echo`, which sets \
         `TCP_NODELAY` and listens with an accept queue of 4096, as chapter 08 does.\n\n\
         Server CPU is the server's user + system time (`/proc/PID/stat`, 10 ms ticks) over \
         the measured window, divided by the answers in it; the kernel's softirq work for \
         loopback packets is billed to no process and is not in it. **Server peak** is the most \
         memory the server held at once in its run (`VmHWM`), its connections and the load's \
         buffers included. A row whose **wsload cores** is \
         close to 1.00 was limited by the load generator's one core at least as much as by the \
         server. Every measurement checks that the machine was otherwise quiet (see the [run \
         log](#run-log)); a ⚠ marks one that another program still disturbed after three \
         attempts. The raw `wsload` summaries (JSON) and the server logs are kept in \
         `target/bench-compare/`.\n\n\
         ![Throughput, memory, fan-out and churn of every chapter against the TCP \
         ceiling](images/benchmarks.svg)\n\n",
        machine.date,
        machine.cpu_model,
        machine.cores,
        machine.memory_gib,
        machine.kernel,
        machine.rustc,
        machine.profile,
        machine.open_files,
        took.as_secs_f64(),
        lim = "1000000",
        cap = plan::MAX_CONNECTIONS,
        rate_limited = chapters_where(|server| server.rate_limited),
        capped = chapters_where(|server| server.capped),
        admin = chapters_where(|server| server.admin),
    );
}

/// A markdown table.
fn table(page: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(page, "| {} |", headers.join(" | "));
    let aligns: Vec<&str> =
        headers.iter().enumerate().map(|(i, _)| if i == 0 { "---" } else { "---:" }).collect();
    let _ = writeln!(page, "| {} |", aligns.join(" | "));
    for row in rows {
        let _ = writeln!(page, "| {} |", row.join(" | "));
    }
    page.push('\n');
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
    int_u(row.u64("/errors/total"))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(dash, |kib| format!("{:.1}", kib as f64 / 1024.0))
}

fn find<'a>(rows: &'a [Row], key: &str) -> Option<&'a Row> {
    rows.iter().find(|row| row.server.key == key)
}

/// The chapters whose server `has` something, for the prose: `chapter 08`, `chapters 07 and
/// 08`, `chapters 05-08` (the flags hold from some chapter on). Read from the plan, so that the
/// page names the chapters the run really treated that way.
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

fn echo(page: &mut String, plan: &Plan, rows: &[Row]) {
    let echo = &plan.echo;
    let _ = write!(
        page,
        "## Echo: round trips\n\n\
         {} connections, each sending a {}-byte message and the next one as soon as the reply \
         is in (closed loop), {} warm-up then {} measured, {} times per row on a fresh server \
         each time, in rounds (every server once a round, so that a drift in the machine's \
         speed falls on every row alike):\n\n\
         ```sh\nwsload {} --protocol … --url … --server-pid …\n```\n\n\
         Each row is the run with the median rate; the range column shows the lowest and the \
         highest of the {} runs (a run that another program disturbed is run again and left \
         out, see the run log), which is how far this shared virtual machine's results move \
         from one run to the next. `--size` is the payload: chapter 01 and the ceiling send \
         exactly that; the JSON envelope of {} cannot be smaller than its own fields and the \
         message id, so theirs are larger (the bytes column). Latencies are round trips in \
         microseconds.\n\n",
        echo.connections,
        echo.size,
        duration_arg(echo.warmup),
        duration_arg(echo.duration),
        echo.repeats,
        measure::echo_args(plan).join(" "),
        echo.repeats,
        chapters_where(|server| server.protocol == "envelope"),
    );
    let ceiling = find(rows, "tcp").and_then(|row| row.f64("/messages/per_sec"));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let per_sec = row.f64("/messages/per_sec");
            vec![
                title(row),
                int_u(row.u64("/messages/frame_bytes")),
                int(per_sec),
                range(row.outcome.as_ref()),
                ratio(per_sec, ceiling),
                int_u(row.u64("/latency_us/p50")),
                int_u(row.u64("/latency_us/p99")),
                int_u(row.u64("/latency_us/p999")),
                int_u(row.u64("/latency_us/max")),
                dec(row.f64("/server_cpu/per_answer_us"), 1),
                dec(row.f64("/server_cpu/cores"), 2),
                dec(row.f64("/wsload_cpu/cores"), 2),
                mib(row.u64("/server_rss/peak_kib")),
                errors(row),
            ]
        })
        .collect();
    table(
        page,
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
    // The steps worth a sentence: the biggest loss between neighbouring chapters.
    let mut steps: Vec<(String, f64)> = rows
        .windows(2)
        .skip(1)
        .filter_map(|pair| {
            let before = pair[0].f64("/server_cpu/per_answer_us")?;
            let after = pair[1].f64("/server_cpu/per_answer_us")?;
            Some((format!("{} → {}", pair[0].server.key, pair[1].server.key), after - before))
        })
        .collect();
    steps.sort_by(|a, b| b.1.total_cmp(&a.1));
    if let (Some(tcp), Some(ch01), Some(ch08)) = (
        find(rows, "tcp").and_then(|row| row.f64("/server_cpu/per_answer_us")),
        find(rows, "ch01").and_then(|row| row.f64("/server_cpu/per_answer_us")),
        find(rows, "ch08").and_then(|row| row.f64("/server_cpu/per_answer_us")),
    ) {
        let _ = write!(
            page,
            "Per message, the ceiling's server spends {tcp:.1} µs of CPU, chapter 01 {ch01:.1} µs \
             and chapter 08 {ch08:.1} µs."
        );
        if let Some((step, cost)) = steps.first().filter(|(_, cost)| *cost > 0.0) {
            let _ =
                write!(page, " The costliest step between two chapters is {step}: +{cost:.1} µs.");
        }
        page.push_str("\n\n");
    }
    let outcome = |key| find(rows, key).and_then(|row| row.outcome.as_ref());
    if let Some(rounds) =
        outcome("ch08").zip(outcome("tcp")).and_then(|(ch08, tcp)| round_by_round(ch08, tcp))
    {
        let _ = write!(
            page,
            "Round by round, each of chapter 08's runs against the ceiling's run of the same \
             round (a drift of the machine between rounds falls on both alike): {rounds}.\n\n"
        );
    }
}

fn idle(page: &mut String, plan: &Plan, rows: &[Row]) {
    let _ = write!(
        page,
        "## Idle connections: memory\n\n\
         A fresh server per row, {} connections opened and held for {} while they do nothing \
         but answer the server's pings:\n\n\
         ```sh\nwsload {} --protocol … --url … --server-pid …\n```\n\n\
         Memory per connection is the server's resident memory (VmRSS) at the end of the hold \
         minus before the first connection, divided by the connections open. Kernel memory for \
         the sockets is in no process's RSS and not in this column.\n\n",
        thousands(plan.idle.connections as f64),
        duration_arg(plan.idle.hold),
        measure::idle_args(plan, plan.idle.connections, plan.idle.hold).join(" "),
    );
    let ceiling = find(rows, "tcp").and_then(|row| row.f64("/server_rss/per_connection_kib"));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let per = row.f64("/server_rss/per_connection_kib");
            vec![
                title(row),
                int_u(row.u64("/connections/opened")),
                mib(row.u64("/server_rss/baseline_kib")),
                mib(row.u64("/server_rss/end_kib")),
                dec(per, 1),
                ratio(per, ceiling),
                int(row.f64("/connections/handshakes_per_sec")),
                int_u(row.u64("/connections/handshake_us/p99")),
                int_u(row.u64("/connections/dropped")),
                errors(row),
            ]
        })
        .collect();
    table(
        page,
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
    let kib = |key| find(rows, key).and_then(|row| row.f64("/server_rss/per_connection_kib"));
    if let (Some(ch06), Some(ch08)) = (kib("ch06"), kib("ch08")) {
        let ch07 = kib("ch07")
            .map(|ch07| format!(", and chapter 07, with its limits, {ch07:.1} KiB"))
            .unwrap_or_default();
        let _ = write!(
            page,
            "Chapters 01-07 read through tungstenite's default read buffer, 128 KiB, allocated \
             up front and zero-filled before the first read (chapter 07 sets only the size \
             limits of its configuration): chapter 06 holds {ch06:.1} KiB per connection{ch07}. \
             Chapter 08 keeps a 256-byte buffer, reads in bursts through a buffer shared by the \
             thread, and keeps every session's task small: {ch08:.1} KiB. The tuning steps below \
             measure the read path alone.\n\n"
        );
    }
}

fn broadcast(page: &mut String, plan: &Plan, rooms: &[RoomRows]) {
    let _ = write!(
        page,
        "## Broadcast: one room's fan-out\n\n\
         Chapters 03 and later have rooms. Every member joins one room, one more connection \
         publishes to it at a fixed rate ({} warm-up, {} measured), and every delivery is timed \
         from its publish (publisher and members share one clock: wsload's). A publish that \
         does not reach a member counts as lost. Chapters 01-02 have no rooms: no row. The \
         ceiling is `tcp-echo --fanout {}`: every {}-byte message the publisher writes is \
         written to every other connection, through a bounded queue per member, with no \
         WebSocket framing, no JSON and no session (about the size of chapter 08's delivery \
         frames; the frames column shows what each server wrote).\n\n\
         Every server is offered the same deliveries a second, so a server that keeps up \
         delivers as many as the ceiling; what differs is what each delivery costs. The \
         capacity column is the ceiling's server CPU per delivery divided by the row's: the \
         share of the ceiling's deliveries a second that the row's server would reach on one \
         core if it were saturated (an estimate from CPU time; a row that does not keep up at \
         all shows it in the lost column instead).\n\n",
        duration_arg(plan.broadcast_warmup),
        duration_arg(plan.broadcast_duration),
        plan::FANOUT_MESSAGE,
        plan::FANOUT_MESSAGE,
    );
    for room in rooms {
        let _ = write!(
            page,
            "### A room of {} members, {} publishes a second\n\n\
             ```sh\nwsload {} --url … --server-pid …\n```\n\n",
            thousands(room.room.members as f64),
            room.room.rate,
            measure::broadcast_args(plan, &room.room).join(" "),
        );
        let ceiling = find(&room.rows, "tcp").and_then(|row| row.f64("/server_cpu/per_answer_us"));
        let body: Vec<Vec<String>> = room
            .rows
            .iter()
            .map(|row| {
                if row.outcome.is_none() {
                    let mut cells = vec![row.server.title.to_owned(), "no rooms".to_owned()];
                    cells.extend((0..11).map(|_| dash()));
                    return cells;
                }
                let cpu = row.f64("/server_cpu/per_answer_us");
                vec![
                    title(row),
                    int(row.f64("/broadcast/publishes_per_sec")),
                    int(row.f64("/broadcast/deliveries_per_sec")),
                    frames(row),
                    ratio(ceiling, cpu),
                    int_u(row.u64("/latency_us/p50")),
                    int_u(row.u64("/latency_us/p99")),
                    int_u(row.u64("/latency_us/max")),
                    int_u(row.u64("/broadcast/lost")),
                    dec(row.f64("/server_cpu/per_answer_us"), 2),
                    dec(row.f64("/server_cpu/cores"), 2),
                    mib(row.u64("/server_rss/peak_kib")),
                    errors(row),
                ]
            })
            .collect();
        table(
            page,
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
        );
    }
}

/// The sizes of the frames a broadcast run received: `96` or `91-102`.
fn frames(row: &Row) -> String {
    match (row.u64("/broadcast/frame_bytes/min"), row.u64("/broadcast/frame_bytes/max")) {
        (Some(min), Some(max)) if min == max => min.to_string(),
        (Some(min), Some(max)) => format!("{min}-{max}"),
        _ => dash(),
    }
}

fn churn(page: &mut String, plan: &Plan, rows: &[Row]) {
    let _ = write!(
        page,
        "## Churn: connections that do not stay\n\n\
         {} workers, each looping: connect, upgrade (and wait for the welcome), one echo, the \
         closing handshake. For the ceiling a cycle is connect, one echo of the same bytes, \
         a FIN each way. {} warm-up, {} measured:\n\n\
         ```sh\nwsload {} --protocol … --url … --server-pid …\n```\n\n\
         Here the ratio column compares the server's CPU per cycle with the ceiling's server \
         (2.00× costs twice as much), not the rates: the ceiling's rate is its client's. \
         Whoever closes a TCP connection first keeps its port in TIME_WAIT. A WebSocket server \
         closes first, after the closing handshake; against `tcp-echo` wsload does, and then \
         spends its time finding free ports for the next connections.",
        plan.churn.concurrency,
        duration_arg(plan.churn.warmup),
        duration_arg(plan.churn.duration),
        measure::churn_args(plan).join(" "),
    );
    if let Some(tcp) = find(rows, "tcp") {
        if let (Some(client), Some(server)) =
            (tcp.f64("/wsload_cpu/cores"), tcp.f64("/server_cpu/cores"))
        {
            let _ = write!(
                page,
                " In this run the ceiling's wsload kept {client:.2} cores busy and its server \
                 {server:.2}."
            );
        }
    }
    page.push_str("\n\n");
    let ceiling = find(rows, "tcp").and_then(|row| row.f64("/server_cpu/per_answer_us"));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let per_sec = row.f64("/churn/cycles_per_sec");
            vec![
                title(row),
                int(per_sec),
                ratio(row.f64("/server_cpu/per_answer_us"), ceiling),
                int_u(row.u64("/latency_us/p50")),
                int_u(row.u64("/latency_us/p99")),
                int_u(row.u64("/connections/handshake_us/p50")),
                int_u(row.u64("/connections/handshake_us/p99")),
                dec(row.f64("/server_cpu/per_answer_us"), 1),
                dec(row.f64("/server_cpu/cores"), 2),
                dec(row.f64("/wsload_cpu/cores"), 2),
                errors(row),
            ]
        })
        .collect();
    table(
        page,
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
}

fn per_conn(outcome: &Outcome) -> Option<f64> {
    outcome.f64("/server_rss/per_connection_kib")
}

/// How far apart two measurements of the same server came in this run: chapter 08's echo row
/// and the tuning run with its default read path. Returns the threshold to call a change
/// noise, and the two rates when both were measured.
fn noise_floor(tuning: &TuningResults, echo_rows: Option<&[Row]>) -> (f64, Option<(f64, f64)>) {
    let row =
        echo_rows.and_then(|rows| find(rows, "ch08")).and_then(|row| row.f64("/messages/per_sec"));
    let tuned = tuning
        .read_paths
        .iter()
        .find(|run| run.path == ReadPath::DEFAULT)
        .and_then(|run| run.echo.f64("/messages/per_sec"));
    match (row, tuned) {
        (Some(a), Some(b)) if a > 0.0 => (NOISE.max((b - a).abs() / a), Some((a, b))),
        _ => (NOISE, None),
    }
}

/// `--read-buffer 4096` → `--read-buffer 256` changes, for the notes under the table.
fn read_path_note(before: &ReadPathRun, after: &ReadPathRun, noise: f64) -> Option<String> {
    let (x, y) = (per_conn(&before.idle)?, per_conn(&after.idle)?);
    let count = after.idle.u64("/connections/opened").unwrap_or(0) as f64;
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
        if let (Some(a), Some(b)) = (a.f64("/messages/per_sec"), b.f64("/messages/per_sec")) {
            let _ = write!(note, "; {what}-message echo {}", change(a, b));
            if relative(a, b).abs() < noise {
                note.push_str(" (within noise)");
            }
        }
    }
    note.push('.');
    Some(note)
}

fn tuning_steps(page: &mut String, plan: &Plan, tuning: &TuningResults, echo_rows: Option<&[Row]>) {
    let t = &plan.tuning;
    let _ = write!(
        page,
        "## Chapter 08 tuning steps\n\n\
         Chapter 08's options, each measured before and after on the same load, in the same \
         run, every time on a fresh `ch08-high-concurrency` with its limits lifted as above."
    );
    let (noise, twice) = noise_floor(tuning, echo_rows);
    if let Some((a, b)) = twice {
        let _ = write!(
            page,
            " Chapter 08 with its defaults was measured twice on the echo load in this run (its \
             row in the echo table, and the default read path below): {} and {} msgs/s, {} \
             apart. That is this machine's noise, so below, a throughput change smaller than \
             {:.1} % is called noise, not a win or a loss.",
            thousands(a),
            thousands(b),
            change(a, b),
            noise * 100.0,
        );
    }
    page.push_str("\n\n");

    // Read path.
    let _ = write!(
        page,
        "### The read path (`--read-buffer`, `--read-on-demand`)\n\n\
         tungstenite gives every connection a read buffer of `--read-buffer` bytes for its \
         whole life, allocated up front and zero-filled before each read, and that size also \
         caps how much one read takes. *Straight* reads from the socket into that buffer; *on \
         demand* (`socket.rs`, chapter 08's default) reads in bursts of up to 64 KiB into a \
         buffer shared by the thread, and a connection keeps only what tungstenite has not \
         taken yet, freed once taken. Memory: {} idle connections held {} with \
         `--heartbeat-interval {}`, so every connection's read path runs (a ping out, a pong \
         in) during the hold. Throughput: the echo load above with {}-byte messages, and the \
         same with {}-byte ones, each in rounds like the echo table's (every read path once a \
         round).\n\n\
         ```sh\nwsload {} --url … --server-pid …\nwsload {} --url … --server-pid …\nwsload {} --url … --server-pid …\n```\n\n",
        thousands(t.read_buffer_connections as f64),
        duration_arg(t.read_buffer_hold),
        duration_arg(t.heartbeat),
        plan.echo.size,
        thousands(t.large_message as f64),
        measure::idle_args(plan, t.read_buffer_connections, t.read_buffer_hold).join(" "),
        measure::echo_args(plan).join(" "),
        measure::large_echo_args(plan).join(" "),
    );
    let body: Vec<Vec<String>> = tuning
        .read_paths
        .iter()
        .map(|run| {
            vec![
                marked(run.path.label(), [&run.idle, &run.echo, &run.large]),
                int_u(run.idle.u64("/connections/opened")),
                dec(per_conn(&run.idle), 2),
                int_u(run.idle.u64("/connections/pings")),
                int_u(run.idle.u64("/connections/dropped")),
                int(run.echo.f64("/messages/per_sec")),
                range(Some(&run.echo)),
                dec(run.echo.f64("/server_cpu/per_answer_us"), 2),
                int(run.large.f64("/messages/per_sec")),
                range(Some(&run.large)),
                dec(run.large.f64("/server_cpu/per_answer_us"), 2),
            ]
        })
        .collect();
    let small = format!("echo {} B msgs/s", plan.echo.size);
    let large = format!("echo {} B msgs/s", t.large_message);
    table(
        page,
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
    if !notes.is_empty() {
        let _ = writeln!(page, "{}\n", notes.join("\n"));
    }

    // Backlog.
    let _ = write!(
        page,
        "### Listen backlog (`--backlog`)\n\n\
         {} connections at once from one wsload process, {} handshakes in flight, no pacing. \
         When the accept queue is full, the kernel drops the handshakes that do not fit and \
         they are retried a second or more later (the SYN timer doubles each time): the burst \
         takes longer, and a connection that misses wsload's 10 s connect timeout fails. (The \
         kernel caps the backlog at `net.core.somaxconn`.)\n\n\
         ```sh\nwsload {} --url … --server-pid …\n```\n\n",
        thousands(t.burst_connections as f64),
        thousands(t.burst_inflight as f64),
        measure::burst_args(plan).join(" "),
    );
    let body: Vec<Vec<String>> = tuning
        .backlog
        .iter()
        .map(|(backlog, burst)| {
            vec![
                marked(format!("`--backlog {backlog}`"), [burst]),
                int_u(burst.u64("/connections/opened")),
                int_u(burst.u64("/connections/failed")),
                dec(burst.f64("/connections/ramp_secs"), 2),
                int(burst.f64("/connections/handshakes_per_sec")),
                int_u(burst.u64("/connections/handshake_us/p50")),
                int_u(burst.u64("/connections/handshake_us/p99")),
                int_u(burst.u64("/connections/handshake_us/max")),
            ]
        })
        .collect();
    table(
        page,
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
    let backlog_verdict = match tuning.backlog.as_slice() {
        [(small, small_run), .., (big, big_run)] => small_run
            .f64("/connections/ramp_secs")
            .zip(big_run.f64("/connections/ramp_secs"))
            .map(|(slow, fast)| (*small, *big, slow, fast)),
        _ => None,
    };
    if let Some((small, big, slow, fast)) = backlog_verdict {
        // Differences under 50 ms are the scheduler's, not the backlog's.
        let verdict = if relative(slow, fast).abs() < NOISE || (slow - fast).abs() < 0.05 {
            "no measurable difference".to_owned()
        } else if fast < slow {
            format!("{:.1}× faster", slow / fast.max(1e-9))
        } else {
            format!("{:.1}× slower", fast / slow.max(1e-9))
        };
        let _ = write!(
            page,
            "Opening the burst took {slow:.2} s with a backlog of {small} and {fast:.2} s with \
             {big}: {verdict}.\n\n"
        );
    }

    // Many connections.
    let many = &tuning.many;
    let _ = write!(
        page,
        "### {} connections with heartbeats\n\n\
         {} connections held for {} with `--heartbeat-interval {}` and the defaults: memory \
         per connection, and whether any connection was closed that should not have been. The \
         target was at most 3 KiB per connection in the server.\n\n\
         ```sh\nwsload {} --url … --server-pid …\n```\n\n\
         The kernel columns are machine-wide growth while the run lasted (both ends of every \
         loopback connection, so per connection pair): socket structures in the slab, and TCP \
         buffer memory.\n\n",
        thousands(t.many_connections as f64),
        thousands(t.many_connections as f64),
        duration_arg(t.many_hold),
        duration_arg(t.heartbeat),
        measure::many_args(plan).join(" "),
    );
    let open = many.u64("/connections/opened").unwrap_or(0).max(1) as f64;
    let body = vec![vec![
        marked("defaults".to_owned(), [many]),
        int_u(many.u64("/connections/opened")),
        mib(many.u64("/server_rss/end_kib")),
        dec(per_conn(many), 2),
        per_conn(many).map_or_else(dash, |kib| if kib <= 3.0 { "yes" } else { "no" }.to_owned()),
        int_u(many.u64("/connections/dropped")),
        int_u(many.u64("/errors/total")),
        int_u(many.u64("/connections/pings")),
        dec(many.f64("/server_cpu/cores"), 3),
        dec(Some(many.kernel.slab_kib as f64 / open), 2),
        dec(Some(many.kernel.tcp_buffers_kib as f64 / open), 2),
    ]];
    table(
        page,
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
    );

    // The demo page.
    let (quiet, viewed) = &tuning.demo;
    let _ = write!(
        page,
        "### The demo page costs the WebSocket path nothing\n\n\
         The echo load above against chapter 08 with its defaults, twice, back to back: once \
         alone, once while this program loads the demo page (`GET /` on the admin listener, \
         the page a browser gets) {} a second for the whole run.\n\n",
        match t.page_views {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        }
    );
    let body: Vec<Vec<String>> = [("echo alone", quiet), ("echo + demo page loads", viewed)]
        .into_iter()
        .map(|(label, run)| {
            vec![
                marked(label.to_owned(), [run]),
                int_u(Some(run.page_views)),
                int(run.f64("/messages/per_sec")),
                range(Some(run)),
                int_u(run.u64("/latency_us/p99")),
                dec(run.f64("/server_cpu/per_answer_us"), 2),
            ]
        })
        .collect();
    table(
        page,
        &["run", "pages served", "echo msgs/s", "range", "p99 µs", "server CPU µs/msg"],
        &body,
    );
    if let (Some(a), Some(b)) = (quiet.f64("/messages/per_sec"), viewed.f64("/messages/per_sec")) {
        let verdict = if relative(a, b).abs() < noise { "within noise" } else { "beyond noise" };
        let _ =
            write!(page, "Echo throughput with the page loaded: {} ({verdict}).\n\n", change(a, b));
    }

    // Chapter 06 -> 07 -> 08: what the limits cost, then what the tuning wins.
    let _ = write!(
        page,
        "### Chapter 06 → 07 → 08 on the echo path\n\n\
         Two steps lie between chapter 06 and the complete server, and this run measures them \
         apart. Chapter 07 adds the limits: a connection cap, a deadline and checks at the \
         upgrade, size limits, the slow-consumer policy, strikes for abuse and a graceful \
         shutdown, with the rate limit and the cap lifted as above; what they cost on the echo \
         path is the first step. Chapter 08 then tunes: it registers its metric handles once \
         instead of looking them up per message, sets `TCP_NODELAY`, keeps its session futures \
         small, and reads through the path above instead of tungstenite's default 128 KiB \
         buffer, which chapters 06 and 07 use (tungstenite zero-fills the free part of the \
         buffer before every read, so its size is paid per read, not only per connection). \
         Only the read path has flags; the rest of the tuning is measured together, as the \
         difference between chapter 07's and chapter 08's echo rows.\n\n"
    );
    let mut body = Vec::new();
    for key in ["ch06", "ch07", "ch08"] {
        if let Some(row) = echo_rows.and_then(|rows| find(rows, key)) {
            body.push(vec![
                title(row),
                int(row.f64("/messages/per_sec")),
                int_u(row.u64("/latency_us/p50")),
                int_u(row.u64("/latency_us/p99")),
                dec(row.f64("/server_cpu/per_answer_us"), 2),
            ]);
        }
    }
    for run in &tuning.read_paths {
        body.push(vec![
            marked(format!("ch08 {}", run.path.label()), [&run.echo]),
            int(run.echo.f64("/messages/per_sec")),
            int_u(run.echo.u64("/latency_us/p50")),
            int_u(run.echo.u64("/latency_us/p99")),
            dec(run.echo.f64("/server_cpu/per_answer_us"), 2),
        ]);
    }
    table(page, &["server", "echo msgs/s", "p50 µs", "p99 µs", "server CPU µs/msg"], &body);
    // A chapter's echo rate and server CPU per message.
    let echo_of = |key: &str| -> Option<(f64, f64)> {
        let row = echo_rows.and_then(|rows| find(rows, key))?;
        row.f64("/messages/per_sec").zip(row.f64("/server_cpu/per_answer_us"))
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
    let steps: Vec<String> =
        [step("the limits", "ch06", "ch07"), step("the tuning", "ch07", "ch08")]
            .into_iter()
            .flatten()
            .collect();
    if !steps.is_empty() {
        page.push_str(&steps.join(" "));
        // Chapter 08 with chapter 07's buffer: what the rest of the tuning is worth.
        let same_buffer = tuning
            .read_paths
            .iter()
            .find(|run| run.path.buffer == 128 * 1024 && !run.path.on_demand)
            .and_then(|run| run.echo.f64("/server_cpu/per_answer_us"));
        if let (Some((_, c07)), Some((_, c08)), Some(c128)) =
            (echo_of("ch07"), echo_of("ch08"), same_buffer)
        {
            let _ = write!(
                page,
                " With chapter 07's 128 KiB buffer read straight, chapter 08 spends {c128:.2} µs \
                 per message: {} against chapter 07, which is what the metric handles, \
                 `TCP_NODELAY` and the rest of the tuning are worth together; the read path \
                 accounts for the other {} from there to {c08:.2} µs.",
                change(c07, c128),
                change(c128, c08),
            );
        }
        page.push_str("\n\n");
    }

    // What did not win.
    let mut lost = Vec::new();
    for pair in tuning.read_paths.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        for (what, a, b) in
            [("small", &before.echo, &after.echo), ("large", &before.large, &after.large)]
        {
            if let (Some(x), Some(y)) = (a.f64("/messages/per_sec"), b.f64("/messages/per_sec")) {
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
    if let Some((small, big, slow, fast)) = backlog_verdict {
        if relative(slow, fast) > -NOISE || (slow - fast).abs() < 0.05 {
            lost.push(format!(
                "- `--backlog {big}` did not open the burst faster than `--backlog {small}` \
                 ({slow:.2} s → {fast:.2} s)."
            ));
        }
    }
    if let Some(kib) = per_conn(many).filter(|kib| *kib > 3.0) {
        lost.push(format!(
            "- With the defaults the server needs {kib:.2} KiB per connection: over the 3 KiB \
             target (see chapter 08's page for where it goes)."
        ));
    }
    page.push_str("### What did not win\n\n");
    if lost.is_empty() {
        page.push_str("Every step above measured a gain in this run.\n\n");
    } else {
        let _ = writeln!(page, "{}\n", lost.join("\n"));
    }
}

fn run_log(page: &mut String, log: &[LogEntry]) {
    let _ = write!(
        page,
        "## Run log\n\n\
         Every measurement of this page, with the 1-minute load average when it started (as \
         `uptime` shows it; the previous measurement's own load is still in it) and the CPU \
         that neither the server nor wsload used during its window: other programs, and the \
         kernel's loopback work that no process is billed for. A measurement with more than \
         {DISTURBED:.2} cores of that was run again, up to three times, keeping the quietest.\n\n\
         <details><summary>{} measurements</summary>\n\n",
        log.len()
    );
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
    table(
        page,
        &["measurement", "load average", "other cores busy", "attempts", "no errors"],
        &body,
    );
    page.push_str("</details>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procs::KernelGrowth;

    fn runs(rates: &[f64]) -> Outcome {
        Outcome {
            summary: serde_json::Value::Null,
            kernel: KernelGrowth::default(),
            rates: rates.to_vec(),
            page_views: 0,
        }
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
