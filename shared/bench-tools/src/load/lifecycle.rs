//! The life of a run's connections, shared by every scenario: the ramp that opens them, the
//! read loop that keeps them answering pings while they wait, and the wind-down that drains
//! and closes them within a fixed time.

use std::{future::Future, sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::{
    sync::Semaphore,
    task::JoinSet,
    time::{Instant, sleep},
};
use tokio_tungstenite::tungstenite::Message;

use super::{
    cli::RampArgs,
    conn::{CLOSE_TIMEOUT, Connection, Setup, Target, Ws, close},
    failure::Failure,
    run::{Phase, Run, bump},
};

// ANCHOR: ramp
/// Opens `args.connections` connections, started at `--connect-rate` per second (or as fast as
/// possible) with at most `--max-inflight` handshakes at once, and hands each open connection
/// to `body` on a task of its own in `tasks`. Returns when every attempt has succeeded or
/// failed: how long that took is the ramp time. What a connection is (a WebSocket, or a bare
/// TCP stream for `--protocol tcp`) is the type `body` takes.
///
/// Bounding the handshakes in flight matters even when unpaced: thousands of simultaneous SYNs
/// overflow the server's listen backlog, and the ramp would then time the kernel's SYN retries
/// (1 s, 3 s, ...) instead of the server.
pub(crate) async fn ramp<C, F, Fut>(
    run: &Arc<Run>,
    target: &Arc<Target>,
    args: &RampArgs,
    setup: Setup,
    budget: Duration,
    tasks: &mut JoinSet<()>,
    body: F,
) -> Duration
where
    C: Connection,
    F: Fn(usize, C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let inflight = Arc::new(Semaphore::new(args.max_inflight));
    let setup = Arc::new(setup);
    for n in 0..args.connections {
        if args.connect_rate > 0 {
            // Due times from the start, not sleeps between attempts, so the rate does not
            // drift with the time each iteration takes.
            let due = started + Duration::from_secs_f64(n as f64 / f64::from(args.connect_rate));
            if run.sleep_until(due).await {
                break;
            }
        }
        if run.interrupted() {
            break;
        }
        if started.elapsed() > budget {
            let left = (args.connections - n) as u64;
            run.record_many(
                Failure::new(
                    "ramp:deadline",
                    format!("{left} connections not attempted: the ramp ran out of time"),
                ),
                left,
            );
            break;
        }
        let Ok(permit) = Arc::clone(&inflight).acquire_owned().await else {
            break;
        };
        let (run, target, setup, body) =
            (Arc::clone(run), Arc::clone(target), Arc::clone(&setup), body.clone());
        tasks.spawn(async move {
            let began = Instant::now();
            match C::open(&target, n, &setup).await {
                Ok(ws) => {
                    run.handshakes.record(n, began.elapsed());
                    bump(&run.counters.opened);
                    let _open = run.open_guard();
                    drop(permit);
                    body(n, ws).await;
                }
                Err(failure) => {
                    bump(&run.counters.failed);
                    run.record(failure);
                }
            }
        });
    }
    // Every permit back means every handshake has finished, one way or the other.
    let _ = inflight.acquire_many(args.max_inflight as u32).await;
    started.elapsed()
}
// ANCHOR_END: ramp

// ANCHOR: read_until
/// Reads (and so answers the server's pings) until the run reaches `until`. Text frames go to
/// `on_text`. Returns false when the connection ended first; that is recorded as a drop.
pub(crate) async fn read_until(
    run: &Run,
    ws: &mut Ws,
    stage: &str,
    until: Phase,
    mut on_text: impl FnMut(&str),
) -> bool {
    let mut phase = run.phase();
    loop {
        tokio::select! {
            // An error here means the run itself is gone: stop as if told to.
            _ = phase.wait_for(|phase| *phase >= until) => return true,
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => on_text(text.as_str()),
                Some(Ok(Message::Ping(_))) => bump(&run.counters.pings),
                Some(Ok(Message::Close(frame))) => {
                    dropped(run, Failure::closed(stage, frame.as_ref()));
                    return false;
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    dropped(run, Failure::ws(stage, &error));
                    return false;
                }
                None => {
                    dropped(run, Failure::eof(stage));
                    return false;
                }
            },
        }
    }
}
// ANCHOR_END: read_until

/// Counts a connection that ended without our asking.
pub(crate) fn dropped(run: &Run, failure: Failure) {
    bump(&run.counters.dropped);
    run.record(failure);
}

/// The closing handshake, counted: a clean close, or an error.
pub(crate) async fn close_counted(run: &Run, ws: Ws) {
    match close(ws).await {
        Ok(()) => bump(&run.counters.closed_clean),
        Err(failure) => run.record(failure),
    }
}

// ANCHOR: wind_down
/// Ends a run in bounded time: `Drain` (no new requests) until every task is done, `drained`
/// says the answers are all in, or `drain` has passed; then `Close`, with time for the closing
/// handshakes; then whatever is still running is aborted and counted as an error.
pub(crate) async fn wind_down(
    run: &Run,
    tasks: &mut JoinSet<()>,
    drain: Duration,
    drained: impl Fn() -> bool,
) {
    run.set_phase(Phase::Drain);
    let deadline = Instant::now() + drain;
    while !tasks.is_empty() && !drained() && Instant::now() < deadline {
        tokio::select! {
            joined = tasks.join_next() => note_panic(run, joined),
            // `drained` is a condition on counters, not an event: look again soon.
            () = sleep(Duration::from_millis(20)) => {}
        }
    }
    run.set_phase(Phase::Close);
    let deadline = Instant::now() + CLOSE_TIMEOUT + Duration::from_secs(1);
    while !tasks.is_empty() {
        tokio::select! {
            joined = tasks.join_next() => note_panic(run, joined),
            () = tokio::time::sleep_until(deadline) => {
                let left = tasks.len() as u64;
                tasks.abort_all();
                run.record_many(
                    Failure::new("shutdown:aborted", format!("{left} connections did not finish closing in time")),
                    left,
                );
                while tasks.join_next().await.is_some() {}
            }
        }
    }
}
// ANCHOR_END: wind_down

fn note_panic(run: &Run, joined: Option<Result<(), tokio::task::JoinError>>) {
    if let Some(Err(error)) = joined {
        if error.is_panic() {
            run.record(Failure::new("task:panic", error.to_string()));
        }
    }
}
