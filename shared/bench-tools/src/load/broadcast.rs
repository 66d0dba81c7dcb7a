//! `broadcast`: N members join a room, one more connection publishes to it at a fixed rate,
//! and every delivery is timed from its publish.
//!
//! Publisher and members live in this one process, so a publish can carry its due time as
//! nanoseconds since the run's start instant, and each member subtracts that from its own
//! clock reading: no clock synchronisation needed. Every acknowledged publish should reach
//! every member once; what does not arrive is counted as lost (a server that drops messages to
//! slow consumers shows it here).
//!
//! With `--protocol tcp` (against `tcp-echo --fanout`, see `tcp`) there are no rooms and no
//! acks: every connection is a member, the publisher writes `--size`-byte messages carrying the
//! same stamp, and every message written in the window should reach every member once.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use serde_json::Value;
use tokio::{
    task::JoinSet,
    time::{Instant, Interval, MissedTickBehavior, interval, sleep_until},
};
use tokio_tungstenite::tungstenite::Message;

use super::{
    Start,
    cli::{BroadcastArgs, Protocol},
    common_settings,
    conn::{Setup, Target, Ws},
    failure::{Failure, excerpt},
    lifecycle::{close_counted, dropped, ramp, read_until, wind_down},
    ramp_budget,
    report::{self, Connections, FrameBytes, Percentiles, Summary, per_sec, window_secs},
    run::{Phase, Progress, Run, bump, read},
    tcp,
    wire::{self, Stamp},
};

/// What the publisher tells the coordinator.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// Publishes due inside the window and acknowledged by the server (`tcp`: written).
    pub(crate) acked: AtomicU64,
    /// The publisher has stopped and heard every ack it will hear.
    pub(crate) done: AtomicBool,
}

/// What every member records its deliveries into: the run (counters, latencies), and the
/// sizes of the delivery frames as they came off the wire.
#[derive(Debug)]
pub(crate) struct Deliveries {
    pub(crate) run: Arc<Run>,
    smallest: AtomicU64,
    largest: AtomicU64,
}

impl Deliveries {
    fn new(run: Arc<Run>) -> Self {
        Self { run, smallest: AtomicU64::new(u64::MAX), largest: AtomicU64::new(0) }
    }

    /// Counts one delivery to member `n`, `frame_bytes` on the wire, read at `received`, and
    /// times it from its publish's due time.
    pub(crate) fn record(&self, n: usize, stamp: Stamp, frame_bytes: usize, received: Instant) {
        let run = &self.run;
        bump(&run.counters.received);
        // Nearly every delivery is as large as the one before: read first and write only a new
        // extreme, so thousands of members do not all write to one cache line.
        let bytes = frame_bytes as u64;
        if bytes < self.smallest.load(Ordering::Relaxed) {
            self.smallest.fetch_min(bytes, Ordering::Relaxed);
        }
        if bytes > self.largest.load(Ordering::Relaxed) {
            self.largest.fetch_max(bytes, Ordering::Relaxed);
        }
        let due = run.instant(stamp.t);
        if run.measured(due) {
            run.measured_answer(n, received.saturating_duration_since(due));
        }
    }

    /// The smallest and largest frame, once there was one.
    fn frame_bytes(&self) -> Option<FrameBytes> {
        let (min, max) =
            (self.smallest.load(Ordering::Relaxed), self.largest.load(Ordering::Relaxed));
        (min <= max).then_some(FrameBytes { min, max })
    }
}

/// When the publisher publishes: every 1/rate s from its first call, each publish stamped with
/// the time it was due (a late tick goes out at once, with that stamp) and numbered.
#[derive(Debug)]
pub(crate) struct Schedule {
    ticker: Interval,
    seq: u64,
}

impl Schedule {
    pub(crate) fn new(rate: u32) -> Self {
        let mut ticker = interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        Self { ticker, seq: 0 }
    }

    /// Waits for the next publish: its stamp and its due time. Cancel-safe, like the ticker.
    pub(crate) async fn next(&mut self, run: &Run) -> (Stamp, Instant) {
        let due = self.ticker.tick().await;
        let stamp = Stamp { t: run.nanos(due), seq: self.seq };
        self.seq += 1;
        (stamp, due)
    }
}

pub(super) async fn run(args: &BroadcastArgs) -> Summary {
    let common = &args.common;
    let mut start = Start::new(
        common,
        Progress {
            scenario: "broadcast",
            target_open: args.ramp.connections + 1,
            sent: Some("publishes"),
            received: Some("deliveries"),
        },
    );
    let run = Arc::clone(&start.run);
    let target = Arc::new(Target::new(common));
    let tcp = common.protocol == Protocol::Tcp;
    let setup = if tcp { Setup::Nothing } else { Setup::Join(args.room.clone()) };
    let mut tasks = JoinSet::new();

    let deliveries = Arc::new(Deliveries::new(Arc::clone(&run)));
    let to_members = Arc::clone(&deliveries);
    let budget = ramp_budget(common);
    // `--size` is checked against this minimum; the same length for both ends regardless.
    let size = args.size.max(wire::TCP_STAMP_LEN);
    let ramp_time = if tcp {
        let body = move |n, stream| tcp::member(Arc::clone(&to_members), n, size, stream);
        ramp(&run, &target, &args.ramp, setup.clone(), budget, &mut tasks, body).await
    } else {
        let body = move |n, ws| member(Arc::clone(&to_members), n, ws);
        ramp(&run, &target, &args.ramp, setup.clone(), budget, &mut tasks, body).await
    };
    let members = read(&run.counters.opened);

    // The publisher joins last, so every member is in the room before the first publish
    // (`tcp-echo` accepts connections in order, so it has them all before the publisher too).
    let published = Arc::new(Published::default());
    let publisher = if tcp {
        target.open_tcp(args.ramp.connections).await.map(|stream| {
            let (run, published) = (Arc::clone(&run), Arc::clone(&published));
            tasks.spawn(tcp::publisher(run, args.rate, size, published, stream));
        })
    } else {
        target.open(args.ramp.connections, &setup).await.map(|ws| {
            let publisher = Publisher {
                run: Arc::clone(&run),
                room: args.room.clone(),
                rate: args.rate,
                pad: "x".repeat(args.size),
                reply_timeout: common.reply_timeout,
                published: Arc::clone(&published),
            };
            tasks.spawn(publisher.run(ws));
        })
    };
    if let Err(failure) = publisher {
        // No publisher, no load: the run ends at once and fails with the reason.
        published.done.store(true, Ordering::Relaxed);
        run.record(Failure::new(format!("publisher:{}", failure.kind), failure.detail));
    }
    start.all_open();
    let window = run
        .warm_up_and_measure(
            common.warmup,
            common.duration,
            members == 0 || published.done.load(Ordering::Relaxed),
        )
        .await;
    start.window_end(read(&run.counters.open));

    // Drained when the publisher has its acks and every member has every delivery.
    let expected = || published.acked.load(Ordering::Relaxed) * members;
    let drained =
        || published.done.load(Ordering::Relaxed) && read(&run.counters.measured) >= expected();
    wind_down(&run, &mut tasks, common.reply_timeout, drained).await;

    let publishes = published.acked.load(Ordering::Relaxed);
    let frame_bytes = deliveries.frame_bytes();
    let deliveries = read(&run.counters.measured);
    let expected = expected();
    let lost = expected.saturating_sub(deliveries);
    run.record_many(
        Failure::new(
            "delivery:lost",
            "an acknowledged publish did not reach a member before the run ended",
        ),
        lost,
    );

    let mut settings = common_settings(common);
    settings.insert("members", Value::from(args.ramp.connections));
    settings.insert("connect_rate", Value::from(args.ramp.connect_rate));
    settings.insert("rate", Value::from(args.rate));
    if !tcp {
        settings.insert("room", Value::from(args.room.clone()));
    }
    settings.insert("size", Value::from(args.size));
    let mut summary = start.finish("broadcast", common, settings, &window);
    summary.connections = Some(Connections::of(&run, args.ramp.connections as u64, ramp_time));
    let (window_len, span) = (window_secs(&window), run.measured_span(&window));
    summary.answers_secs = report::round3(span.as_secs_f64());
    summary.broadcast = Some(report::Broadcast {
        room: args.room.clone(),
        members,
        publishes,
        publishes_per_sec: per_sec(publishes, window_len),
        deliveries,
        deliveries_per_sec: per_sec(deliveries, span),
        expected,
        lost,
        frame_bytes,
    });
    summary.latency_us = Percentiles::of(&run.latency.merged());
    summary
}

// ANCHOR: member
/// One member: time every delivery until the run closes, then close cleanly.
async fn member(deliveries: Arc<Deliveries>, n: usize, mut ws: Ws) {
    let run = &deliveries.run;
    let on_text = |text: &str| {
        let received = Instant::now();
        match wire::parse::<Stamp>("member", text) {
            Ok(message) => match (message.kind.as_ref(), message.data) {
                // The chapter servers send every message as one frame.
                ("message", Some(stamp)) => {
                    let frame_bytes = wire::server_frame_bytes(text.len());
                    deliveries.record(n, stamp, frame_bytes, received);
                }
                ("error", _) => run.record(wire::server_error("member", &message, text)),
                _ => run.record(Failure::new("member:unexpected", excerpt(text))),
            },
            Err(failure) => run.record(failure),
        }
    };
    if read_until(run, &mut ws, "member", Phase::Close, on_text).await {
        close_counted(run, ws).await;
    }
}
// ANCHOR_END: member

/// The one publishing connection.
#[derive(Debug)]
struct Publisher {
    run: Arc<Run>,
    room: String,
    rate: u32,
    pad: String,
    reply_timeout: Duration,
    published: Arc<Published>,
}

impl Publisher {
    // ANCHOR: publisher
    /// Publishes at `rate` from the warm-up to the drain, then waits for the last acks.
    async fn run(self, mut ws: Ws) {
        let run = &self.run;
        let _open = run.open_guard();
        if read_until(run, &mut ws, "publisher", Phase::Warmup, |_| {}).await
            && self.publish(&mut ws).await
        {
            close_counted(run, ws).await;
        }
        self.published.done.store(true, Ordering::Relaxed);
    }

    /// Returns false when the connection broke.
    async fn publish(&self, ws: &mut Ws) -> bool {
        let run = &self.run;
        let mut schedule = Schedule::new(self.rate);
        let mut phase = run.phase();
        let mut outstanding: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut drain_deadline: Option<Instant> = None;
        loop {
            if drain_deadline.is_some() && outstanding.is_empty() {
                break;
            }
            tokio::select! {
                (stamp, due) = schedule.next(run), if drain_deadline.is_none() => {
                    if let Err(error) = ws.send(wire::publish_request(&self.room, stamp, &self.pad)).await {
                        dropped(run, Failure::ws("publisher", &error));
                        return false;
                    }
                    bump(&run.counters.sent);
                    outstanding.push_back((stamp.seq, due));
                }
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_reply(&mut outstanding, text.as_str()),
                    Some(Ok(Message::Ping(_))) => bump(&run.counters.pings),
                    Some(Ok(Message::Close(frame))) => {
                        dropped(run, Failure::closed("publisher", frame.as_ref()));
                        return false;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        dropped(run, Failure::ws("publisher", &error));
                        return false;
                    }
                    None => {
                        dropped(run, Failure::eof("publisher"));
                        return false;
                    }
                },
                changed = phase.changed(), if drain_deadline.is_none() => {
                    if changed.is_err() || *phase.borrow() >= Phase::Drain {
                        drain_deadline = Some(Instant::now() + self.reply_timeout);
                    }
                }
                () = sleep_until(drain_deadline.unwrap_or_else(Instant::now)), if drain_deadline.is_some() => break,
            }
        }
        if !outstanding.is_empty() {
            run.record_many(
                Failure::timeout("publish", "no ack before the run ended"),
                outstanding.len() as u64,
            );
        }
        true
    }
    // ANCHOR_END: publisher

    /// An ack (or error) for one publish. Acks come in order; the id says which publish.
    fn on_reply(&self, outstanding: &mut VecDeque<(u64, Instant)>, text: &str) {
        let run = &self.run;
        let reply = match wire::parse::<IgnoredAny>("publish", text) {
            Ok(reply) => reply,
            Err(failure) => return run.record(failure),
        };
        let seq: Option<u64> = reply.id.as_deref().and_then(|id| id.parse().ok());
        let position = seq.and_then(|seq| outstanding.iter().position(|(s, _)| *s == seq));
        let Some(position) = position else {
            return run.record(Failure::new("publish:unexpected", excerpt(text)));
        };
        let Some((_, due)) = outstanding.drain(..=position).next_back() else {
            return;
        };
        match reply.kind.as_ref() {
            "ack" => {
                if run.measured(due) {
                    self.published.acked.fetch_add(1, Ordering::Relaxed);
                }
            }
            "error" => run.record(wire::server_error("publish", &reply, text)),
            _ => run.record(Failure::new("publish:unexpected", excerpt(text))),
        }
    }
}
