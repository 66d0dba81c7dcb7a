//! `churn`: connections that do not stay. Each worker loops: connect, upgrade (and welcome),
//! one echo, the closing handshake. This is the accept path and the per-session setup and
//! teardown under load: registries that leak, handshakes that slow down, sessions that do not
//! close cleanly all show up here and in no other scenario. With `--protocol tcp` a cycle is
//! connect, one echo of the same bytes, FIN (`tcp`): the kernel's share of a cycle.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::SinkExt;
use serde_json::Value;
use tokio::{
    task::JoinSet,
    time::{Instant, sleep, timeout},
};

use super::{
    Start,
    cli::{ChurnArgs, Protocol},
    common_settings,
    conn::{Setup, Target, close, next_data},
    failure::Failure,
    lifecycle::wind_down,
    report::{self, Connections, Percentiles, Summary, per_sec},
    run::{Phase, Progress, Run, bump, read},
    tcp,
    wire::Wire,
};

/// After a failed cycle a worker pauses this long, so a refused connection does not turn into
/// a busy loop that measures nothing but our own error path.
const BACKOFF: Duration = Duration::from_millis(10);

pub(super) async fn run(args: &ChurnArgs) -> Summary {
    let common = &args.common;
    let mut start = Start::new(
        common,
        Progress {
            scenario: "churn",
            target_open: 0,
            sent: Some("started"),
            received: Some("cycles"),
        },
    );
    let run = Arc::clone(&start.run);
    let target = Arc::new(Target::new(common));
    let wire = Arc::new(Wire::new(common.protocol, args.frame, args.size));
    // Numbers connections across workers, so source addresses rotate over all of them.
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..args.concurrency {
        tasks.spawn(worker(
            Arc::clone(&run),
            Arc::clone(&target),
            Arc::clone(&wire),
            Arc::clone(&next),
            common.reply_timeout,
        ));
    }
    // Workers start at once: there is no ramp, only the optional warm-up.
    let window = run.warm_up_and_measure(common.warmup, common.duration, false).await;
    // Connections come and go, so there is no cost per connection to compute: the samples
    // before and after show whether the server gives back what the cycles took (a leak grows).
    start.window_end(0);
    // A worker finishes the cycle it is in: connect, reply and close each have a deadline.
    let drain = common.connect_timeout + common.reply_timeout + Duration::from_secs(1);
    wind_down(&run, &mut tasks, drain, || false).await;
    let elapsed = run.started.elapsed();

    let mut settings = common_settings(common);
    settings.insert("concurrency", Value::from(args.concurrency));
    settings.insert("size", Value::from(args.size));
    if common.protocol == Protocol::Raw {
        settings.insert("frame", Value::from(format!("{:?}", args.frame).to_lowercase()));
    }
    settings.insert("frame_bytes", Value::from(wire.frame_bytes()));
    let mut summary = start.finish("churn", common, settings, &window);
    // Over the whole run, warm-up and drain included: the rate of the measured window is
    // `cycles_per_sec`.
    summary.connections = Some(Connections::of(&run, read(&run.counters.sent), elapsed));
    let cycles = read(&run.counters.measured);
    let span = run.measured_span(&window);
    summary.answers_secs = report::round3(span.as_secs_f64());
    summary.churn = Some(report::Churn {
        concurrency: args.concurrency,
        cycles,
        cycles_per_sec: per_sec(cycles, span),
    });
    summary.latency_us = Percentiles::of(&run.latency.merged());
    summary
}

async fn worker(
    run: Arc<Run>,
    target: Arc<Target>,
    wire: Arc<Wire>,
    next: Arc<AtomicUsize>,
    reply_timeout: Duration,
) {
    let phase = run.phase();
    while *phase.borrow() < Phase::Drain {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let began = Instant::now();
        bump(&run.counters.sent);
        let cycled = if wire.protocol() == Protocol::Tcp {
            tcp::cycle(&run, &target, &wire, n, reply_timeout).await
        } else {
            cycle(&run, &target, &wire, n, reply_timeout).await
        };
        match cycled {
            Ok(()) => {
                bump(&run.counters.received);
                if run.measured(began) {
                    run.measured_answer(n, began.elapsed());
                }
            }
            Err(failure) => {
                run.record(failure);
                sleep(BACKOFF).await;
            }
        }
    }
}

// ANCHOR: cycle
/// One connection's whole life: open (TCP, upgrade, welcome), one echo, closing handshake.
async fn cycle(
    run: &Arc<Run>,
    target: &Target,
    wire: &Wire,
    n: usize,
    reply_timeout: Duration,
) -> Result<(), Failure> {
    let began = Instant::now();
    let mut ws = target.open(n, &Setup::Nothing).await.inspect_err(|_| {
        bump(&run.counters.failed);
    })?;
    if run.measured(began) {
        run.handshakes.record(n, began.elapsed());
    }
    bump(&run.counters.opened);
    let _open = run.open_guard();

    ws.send(wire.echo_request(n as u64)).await.map_err(|error| Failure::ws("send", &error))?;
    let reply = timeout(reply_timeout, next_data(&mut ws, "reply"))
        .await
        .map_err(|_| Failure::timeout("reply", format!("no reply within {reply_timeout:?}")))??;
    match wire.echo_reply(&reply) {
        Ok(got) if got == n as u64 => {}
        Ok(got) => {
            return Err(Failure::new("reply:unexpected", format!("expected reply {n}, got {got}")));
        }
        Err((_, failure)) => return Err(failure),
    }
    close(ws).await?;
    bump(&run.counters.closed_clean);
    Ok(())
}
// ANCHOR_END: cycle
