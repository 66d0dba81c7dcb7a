//! What the registry's fan-out costs, alone and while another core wants the registry's lock.
//! `cargo bench -p ch05-handler-chain --bench registry`
//!
//! - `registry/publish/members=N`: one publish to a room of N members: the message encoded
//!   once, a shared frame queued for each of the other N - 1.
//! - `registry/publish/members=100/contended`: the same while another thread joins and leaves a
//!   different room without pause. Both take the registry's one lock, so the difference is
//!   what that lock costs when two cores want it: the most a registry sharded by room could
//!   win back for this pair of callers on this machine.
//!
//! The members' queues are emptied between batches, outside the timing. The names are the same
//! in every chapter that has a registry (03 on), so the numbers compare across chapters.

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch05_handler_chain as chapter;
use chapter::{
    Registry,
    protocol::{ServerMessage, TraceId},
    registry::{self, Registration},
};

/// Publishes between two emptyings of the queues: below the queues' capacity, so every
/// publish is delivered and none is dropped.
const BATCH: u64 = 64;

/// A room of `members` sessions; the first one publishes.
fn room(registry: &Arc<Registry>, members: usize) -> (Vec<Registration>, Vec<Inbox>) {
    (0..members)
        .map(|_| {
            let (outbound, inbox) = queue();
            let registration = registry.register(outbound);
            registry.join(registration.id(), "bench").unwrap();
            (registration, inbox)
        })
        .unzip()
}

type Inbox = mpsc::Receiver<Utf8Bytes>;

/// A session's outbound queue, and its receiving end.
fn queue() -> (registry::Outbound, Inbox) {
    mpsc::channel(256)
}

fn empty(inbox: &mut Inbox) {
    while inbox.try_recv().is_ok() {}
}

/// Times `iters` publishes, emptying the queues every `BATCH` outside the clock.
fn publish(
    registry: &Registry,
    from: &Registration,
    inboxes: &mut [Inbox],
    iters: u64,
) -> Duration {
    let message = ServerMessage::Message {
        room: "bench".into(),
        from: from.id().to_string(),
        data: json!({"text": "hello, world", "n": 42}),
        trace: TraceId { session: 1, seq: 42 },
    };
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        let start = Instant::now();
        for _ in 0..batch {
            black_box(registry.publish(from.id(), "bench", black_box(&message)).unwrap());
        }
        timed += start.elapsed();
        left -= batch;
        inboxes.iter_mut().for_each(empty);
    }
    timed
}

fn bench_publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("registry/publish");
    for members in [10, 100, 1000] {
        let registry = Registry::new();
        let (sessions, mut inboxes) = room(&registry, members);
        group.bench_function(format!("members={members}"), |b| {
            b.iter_custom(|iters| publish(&registry, &sessions[0], &mut inboxes, iters))
        });
    }

    let registry = Registry::new();
    let (sessions, mut inboxes) = room(&registry, 100);
    let (outbound, _inbox) = queue();
    let other = registry.register(outbound);
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                registry.join(other.id(), "elsewhere").unwrap();
                registry.leave(other.id(), "elsewhere").unwrap();
            }
        });
        group.bench_function("members=100/contended", |b| {
            b.iter_custom(|iters| publish(&registry, &sessions[0], &mut inboxes, iters))
        });
        stop.store(true, Ordering::Relaxed);
    });
    group.finish();
}

criterion_group!(benches, bench_publish);
criterion_main!(benches);
