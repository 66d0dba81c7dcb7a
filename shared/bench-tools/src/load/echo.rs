//! `echo`: every connection sends messages and times each reply.
//!
//! Closed loop (`--rate 0`) sends the next message when the reply is in: it finds the most the
//! server can do, and its latency is what a client that waits sees. Open loop (`--rate R`) sends
//! on a fixed schedule whatever the server does, and times each reply from when its message was
//! *due*, not when it went out: if the server stalls, the messages that queued up behind the
//! stall count their wait too (measuring from the actual send would hide it, the "coordinated
//! omission" mistake).
//!
//! With `--protocol tcp` the connections are plain TCP streams (`tcp`), closed loop only.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::{
    task::JoinSet,
    time::{Instant, MissedTickBehavior, interval_at, sleep_until, timeout_at},
};
use tokio_tungstenite::tungstenite::Message;

use super::{
    Start,
    cli::{EchoArgs, Protocol},
    common_settings,
    conn::{Setup, Target, Ws, next_data},
    failure::Failure,
    lifecycle::{close_counted, dropped, ramp, read_until, wind_down},
    ramp_budget,
    report::{self, Connections, Messages, Percentiles, Summary, per_sec},
    run::{Phase, Progress, Run, bump, read},
    tcp,
    wire::{Wire, frame_name},
};

/// Replies an open-loop connection may wait for at once; beyond that it skips sends (and says
/// so) rather than queue without bound behind a server that stopped answering.
const MAX_OUTSTANDING: usize = 1024;

/// How one connection paces its messages.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// 0: closed loop.
    rate: u32,
    connections: usize,
    reply_timeout: Duration,
}

pub(super) async fn run(args: &EchoArgs) -> Summary {
    let common = &args.common;
    let mut start = Start::new(
        common,
        Progress {
            scenario: "echo",
            target_open: args.ramp.connections,
            sent: Some("sent"),
            received: Some("replies"),
        },
    );
    let run = Arc::clone(&start.run);
    let target = Arc::new(Target::new(common));
    let wire = Arc::new(Wire::new(common.protocol, args.frame, args.size));
    let pace = Pace {
        rate: args.rate,
        connections: args.ramp.connections,
        reply_timeout: common.reply_timeout,
    };
    let mut tasks = JoinSet::new();

    let (sender, sender_wire) = (Arc::clone(&run), Arc::clone(&wire));
    let budget = ramp_budget(common);
    let ramp_time = if common.protocol == Protocol::Tcp {
        let body = move |n, stream| {
            tcp::echo(Arc::clone(&sender), Arc::clone(&sender_wire), pace.reply_timeout, n, stream)
        };
        ramp(&run, &target, &args.ramp, Setup::Nothing, budget, &mut tasks, body).await
    } else {
        let body =
            move |n, ws| connection(Arc::clone(&sender), Arc::clone(&sender_wire), pace, n, ws);
        ramp(&run, &target, &args.ramp, Setup::Nothing, budget, &mut tasks, body).await
    };
    start.all_open();
    let window = run
        .warm_up_and_measure(common.warmup, common.duration, read(&run.counters.opened) == 0)
        .await;
    start.window_end(read(&run.counters.open));
    // Connections finish by themselves once their last reply is in.
    wind_down(&run, &mut tasks, common.reply_timeout + Duration::from_secs(1), || false).await;

    let mut settings = common_settings(common);
    settings.insert("connections", Value::from(args.ramp.connections));
    settings.insert("connect_rate", Value::from(args.ramp.connect_rate));
    settings.insert("size", Value::from(args.size));
    settings.insert(
        "rate",
        if args.rate == 0 { Value::from("closed-loop") } else { Value::from(args.rate) },
    );
    if common.protocol == Protocol::Raw {
        settings.insert("frame", Value::from(format!("{:?}", args.frame).to_lowercase()));
    }
    let mut summary = start.finish("echo", common, settings, &window);
    summary.connections = Some(Connections::of(&run, args.ramp.connections as u64, ramp_time));
    let measured = read(&run.counters.measured);
    let span = run.measured_span(&window);
    summary.answers_secs = report::round3(span.as_secs_f64());
    summary.messages = Some(Messages {
        frame_bytes: wire.frame_bytes(),
        sent: read(&run.counters.sent),
        received: read(&run.counters.received),
        measured,
        per_sec: per_sec(measured, span),
        skipped: read(&run.counters.skipped),
    });
    summary.latency_us = Percentiles::of(&run.latency.merged());
    summary
}

/// One connection: wait for the ramp to end, send until the drain, close.
async fn connection(run: Arc<Run>, wire: Arc<Wire>, pace: Pace, n: usize, mut ws: Ws) {
    // Nobody sends during the ramp, so the ramp measures handshakes alone.
    if !read_until(&run, &mut ws, "ramp", Phase::Warmup, |_| {}).await {
        return;
    }
    let usable = if pace.rate == 0 {
        closed_loop(&run, &wire, pace, n, &mut ws).await
    } else {
        open_loop(&run, &wire, pace, n, &mut ws).await
    };
    if usable {
        close_counted(&run, ws).await;
    }
}

// ANCHOR: closed_loop
/// Send, wait for the reply, repeat. Returns false when the connection broke.
async fn closed_loop(run: &Run, wire: &Wire, pace: Pace, n: usize, ws: &mut Ws) -> bool {
    let phase = run.phase();
    let mut seq = 0;
    while *phase.borrow() < Phase::Drain {
        let sent_at = Instant::now();
        if let Err(error) = ws.send(wire.echo_request(seq)).await {
            dropped(run, Failure::ws("send", &error));
            return false;
        }
        bump(&run.counters.sent);
        let deadline = sent_at + pace.reply_timeout;
        loop {
            let message = match timeout_at(deadline, next_data(ws, "reply")).await {
                Ok(Ok(message)) => message,
                Ok(Err(failure)) => {
                    dropped(run, failure);
                    return false;
                }
                Err(_) => {
                    // A server that lost one reply will not send it later: stop this
                    // connection instead of timing the next message against a stale one.
                    run.record(Failure::timeout(
                        "reply",
                        format!("no reply to message {seq} within {:?}", pace.reply_timeout),
                    ));
                    return true;
                }
            };
            match wire.echo_reply(&message) {
                Ok(got) if got == seq => {
                    bump(&run.counters.received);
                    if run.measured(sent_at) {
                        run.measured_answer(n, sent_at.elapsed());
                    }
                    break;
                }
                Ok(got) => run.record(Failure::new(
                    "reply:out_of_order",
                    format!("waiting for reply {seq}, got {got}"),
                )),
                // The server refused this message (rate limit, ...): counted, and on we go.
                Err((Some(got), failure)) if got == seq => {
                    run.record(failure);
                    break;
                }
                Err((_, failure)) => run.record(failure),
            }
        }
        seq += 1;
    }
    true
}
// ANCHOR_END: closed_loop

// ANCHOR: open_loop
/// Send on a schedule, match replies as they come. Returns false when the connection broke.
async fn open_loop(run: &Run, wire: &Wire, pace: Pace, n: usize, ws: &mut Ws) -> bool {
    let period = Duration::from_secs_f64(1.0 / f64::from(pace.rate));
    // Spread the connections' first sends over one period, so they do not all fire at the
    // same instant and measure a burst nobody asked for.
    let offset = period.mul_f64(n as f64 / pace.connections.max(1) as f64);
    let mut ticker = interval_at(Instant::now() + offset, period);
    // Burst: a late tick is sent at once with its original due time, which is what the
    // latency is measured from.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut phase = run.phase();
    let mut outstanding: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut seq = 0;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        if drain_deadline.is_some() && outstanding.is_empty() {
            break;
        }
        tokio::select! {
            due = ticker.tick(), if drain_deadline.is_none() => {
                expire(run, &mut outstanding, pace.reply_timeout);
                if outstanding.len() >= MAX_OUTSTANDING {
                    bump(&run.counters.skipped);
                    continue;
                }
                if let Err(error) = ws.send(wire.echo_request(seq)).await {
                    dropped(run, Failure::ws("send", &error));
                    return false;
                }
                bump(&run.counters.sent);
                outstanding.push_back((seq, due));
                seq += 1;
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Ping(_))) => bump(&run.counters.pings),
                Some(Ok(Message::Close(frame))) => {
                    dropped(run, Failure::closed("reply", frame.as_ref()));
                    return false;
                }
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    on_reply(run, wire, n, &mut outstanding, &message);
                }
                Some(Ok(other)) => run.record(Failure::new(
                    "reply:unexpected",
                    format!("a {} frame", frame_name(&other)),
                )),
                Some(Err(error)) => {
                    dropped(run, Failure::ws("reply", &error));
                    return false;
                }
                None => {
                    dropped(run, Failure::eof("reply"));
                    return false;
                }
            },
            changed = phase.changed(), if drain_deadline.is_none() => {
                if changed.is_err() || *phase.borrow() >= Phase::Drain {
                    drain_deadline = Some(Instant::now() + pace.reply_timeout);
                }
            }
            () = sleep_until(drain_deadline.unwrap_or_else(Instant::now)), if drain_deadline.is_some() => {
                break;
            }
        }
    }
    if !outstanding.is_empty() {
        run.record_many(
            Failure::timeout("reply", "no reply before the run ended"),
            outstanding.len() as u64,
        );
    }
    true
}
// ANCHOR_END: open_loop

/// Matches one reply with the oldest outstanding message it answers. The chapter servers answer
/// in order, so anything older that is still outstanding was skipped: counted as missing.
fn on_reply(
    run: &Run,
    wire: &Wire,
    n: usize,
    outstanding: &mut VecDeque<(u64, Instant)>,
    message: &Message,
) {
    let (got, failure) = match wire.echo_reply(message) {
        Ok(got) => (Some(got), None),
        Err((got, failure)) => (got, Some(failure)),
    };
    let Some(got) = got else {
        if let Some(failure) = failure {
            run.record(failure);
        }
        return;
    };
    let Some(position) = outstanding.iter().position(|(seq, _)| *seq == got) else {
        run.record(Failure::new(
            "reply:unexpected",
            format!("reply {got} answers no outstanding message"),
        ));
        return;
    };
    if position > 0 {
        run.record_many(
            Failure::new("reply:missing", "a later message was answered first"),
            position as u64,
        );
    }
    let (_, due) = outstanding.drain(..=position).next_back().unwrap_or((got, Instant::now()));
    match failure {
        Some(failure) => run.record(failure),
        None => {
            bump(&run.counters.received);
            if run.measured(due) {
                run.measured_answer(n, due.elapsed());
            }
        }
    }
}

/// Drops outstanding messages older than the reply timeout, counting each as an error.
fn expire(run: &Run, outstanding: &mut VecDeque<(u64, Instant)>, reply_timeout: Duration) {
    let now = Instant::now();
    let mut expired = 0;
    while outstanding.front().is_some_and(|(_, due)| now.duration_since(*due) > reply_timeout) {
        outstanding.pop_front();
        expired += 1;
    }
    if expired > 0 {
        run.record_many(
            Failure::timeout("reply", format!("no reply within {reply_timeout:?}")),
            expired,
        );
    }
}
