//! The command line of `wsload`: one subcommand per scenario, the options they share, and the
//! checks that keep a run bounded and pointed at this machine only.
//!
//! Everything a user can get wrong is refused here, before the first connection: a target that
//! is not an IPv4 loopback address, a run longer than the hard cap, more connections than the
//! file-descriptor limit allows.

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    path::PathBuf,
    time::Duration,
};

use clap::{Args, Parser, Subcommand, ValueEnum, builder::RangedU64ValueParser};
use tokio_tungstenite::tungstenite::http::Uri;

use super::wire::TCP_STAMP_LEN;

/// The longest run wsload agrees to plan: ramp, warm-up and measurement together.
pub(crate) const MAX_RUN: Duration = Duration::from_secs(15 * 60);

/// The most connections one run may open (the publisher of `broadcast` included).
pub(crate) const MAX_CONNECTIONS: usize = 20_000;

/// File descriptors wsload needs besides its connections (stdio, epoll, the runtime, a JSON
/// file), so the limit check leaves room for them.
const FD_HEADROOM: usize = 32;

const AFTER_HELP: &str = "\
Targets: only ws:// URLs whose host is an IPv4 loopback address (127.0.0.0/8) are accepted,
so a load test can never leave this machine. Use 127.0.0.1, not localhost.

Protocols: `raw` is chapter 01 (any frame is echoed back); `envelope` is the JSON protocol of
chapters 02 on. Chapters 03 and later greet every session with {\"type\":\"welcome\",...}, which
wsload waits for; chapter 02 sends none, so pass --no-welcome there. `broadcast` needs rooms
(chapters 03 and later), or `tcp`. `tcp` is no WebSocket at all, the ceiling the WebSocket rows
are compared with, against the plain TCP server `tcp-echo`; only the address of --url is used.
For `idle`, `echo` (closed loop) and `churn` it sends the bytes a WebSocket client would send
for the same message (a masked binary frame, as with `raw`) and reads as many back. For
`broadcast`, against `tcp-echo --fanout SIZE`, every connection is a member (no handshake, no
join, no acks) and the publisher writes messages of exactly --size bytes, the same SIZE: make it
the delivery frame size an envelope run reports (`deliveries ... B frames`) to compare like
with like.

Every run ends by itself: ramp, warm-up and --duration together may not exceed 15 minutes, and
draining and closing add at most a few seconds. Ctrl-C stops early and still prints the summary.

Exit status: 0 when the run had no more errors than --max-errors (default 0: any failed
handshake, dropped connection, missing or wrong reply, lost delivery or unclean close counts),
1 when it had more (or could not run), 2 for bad usage or a refused target.

Examples:
  wsload echo --protocol raw --url ws://127.0.0.1:9000/ -n 100 --duration 10s
  wsload idle -n 10000 --sources 4 --connect-rate 2000 --server-pid $(pgrep -n ch04) --duration 1m
  wsload broadcast -n 500 --rate 50 --room bench --json -
  wsload churn --concurrency 32 --duration 20s
  wsload echo --protocol tcp --url ws://127.0.0.1:9100/ -n 100 --size 20   (against tcp-echo)
  wsload broadcast --protocol tcp --url ws://127.0.0.1:9100/ --size 100   (tcp-echo --fanout 100)";

/// Load generator for the chapter servers: idle connections, echo round trips, room fan-out and
/// connection churn, against a WebSocket server on this machine.
#[derive(Debug, Parser)]
// No bare `about`: it would show the crate's description instead of the doc comment above.
#[command(name = "wsload", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) scenario: Scenario,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Scenario {
    /// Open --connections, hold them for --duration while answering the server's pings, then
    /// close them. Reports handshake rate, drops during the hold and the server's memory per
    /// connection (with --server-pid).
    Idle(IdleArgs),
    /// Every connection sends --size-byte messages, closed loop (--rate 0: the next one as soon
    /// as the reply is in) or at --rate per second, and times each round trip.
    Echo(EchoArgs),
    /// --connections members join --room; one more connection publishes at --rate per second.
    /// Times publish-to-delivery for every member and counts lost deliveries (envelope, or tcp
    /// against `tcp-echo --fanout`).
    Broadcast(BroadcastArgs),
    /// --concurrency workers loop: connect, upgrade, one echo, closing handshake. Reports
    /// completed cycles per second and the cycle latency.
    Churn(ChurnArgs),
}

/// Options every scenario takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct CommonArgs {
    /// The server's URL: ws://, IPv4 loopback host (127.0.0.0/8) only.
    #[arg(long, default_value = "ws://127.0.0.1:9000/", value_parser = parse_url)]
    pub(crate) url: TargetUrl,

    /// Wire protocol: `raw` frames (chapter 01), the JSON `envelope` (chapters 02 on), or `tcp`:
    /// the same bytes as `raw` without the WebSocket layers, for the `tcp-echo` ceiling.
    #[arg(long, value_enum, default_value_t = Protocol::Envelope)]
    pub(crate) protocol: Protocol,

    /// Do not wait for the server's welcome message after the upgrade (chapter 02 sends none).
    /// Ignored with --protocol raw.
    #[arg(long)]
    pub(crate) no_welcome: bool,

    /// Local addresses to connect from, round-robin: a count N (127.0.0.1 to 127.0.0.N) or a
    /// comma-separated list of 127.x.y.z. Each adds its own ~28k ephemeral ports, for holding
    /// many connections at once. Not for `churn`: a bound socket gets its port at bind time,
    /// and that search slows down badly among thousands of sockets in TIME_WAIT. Default: the
    /// kernel picks.
    #[arg(long, value_parser = parse_sources, value_name = "N|IP,IP,...")]
    pub(crate) sources: Option<Sources>,

    /// How long to measure (`idle`: to hold), after the ramp and the warm-up. At most 15m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,

    /// Load before the measured window, left out of every statistic.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub(crate) warmup: Duration,

    /// Deadline for one connection's TCP connect, upgrade, welcome (and join).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) connect_timeout: Duration,

    /// How long a reply (or a delivery) may take before it counts as lost.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub(crate) reply_timeout: Duration,

    /// Errors tolerated before the run fails with exit status 1.
    #[arg(long, default_value_t = 0)]
    pub(crate) max_errors: u64,

    /// Also write the summary as JSON to this file; `-` writes it to stdout (the text summary
    /// then goes to stderr).
    #[arg(long, value_name = "PATH")]
    pub(crate) json: Option<PathBuf>,

    /// The server's process id: its VmRSS (/proc/PID/status) is read before connecting, once
    /// every connection is open, at the end of the window and after closing, and reported per
    /// connection; its CPU time (/proc/PID/stat) over the measured window is reported per
    /// answer.
    #[arg(long, value_name = "PID")]
    pub(crate) server_pid: Option<u32>,

    /// No progress line on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// How the long-lived connections of `idle`, `echo` and `broadcast` are opened.
#[derive(Debug, Clone, Args)]
pub(crate) struct RampArgs {
    /// Connections to open (at most 20000).
    #[arg(long, short = 'n', default_value_t = 100, value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_CONNECTIONS as u64))]
    pub(crate) connections: usize,

    /// Connections started per second; 0 opens them as fast as --max-inflight allows.
    #[arg(long, default_value_t = 0)]
    pub(crate) connect_rate: u32,

    /// Handshakes in flight at once. Keep it below the server's listen backlog (128 for
    /// chapters 01-06): a full accept queue drops SYNs, which the kernel retries after 1 s.
    #[arg(long, default_value_t = 100, value_parser = RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub(crate) max_inflight: usize,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct IdleArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(flatten)]
    pub(crate) ramp: RampArgs,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct EchoArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(flatten)]
    pub(crate) ramp: RampArgs,

    /// Bytes per message: the whole frame payload (raw: at least 16, the sequence number;
    /// envelope: the JSON text, padded with filler in `data`).
    #[arg(long, default_value_t = 64, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1 << 20))]
    pub(crate) size: usize,

    /// Messages per second per connection; 0 = closed loop (send the next on the reply).
    #[arg(long, default_value_t = 0, value_parser = RangedU64ValueParser::<u32>::new().range(0..=100_000))]
    pub(crate) rate: u32,

    /// Frame type with --protocol raw (the envelope always uses text frames).
    #[arg(long, value_enum, default_value_t = FrameKind::Binary)]
    pub(crate) frame: FrameKind,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct BroadcastArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    // `--connections` are the room's members; the publisher is one more connection.
    #[command(flatten)]
    pub(crate) ramp: RampArgs,

    /// The room every connection joins.
    #[arg(long, default_value = "bench")]
    pub(crate) room: String,

    /// Publishes per second.
    #[arg(long, default_value_t = 10, value_parser = RangedU64ValueParser::<u32>::new().range(1..=100_000))]
    pub(crate) rate: u32,

    /// Envelope: pad each publish's `data` to about this many bytes (0: just the timestamp).
    /// Tcp: every message is exactly this many bytes, at least 32 (its number and timestamp);
    /// `tcp-echo --fanout` must be given the same.
    #[arg(long, default_value_t = 0, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1 << 20))]
    pub(crate) size: usize,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ChurnArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,

    /// Workers, each cycling one connection at a time.
    #[arg(long, short = 'c', default_value_t = 16, value_parser = RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub(crate) concurrency: usize,

    /// Bytes of the one echo message per cycle (as for `echo --size`).
    #[arg(long, default_value_t = 64, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1 << 20))]
    pub(crate) size: usize,

    /// Frame type with --protocol raw.
    #[arg(long, value_enum, default_value_t = FrameKind::Binary)]
    pub(crate) frame: FrameKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Protocol {
    /// Plain frames, echoed back as they are (chapter 01).
    Raw,
    /// JSON messages with a `type` tag (chapters 02 on).
    Envelope,
    /// No WebSocket: the bytes of a masked binary frame over plain TCP, echoed back byte for
    /// byte by `tcp-echo` (the benchmarks' ceiling row).
    Tcp,
}

impl Protocol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Envelope => "envelope",
            Self::Tcp => "tcp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FrameKind {
    Binary,
    Text,
}

/// A validated target: the URL to send in the upgrade and the address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetUrl {
    pub(crate) text: String,
    pub(crate) addr: SocketAddrV4,
}

/// Local source addresses, used round-robin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sources(pub(crate) Vec<Ipv4Addr>);

impl Cli {
    /// The checks clap cannot make one option at a time. The message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        let (common, connections, planned_ramp) = match &self.scenario {
            Scenario::Idle(args) => (&args.common, args.ramp.connections, ramp_time(&args.ramp)),
            Scenario::Echo(args) => {
                if args.common.protocol != Protocol::Envelope && args.size < 16 {
                    return Err(format!(
                        "--protocol {} needs --size 16 or more: each message starts with its \
                         16-digit sequence number",
                        args.common.protocol.as_str()
                    ));
                }
                if args.common.protocol == Protocol::Tcp && args.rate != 0 {
                    return Err("--protocol tcp runs closed loop only: leave out --rate".into());
                }
                (&args.common, args.ramp.connections, ramp_time(&args.ramp))
            }
            Scenario::Broadcast(args) => {
                match args.common.protocol {
                    Protocol::Envelope => {}
                    Protocol::Raw => {
                        return Err("broadcast needs rooms: use --protocol envelope against \
                                    chapter 03 or later (or tcp against tcp-echo --fanout)"
                            .into());
                    }
                    Protocol::Tcp if args.size < TCP_STAMP_LEN => {
                        return Err(format!(
                            "--protocol tcp publishes messages of exactly --size bytes, the SIZE \
                             of tcp-echo --fanout SIZE: give --size {TCP_STAMP_LEN} or more (each \
                             message starts with its number and timestamp)"
                        ));
                    }
                    Protocol::Tcp => {}
                }
                if args.ramp.connections + 1 > MAX_CONNECTIONS {
                    return Err(format!(
                        "broadcast opens --connections + 1 (the publisher): at most {} members",
                        MAX_CONNECTIONS - 1
                    ));
                }
                (&args.common, args.ramp.connections + 1, ramp_time(&args.ramp))
            }
            Scenario::Churn(args) => {
                if args.common.protocol != Protocol::Envelope && args.size < 16 {
                    return Err(format!(
                        "--protocol {} needs --size 16 or more",
                        args.common.protocol.as_str()
                    ));
                }
                (&args.common, args.concurrency, Duration::ZERO)
            }
        };
        let planned = planned_ramp + common.warmup + common.duration;
        if planned > MAX_RUN {
            return Err(format!(
                "the run would take {} (ramp {} + warm-up {} + duration {}); the cap is {}",
                humantime::format_duration(planned),
                humantime::format_duration(planned_ramp),
                humantime::format_duration(common.warmup),
                humantime::format_duration(common.duration),
                humantime::format_duration(MAX_RUN),
            ));
        }
        if let Some(limit) = open_files_limit() {
            let needed = connections + FD_HEADROOM;
            if needed as u64 > limit {
                return Err(format!(
                    "{connections} connections need about {needed} file descriptors and the \
                     limit is {limit}: open fewer, or raise it with `ulimit -n`"
                ));
            }
        }
        if let Some(pid) = common.server_pid {
            super::rss::vm_rss_kib(Some(pid)).map_err(|error| {
                format!("--server-pid {pid}: cannot read /proc/{pid}/status: {error}")
            })?;
        }
        Ok(())
    }
}

/// How long the ramp takes at the requested rate (zero when unpaced).
fn ramp_time(ramp: &RampArgs) -> Duration {
    if ramp.connect_rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(ramp.connections as f64 / f64::from(ramp.connect_rate))
    }
}

/// The soft `RLIMIT_NOFILE`, from /proc (no libc call needed; `None` where /proc is missing).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration > MAX_RUN {
        return Err(format!(
            "at most {} (a load test must end by itself)",
            humantime::format_duration(MAX_RUN)
        ));
    }
    Ok(duration)
}

/// Accepts `ws://<IPv4 loopback>[:port][/path]` and nothing else.
fn parse_url(text: &str) -> Result<TargetUrl, String> {
    let uri: Uri = text.parse().map_err(|error| format!("not a URL: {error}"))?;
    match uri.scheme_str() {
        Some("ws") => {}
        Some("wss") => {
            return Err("wss:// is not supported; the chapter servers speak ws://".into());
        }
        _ => return Err("the URL must start with ws://".into()),
    }
    let host = uri.host().ok_or("the URL has no host")?;
    let ip: Ipv4Addr = host.parse().map_err(|_| {
        format!(
            "host `{host}` refused: wsload only connects to IPv4 loopback addresses \
             (127.0.0.0/8), given as numbers (use 127.0.0.1, not localhost)"
        )
    })?;
    if !ip.is_loopback() {
        return Err(format!(
            "host {ip} refused: wsload only connects to 127.0.0.0/8, never to another machine"
        ));
    }
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Ok(TargetUrl { text: format!("ws://{ip}:{port}{path}"), addr: SocketAddrV4::new(ip, port) })
}

/// `4` -> 127.0.0.1..=127.0.0.4; `127.0.0.1,127.0.1.1` -> those two.
fn parse_sources(text: &str) -> Result<Sources, String> {
    if let Ok(count) = text.parse::<u8>() {
        if !(1..=254).contains(&count) {
            return Err("a count of sources is 1 to 254".into());
        }
        return Ok(Sources((1..=count).map(|last| Ipv4Addr::new(127, 0, 0, last)).collect()));
    }
    let sources = text
        .split(',')
        .map(|part| {
            let ip: Ipv4Addr =
                part.trim().parse().map_err(|_| format!("`{part}` is not an IPv4 address"))?;
            if ip.is_loopback() {
                Ok(ip)
            } else {
                Err(format!("source {ip} refused: only 127.0.0.0/8"))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Sources(sources))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ipv4_loopback_targets_are_accepted() {
        let ok = parse_url("ws://127.0.0.1:9101/").unwrap();
        assert_eq!(ok.addr, "127.0.0.1:9101".parse().unwrap());
        assert_eq!(ok.text, "ws://127.0.0.1:9101/");
        assert_eq!(parse_url("ws://127.1.2.3").unwrap().text, "ws://127.1.2.3:80/");
        for refused in [
            "ws://10.0.0.1:9000/",
            "ws://192.168.1.2/",
            "ws://8.8.8.8/",
            "ws://localhost:9000/",
            "ws://[::1]:9000/",
            "wss://127.0.0.1/",
            "http://127.0.0.1/",
            "ws://example.com/",
        ] {
            assert!(parse_url(refused).is_err(), "{refused} was accepted");
        }
    }

    #[test]
    fn sources_are_a_count_or_a_list_of_loopback_addresses() {
        assert_eq!(
            parse_sources("3").unwrap().0,
            [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)]
        );
        assert_eq!(
            parse_sources("127.0.0.9, 127.1.0.1").unwrap().0,
            [Ipv4Addr::new(127, 0, 0, 9), Ipv4Addr::new(127, 1, 0, 1)]
        );
        assert!(parse_sources("0").is_err());
        assert!(parse_sources("10.0.0.1").is_err());
        assert!(parse_sources("x").is_err());
    }

    #[test]
    fn runs_are_capped() {
        assert!(parse_duration("15m").is_ok());
        assert!(parse_duration("16m").is_err());
        assert!(Cli::try_parse_from(["wsload", "idle", "-n", "20001"]).is_err());
        let slow_ramp =
            Cli::try_parse_from(["wsload", "idle", "-n", "10000", "--connect-rate", "10"]).unwrap();
        assert!(slow_ramp.validate().is_err());
        let raw_broadcast =
            Cli::try_parse_from(["wsload", "broadcast", "--protocol", "raw"]).unwrap();
        assert!(raw_broadcast.validate().is_err());
    }

    #[test]
    fn tcp_is_for_the_closed_loop_echo_idle_churn_and_sized_broadcast() {
        let validate =
            |args: &[&str]| Cli::try_parse_from(["wsload"].iter().chain(args)).unwrap().validate();
        assert!(validate(&["echo", "--protocol", "tcp", "--size", "20"]).is_ok());
        assert!(validate(&["idle", "--protocol", "tcp"]).is_ok());
        assert!(validate(&["churn", "--protocol", "tcp"]).is_ok());
        assert!(validate(&["echo", "--protocol", "tcp", "--rate", "10"]).is_err());
        assert!(validate(&["echo", "--protocol", "tcp", "--size", "8"]).is_err());
        assert!(validate(&["broadcast", "--protocol", "tcp"]).is_err());
        assert!(validate(&["broadcast", "--protocol", "tcp", "--size", "31"]).is_err());
        assert!(validate(&["broadcast", "--protocol", "tcp", "--size", "32"]).is_ok());
        assert!(validate(&["broadcast", "--protocol", "raw", "--size", "32"]).is_err());
    }
}
