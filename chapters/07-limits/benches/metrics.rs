//! What recording metrics costs on the hot path. `cargo bench -p ch07-limits --bench metrics`
//!
//! `per_message` is what one request/reply pays: message received, handler latency, message
//! sent (each a counter and/or a histogram sample).

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch07_limits as chapter;
use chapter::metrics::{self, prometheus_recorder};

fn per_message() {
    metrics::message_received(black_box("publish"), black_box(80));
    metrics::handled(black_box("publish"), black_box(Duration::from_nanos(700)));
    metrics::message_sent(black_box("ack"), black_box(40));
}

fn bench_recording(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/record");
    group.bench_function("counter/no_recorder", |b| b.iter(metrics::connection_opened));
    group.bench_function("per_message/no_recorder", |b| b.iter(per_message));

    let recorder = prometheus_recorder();
    let _local = ::metrics::set_default_local_recorder(&recorder);
    group.bench_function("counter/prometheus", |b| b.iter(metrics::connection_opened));
    group.bench_function("histogram/prometheus", |b| {
        b.iter(|| metrics::heartbeat_rtt(black_box(Duration::from_micros(120))))
    });
    group.bench_function("per_message/prometheus", |b| b.iter(per_message));
    group.finish();
}

criterion_group!(benches, bench_recording);
criterion_main!(benches);
