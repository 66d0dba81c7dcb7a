//! What recording metrics costs on the hot path. `cargo bench -p ch09-scale-out --bench metrics`
//!
//! The same names as chapter 06's bench: there every call went through the `counter!` /
//! `histogram!` macros; here through handles registered once ([`Metrics`]).
//! `per_message` is what one request/reply pays: message received, handler latency, message
//! sent (two counters and three histogram samples).

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch09_scale_out as chapter;
use chapter::metrics::{Metrics, prometheus_recorder};

fn per_message(metrics: &Metrics) {
    metrics.message_received(black_box("publish"), black_box(80));
    metrics.handled(black_box("publish"), black_box(Duration::from_nanos(700)));
    metrics.message_sent(black_box("ack"), black_box(40));
}

fn bench_recording(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/record");
    let metrics = Metrics::default();
    group.bench_function("counter/no_recorder", |b| b.iter(|| metrics.connection_opened()));
    group.bench_function("per_message/no_recorder", |b| b.iter(|| per_message(&metrics)));

    let recorder = prometheus_recorder();
    let _local = ::metrics::set_default_local_recorder(&recorder);
    let metrics = Metrics::default();
    group.bench_function("counter/prometheus", |b| b.iter(|| metrics.connection_opened()));
    group.bench_function("histogram/prometheus", |b| {
        b.iter(|| metrics.heartbeat_rtt(black_box(Duration::from_micros(120))))
    });
    group.bench_function("per_message/prometheus", |b| b.iter(|| per_message(&metrics)));
    group.finish();
}

criterion_group!(benches, bench_recording);
criterion_main!(benches);
