//! `idle`: open many connections, hold them while they only answer the server's pings, close
//! them. What it shows is the fixed cost of a connection: handshakes per second on the way up,
//! and (with `--server-pid`) the server's memory per open connection. With `--protocol tcp`
//! the connections are plain TCP streams (`tcp`): what a socket alone costs.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use tokio::task::JoinSet;

use super::{
    Start,
    cli::{IdleArgs, Protocol},
    common_settings,
    conn::{Setup, Target, Ws},
    lifecycle::{close_counted, ramp, read_until, wind_down},
    ramp_budget,
    report::{Connections, Summary},
    run::{Phase, Progress, Run, read},
    tcp,
};

pub(super) async fn run(args: &IdleArgs) -> Summary {
    let common = &args.common;
    let mut start = Start::new(
        common,
        Progress {
            scenario: "idle",
            target_open: args.ramp.connections,
            sent: None,
            received: None,
        },
    );
    let run = Arc::clone(&start.run);
    let target = Arc::new(Target::new(common));
    let mut tasks = JoinSet::new();

    let holder = Arc::clone(&run);
    let budget = ramp_budget(common);
    let ramp_time = if common.protocol == Protocol::Tcp {
        let body = move |_, stream| tcp::hold(Arc::clone(&holder), stream);
        ramp(&run, &target, &args.ramp, Setup::Nothing, budget, &mut tasks, body).await
    } else {
        let body = move |_, ws| hold(Arc::clone(&holder), ws);
        ramp(&run, &target, &args.ramp, Setup::Nothing, budget, &mut tasks, body).await
    };
    start.all_open();
    // For `idle` the warm-up is simply more hold: nothing is measured but drops.
    let window = run
        .warm_up_and_measure(common.warmup, common.duration, read(&run.counters.opened) == 0)
        .await;
    start.window_end(read(&run.counters.open));
    wind_down(&run, &mut tasks, Duration::ZERO, || true).await;

    let mut settings = common_settings(common);
    settings.insert("connections", Value::from(args.ramp.connections));
    settings.insert("connect_rate", Value::from(args.ramp.connect_rate));
    settings.insert("max_inflight", Value::from(args.ramp.max_inflight));
    let mut summary = start.finish("idle", common, settings, &window);
    summary.connections = Some(Connections::of(&run, args.ramp.connections as u64, ramp_time));
    summary
}

/// One idle connection: read (which answers pings) until the run closes, then close cleanly.
async fn hold(run: Arc<Run>, mut ws: Ws) {
    if read_until(&run, &mut ws, "hold", Phase::Close, |_| {}).await {
        close_counted(&run, ws).await;
    }
}
