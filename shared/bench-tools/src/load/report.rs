//! The summary of a run: one struct, printed as aligned text for people and serialized as JSON
//! for scripts (`--json`). The JSON field names are a public surface: scripts and the smoke
//! test read them, so they only ever grow. These types are also how the JSON is read back
//! (`bench-compare` deserializes them), so a renamed field breaks the build of every reader
//! instead of turning into a missing value.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::run::{Run, Window, read};
pub use super::{
    cpu::{CpuUse, MachineCpu},
    rss::RssSamples,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    pub url: String,
    pub protocol: String,
    /// The options that shaped the load, for comparing runs.
    pub settings: BTreeMap<String, Value>,
    /// No more errors than `errors.max_errors`.
    pub passed: bool,
    /// Stopped early by Ctrl-C or SIGTERM.
    pub interrupted: bool,
    /// Length of the measured window (the hold, for `idle`).
    pub measured_secs: f64,
    /// From the window's start to the last answer to one of its requests (at least
    /// `measured_secs`): the answer rates are computed over this, so a server that fell behind
    /// and answered during the drain does not look faster than it was.
    pub answers_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<Connections>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Messages>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<Broadcast>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    /// Round trip (echo), publish-to-delivery (broadcast) or full cycle (churn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<Percentiles>,
    pub errors: Errors,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss: Option<RssSamples>,
    pub wsload_rss: RssSamples,
    /// The server's CPU time in the measured window (with `--server-pid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<CpuUse>,
    /// wsload's own: near 1 core, the load generator may have been the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wsload_cpu: Option<CpuUse>,
    /// The whole machine in the window: busy cores beyond the server's and wsload's were
    /// another program's (or the kernel's network work, which no process is billed for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_cpu: Option<MachineCpu>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connections {
    pub requested: u64,
    pub opened: u64,
    pub failed: u64,
    /// From the first connection attempt until every attempt had succeeded or failed.
    pub ramp_secs: f64,
    pub handshakes_per_sec: f64,
    /// Connect + upgrade (+ welcome, + join) of each connection.
    pub handshake_us: Option<Percentiles>,
    /// Open connections that ended without our asking.
    pub dropped: u64,
    pub closed_clean: u64,
    /// Server pings received (and answered).
    pub pings: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Messages {
    pub frame_bytes: usize,
    pub sent: u64,
    pub received: u64,
    /// Replies to messages sent inside the measured window.
    pub measured: u64,
    pub per_sec: f64,
    /// Open loop only: sends skipped because too many replies were outstanding.
    pub skipped: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Broadcast {
    pub room: String,
    pub members: u64,
    /// Publishes sent inside the window and acknowledged.
    pub publishes: u64,
    pub publishes_per_sec: f64,
    /// Deliveries of those publishes, over all members.
    pub deliveries: u64,
    pub deliveries_per_sec: f64,
    /// publishes x members.
    pub expected: u64,
    pub lost: u64,
    /// The deliveries' sizes on the wire (a WebSocket frame's header included); none when
    /// nothing was delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_bytes: Option<FrameBytes>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameBytes {
    pub min: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Churn {
    pub concurrency: usize,
    /// Cycles started inside the window and completed.
    pub cycles: u64,
    pub cycles_per_sec: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    /// `None` for an empty histogram: no percentile of nothing.
    pub(crate) fn of(histogram: &Histogram<u64>) -> Option<Self> {
        (!histogram.is_empty()).then(|| Self {
            count: histogram.len(),
            mean: (histogram.mean() * 10.0).round() / 10.0,
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Errors {
    pub total: u64,
    pub max_errors: u64,
    pub by_kind: BTreeMap<String, ErrorKind>,
    /// The first few errors in order, `+seconds kind: detail`.
    pub first: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorKind {
    pub count: u64,
    pub first: String,
}

impl Errors {
    pub(crate) fn of(run: &Run, max_errors: u64) -> Self {
        Self {
            total: run.errors.total(),
            max_errors,
            by_kind: run
                .errors
                .by_kind()
                .into_iter()
                .map(|(kind, tally)| (kind, ErrorKind { count: tally.count, first: tally.first }))
                .collect(),
            first: run
                .errors
                .first()
                .into_iter()
                .map(|(at, failure)| format!("+{:.3}s {failure}", at.as_secs_f64()))
                .collect(),
        }
    }
}

impl Connections {
    /// The connection counts of a run with a ramp of `ramp` for `requested` connections.
    pub(crate) fn of(run: &Run, requested: u64, ramp: Duration) -> Self {
        let opened = read(&run.counters.opened);
        Self {
            requested,
            opened,
            failed: read(&run.counters.failed),
            ramp_secs: round3(ramp.as_secs_f64()),
            handshakes_per_sec: per_sec(opened, ramp),
            handshake_us: Percentiles::of(&run.handshakes.merged()),
            dropped: read(&run.counters.dropped),
            closed_clean: read(&run.counters.closed_clean),
            pings: read(&run.counters.pings),
        }
    }
}

pub(crate) fn window_secs(window: &Window) -> Duration {
    window.end.saturating_duration_since(window.start)
}

pub(crate) fn per_sec(count: u64, over: Duration) -> f64 {
    if over.is_zero() { 0.0 } else { (count as f64 / over.as_secs_f64() * 10.0).round() / 10.0 }
}

pub(crate) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// `1234567` -> `1,234,567`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn rate(value: f64) -> String {
    thousands(value.round() as u64)
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0))
}

fn percentiles(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={}, mean {:.0})",
        thousands(p.p50),
        thousands(p.p90),
        thousands(p.p99),
        thousands(p.p999),
        thousands(p.max),
        thousands(p.count),
        p.mean
    )
}

fn cpu_line(cpu: &CpuUse) -> String {
    let mut line = format!(
        "{:.2} s in the window = {:.2} cores ({:.2} s in user space)",
        cpu.cpu_secs, cpu.cores, cpu.user_secs
    );
    if let (Some(per), Some(user)) = (cpu.per_answer_us, cpu.per_answer_user_us) {
        let _ = write!(line, "  => {per:.1} us per answer, {user:.1} in user space");
    }
    line
}

fn rss_line(rss: &RssSamples) -> String {
    let samples = [
        ("before", rss.baseline_kib),
        ("all open", rss.open_kib),
        ("end", rss.end_kib),
        ("after close", rss.closed_kib),
        ("peak", rss.peak_kib),
    ];
    let mut line = samples
        .iter()
        .filter(|(label, kib)| kib.is_some() || *label == "before")
        .map(|(label, kib)| format!("{label} {}", mib(*kib)))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(per) = rss.per_connection_kib {
        let _ = write!(line, "  => {per:.1} KiB per connection");
    }
    line
}

impl Summary {
    /// The summary for people: one aligned `label  value` row per line.
    pub(crate) fn text(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |label: &str, value: String| rows.push((label.to_owned(), value));
        let settings = self
            .settings
            .iter()
            .map(|(key, value)| match value {
                Value::String(text) => format!("{key}={text}"),
                other => format!("{key}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" ");
        row("settings", settings);
        if let Some(c) = &self.connections {
            row(
                "connections",
                format!(
                    "{}/{} opened in {:.3}s = {} handshakes/s, {} failed",
                    thousands(c.opened),
                    thousands(c.requested),
                    c.ramp_secs,
                    rate(c.handshakes_per_sec),
                    thousands(c.failed)
                ),
            );
            if let Some(h) = &c.handshake_us {
                row("handshake (us)", percentiles(h));
            }
            row(
                "lifetime",
                format!(
                    "{} dropped unexpectedly, {} closed cleanly, {} server pings answered",
                    thousands(c.dropped),
                    thousands(c.closed_clean),
                    thousands(c.pings)
                ),
            );
        }
        let mut measured = format!("{:.3}s", self.measured_secs);
        // Only worth a word when answers trailed the window noticeably (over 1%).
        if self.answers_secs > self.measured_secs * 1.01 {
            let _ = write!(
                measured,
                " (its last answer came {:.3}s after it started: rates use that)",
                self.answers_secs
            );
        }
        row("measured", measured);
        if let Some(m) = &self.messages {
            row(
                "messages",
                format!(
                    "{} msgs/s  ({} replies measured; {} sent, {} received in all; {} B frames{})",
                    rate(m.per_sec),
                    thousands(m.measured),
                    thousands(m.sent),
                    thousands(m.received),
                    m.frame_bytes,
                    if m.skipped > 0 {
                        format!("; {} sends skipped, replies too far behind", m.skipped)
                    } else {
                        String::new()
                    }
                ),
            );
        }
        if let Some(b) = &self.broadcast {
            // Plain TCP has no acks and no rooms: a publish counts once it is written.
            let publishes = if self.protocol == "tcp" {
                format!("{} written", thousands(b.publishes))
            } else {
                format!("{} acknowledged, room {:?}", thousands(b.publishes), b.room)
            };
            row(
                "publishes",
                format!(
                    "{}/s  ({publishes}, {} members)",
                    rate(b.publishes_per_sec),
                    thousands(b.members)
                ),
            );
            let frames = match &b.frame_bytes {
                Some(FrameBytes { min, max }) if min == max => format!("; {min} B frames"),
                Some(FrameBytes { min, max }) => format!("; {min}-{max} B frames"),
                None => String::new(),
            };
            row(
                "deliveries",
                format!(
                    "{}/s  ({} received of {} expected, {} lost{frames})",
                    rate(b.deliveries_per_sec),
                    thousands(b.deliveries),
                    thousands(b.expected),
                    thousands(b.lost)
                ),
            );
        }
        if let Some(c) = &self.churn {
            row(
                "cycles",
                format!(
                    "{}/s  ({} connect-echo-close cycles by {} workers)",
                    rate(c.cycles_per_sec),
                    thousands(c.cycles),
                    c.concurrency
                ),
            );
        }
        if let Some(p) = &self.latency_us {
            row("latency (us)", percentiles(p));
        }
        row(
            "errors",
            format!("{} (tolerated: {})", thousands(self.errors.total), self.errors.max_errors),
        );
        for (kind, tally) in &self.errors.by_kind {
            row(
                &format!("  {kind}"),
                format!("{}  first: {}", thousands(tally.count), tally.first),
            );
        }
        for (i, first) in self.errors.first.iter().enumerate() {
            row(if i == 0 { "first errors" } else { "" }, first.clone());
        }
        if let Some(rss) = &self.server_rss {
            let label = format!("server RSS ({})", rss.pid.unwrap_or_default());
            row(&label, rss_line(rss));
        }
        row("wsload RSS", rss_line(&self.wsload_rss));
        if let Some(cpu) = &self.server_cpu {
            row(&format!("server CPU ({})", cpu.pid.unwrap_or_default()), cpu_line(cpu));
        }
        if let Some(cpu) = &self.wsload_cpu {
            row("wsload CPU", cpu_line(cpu));
        }
        if let Some(machine) = &self.machine_cpu {
            row(
                "machine CPU",
                format!(
                    "{:.2} of {} cores busy in the window ({:.2} in interrupts and softirqs)",
                    machine.busy_cores, machine.cores, machine.softirq_cores
                ),
            );
        }
        let mut verdict = if self.passed { "PASS" } else { "FAIL" }.to_owned();
        if self.interrupted {
            verdict.push_str(" (interrupted)");
        }
        row("result", verdict);

        let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let mut text =
            format!("wsload {}  {}  protocol {}\n", self.scenario, self.url, self.protocol);
        for (label, value) in rows {
            let _ = writeln!(text, "  {label:<width$}  {value}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn percentiles_of_nothing_are_none() {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        assert!(Percentiles::of(&histogram).is_none());
        histogram.record(100).unwrap();
        let p = Percentiles::of(&histogram).unwrap();
        assert_eq!((p.count, p.p50, p.max), (1, 100, 100));
    }
}
