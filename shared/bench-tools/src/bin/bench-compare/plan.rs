//! What is measured: the servers (one row each) and the load of every scenario, in a full and a
//! quick size. Changing a number here changes the page; the page prints the plan it ran.

use std::{net::SocketAddr, time::Duration};

/// Every package whose binaries a comparison runs: the servers, and this one's `wsload` and
/// `tcp-echo`.
pub(crate) const PACKAGES: [&str; 9] = [
    "bench-tools",
    "ch01-raw-echo",
    "ch02-layering",
    "ch03-session-registry",
    "ch04-heartbeat",
    "ch05-handler-chain",
    "ch06-instrumentation",
    "ch07-limits",
    "ch08-high-concurrency",
];

/// One row of the tables: a server and how wsload talks to it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerSpec {
    /// Short name: `tcp`, `ch01` ... `ch08`.
    pub(crate) key: &'static str,
    /// What the row is, for the tables.
    pub(crate) title: &'static str,
    pub(crate) bin: &'static str,
    /// wsload's `--protocol`.
    pub(crate) protocol: &'static str,
    /// It greets every session (chapters 03 on); chapter 02 does not (`--no-welcome`).
    pub(crate) welcome: bool,
    /// It has rooms, so `broadcast` applies (chapters 03 on).
    pub(crate) rooms: bool,
    /// It limits each session's message rate (chapters 05 on): lifted for the benchmarks, which
    /// measure the server, not the limiter's refusals.
    pub(crate) rate_limited: bool,
    /// It caps its connections (chapters 07 on): lifted above every run's count.
    pub(crate) capped: bool,
    /// It has an admin listener (chapters 06 on), which gets a port of its own.
    pub(crate) admin: bool,
}

pub(crate) const TCP: ServerSpec = ServerSpec {
    key: "tcp",
    title: "TCP ceiling (`tcp-echo`)",
    bin: "tcp-echo",
    protocol: "tcp",
    welcome: false,
    rooms: false,
    rate_limited: false,
    capped: false,
    admin: false,
};

const fn chapter(
    key: &'static str,
    title: &'static str,
    bin: &'static str,
    number: u8,
) -> ServerSpec {
    ServerSpec {
        key,
        title,
        bin,
        protocol: if number == 1 { "raw" } else { "envelope" },
        welcome: number >= 3,
        rooms: number >= 3,
        rate_limited: number >= 5,
        capped: number >= 7,
        admin: number >= 6,
    }
}

pub(crate) const CH06: ServerSpec =
    chapter("ch06", "ch06 instrumentation", "ch06-instrumentation", 6);
pub(crate) const CH07: ServerSpec = chapter("ch07", "ch07 limits", "ch07-limits", 7);
pub(crate) const CH08: ServerSpec =
    chapter("ch08", "ch08 high concurrency", "ch08-high-concurrency", 8);

/// How chapter 08 reads (`--read-buffer`, `--read-on-demand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadPath {
    pub(crate) buffer: usize,
    pub(crate) on_demand: bool,
}

impl ReadPath {
    /// Chapter 08's defaults (chapters/08-high-concurrency/src/config.rs): its echo row and the
    /// tuning run with this path measure the same server twice.
    pub(crate) const DEFAULT: Self = Self { buffer: 256, on_demand: true };

    pub(crate) fn args(self) -> Vec<String> {
        let on_demand = if self.on_demand { "true" } else { "false" };
        ["--read-buffer", &self.buffer.to_string(), "--read-on-demand", on_demand]
            .map(String::from)
            .to_vec()
    }

    /// `256-on-demand`: for run ids.
    pub(crate) fn name(self) -> String {
        format!("{}-{}", self.buffer, if self.on_demand { "on-demand" } else { "straight" })
    }

    pub(crate) fn label(self) -> String {
        let path = if self.on_demand { "on demand" } else { "straight" };
        format!("`--read-buffer {}`, {path}", self.buffer)
    }
}

/// The size of the ceiling's fan-out messages (`tcp-echo --fanout`): about what chapter 08
/// writes for one delivery in the broadcast runs (wsload reports 91-102 bytes there, as the
/// ids and timestamps grow).
pub(crate) const FANOUT_MESSAGE: usize = 100;

/// The rows, top to bottom.
pub(crate) const SERVERS: [ServerSpec; 9] = [
    TCP,
    chapter("ch01", "ch01 raw echo", "ch01-raw-echo", 1),
    chapter("ch02", "ch02 layering", "ch02-layering", 2),
    chapter("ch03", "ch03 session registry", "ch03-session-registry", 3),
    chapter("ch04", "ch04 heartbeat", "ch04-heartbeat", 4),
    chapter("ch05", "ch05 handler chain", "ch05-handler-chain", 5),
    CH06,
    CH07,
    CH08,
];

/// Messages a second each session may send, and in a burst, where a chapter limits them: far
/// beyond what a closed loop reaches.
const NO_RATE_LIMIT: &str = "1000000";

/// `--max-connections` where a chapter caps them (07 on): above every count of every run, and
/// under the 20,000 files a process may open here.
pub(crate) const MAX_CONNECTIONS: usize = 19_900;

impl ServerSpec {
    /// The server's command line: where to listen, plus `extra` (tuning flags).
    pub(crate) fn args(
        &self,
        addr: SocketAddr,
        admin: Option<SocketAddr>,
        extra: &[String],
    ) -> Vec<String> {
        let mut args = if self.protocol == "tcp" {
            vec![addr.to_string()]
        } else {
            vec!["--listen".to_owned(), addr.to_string()]
        };
        if self.rate_limited {
            args.extend(
                ["--rate-limit", NO_RATE_LIMIT, "--rate-burst", NO_RATE_LIMIT].map(String::from),
            );
        }
        if self.capped {
            args.extend(["--max-connections".to_owned(), MAX_CONNECTIONS.to_string()]);
        }
        if let Some(admin) = admin {
            args.extend(["--admin-listen".to_owned(), admin.to_string()]);
        }
        args.extend(extra.iter().cloned());
        args
    }

    /// The wsload options that speak this server's protocol.
    pub(crate) fn protocol_args(&self) -> Vec<String> {
        let mut args = vec!["--protocol".to_owned(), self.protocol.to_owned()];
        if self.protocol == "envelope" && !self.welcome {
            args.push("--no-welcome".to_owned());
        }
        args
    }
}

/// `echo`: closed loop, every connection sends the next message when the reply is in.
#[derive(Debug, Clone)]
pub(crate) struct Echo {
    pub(crate) connections: usize,
    pub(crate) size: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    /// Runs per row; the row is the median one. Echo rates on a shared virtual machine vary
    /// from run to run more than some of the differences between chapters.
    pub(crate) repeats: usize,
}

/// `idle`: a fresh server, connections opened and held.
#[derive(Debug, Clone)]
pub(crate) struct Idle {
    pub(crate) connections: usize,
    pub(crate) hold: Duration,
}

/// `broadcast`: one room of `members`, one publisher at `rate` a second.
#[derive(Debug, Clone)]
pub(crate) struct Broadcast {
    pub(crate) members: usize,
    pub(crate) rate: u32,
}

/// `churn`: workers cycling connect, upgrade, one echo, close.
#[derive(Debug, Clone)]
pub(crate) struct Churn {
    pub(crate) concurrency: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
}

/// Chapter 08's tuning steps, each on fresh servers.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    /// Read paths: idle memory (with heartbeats) and echo throughput, small and large, for each.
    pub(crate) read_paths: Vec<ReadPath>,
    /// The message size of the large-message echo runs.
    pub(crate) large_message: usize,
    pub(crate) read_buffer_connections: usize,
    pub(crate) read_buffer_hold: Duration,
    /// `--heartbeat-interval` for the memory runs: pings keep every connection's read path busy.
    pub(crate) heartbeat: Duration,
    /// `--backlog` values: how fast a burst of connections gets in.
    pub(crate) backlogs: Vec<u32>,
    pub(crate) burst_connections: usize,
    pub(crate) burst_inflight: usize,
    pub(crate) burst_hold: Duration,
    /// Many connections held with heartbeats, at these read buffers.
    pub(crate) many_connections: usize,
    pub(crate) many_hold: Duration,
    /// Demo-page loads a second on the admin listener during an echo run (chapter 08's page
    /// must cost the WebSocket path nothing measurable).
    pub(crate) page_views: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) quick: bool,
    pub(crate) echo: Echo,
    pub(crate) idle: Idle,
    pub(crate) broadcast: Vec<Broadcast>,
    pub(crate) broadcast_warmup: Duration,
    pub(crate) broadcast_duration: Duration,
    pub(crate) churn: Churn,
    pub(crate) tuning: Tuning,
    /// Local addresses wsload spreads many connections over (each has its own ephemeral ports).
    pub(crate) sources: u8,
}

const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

impl Plan {
    /// The book's numbers: about 30 minutes on two cores.
    pub(crate) fn full() -> Self {
        Self {
            quick: false,
            echo: Echo {
                connections: 100,
                size: 20,
                warmup: secs(1),
                duration: secs(6),
                repeats: 5,
            },
            idle: Idle { connections: 5_000, hold: secs(10) },
            // The same offered load for every chapter, 50,000 and 100,000 deliveries a second:
            // what differs is the CPU each delivery costs and how late it arrives.
            broadcast: vec![
                Broadcast { members: 100, rate: 500 },
                Broadcast { members: 1_000, rate: 100 },
                Broadcast { members: 10_000, rate: 10 },
            ],
            broadcast_warmup: secs(2),
            broadcast_duration: secs(10),
            churn: Churn { concurrency: 32, warmup: secs(1), duration: secs(10) },
            tuning: Tuning {
                read_paths: vec![
                    ReadPath { buffer: 131_072, on_demand: false },
                    ReadPath { buffer: 4_096, on_demand: false },
                    ReadPath { buffer: 256, on_demand: false },
                    ReadPath::DEFAULT,
                ],
                large_message: 16 * 1024,
                read_buffer_connections: 10_000,
                read_buffer_hold: secs(15),
                heartbeat: secs(5),
                backlogs: vec![128, 4_096],
                burst_connections: 19_500,
                burst_inflight: 1_000,
                burst_hold: secs(5),
                many_connections: 19_000,
                many_hold: secs(300),
                page_views: 1,
            },
            sources: 4,
        }
    }

    /// A smoke run: every step, small and short, in about a minute.
    pub(crate) fn quick() -> Self {
        Self {
            quick: true,
            echo: Echo {
                connections: 10,
                size: 20,
                warmup: Duration::ZERO,
                duration: secs(1),
                repeats: 1,
            },
            idle: Idle { connections: 200, hold: secs(1) },
            broadcast: vec![Broadcast { members: 20, rate: 20 }],
            broadcast_warmup: Duration::ZERO,
            broadcast_duration: secs(1),
            churn: Churn { concurrency: 4, warmup: Duration::ZERO, duration: secs(1) },
            tuning: Tuning {
                read_paths: vec![ReadPath { buffer: 131_072, on_demand: false }, ReadPath::DEFAULT],
                large_message: 4 * 1024,
                read_buffer_connections: 200,
                read_buffer_hold: secs(1),
                heartbeat: Duration::from_millis(500),
                backlogs: vec![128, 4_096],
                burst_connections: 300,
                burst_inflight: 300,
                burst_hold: secs(1),
                many_connections: 300,
                many_hold: secs(1),
                page_views: 1,
            },
            sources: 2,
        }
    }
}

/// `10s`, `500ms`: how wsload and the servers take durations.
pub(crate) fn duration_arg(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}
