//! What the chain costs per message. `cargo bench -p ch09-scale-out --bench chain`
//!
//! The names (`chain/dispatch/...`, `envelope/...`) are the same in every later chapter, so
//! the numbers compare across chapters.

use std::{hint::black_box, num::NonZeroU32};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch09_scale_out as chapter;
use chapter::{
    Config, Registry, app,
    chain::{Chain, Cx, Inbound, Middleware, Next, Outcome, Router},
    handlers,
    protocol::{self, ServerMessage, TraceId},
    registry,
    state::SessionState,
};

const ECHO: &str = r#"{"type":"echo","id":"42","data":{"text":"hello, world","n":42}}"#;
const PUBLISH: &str =
    r#"{"type":"publish","id":"42","room":"lobby","data":{"text":"hello, world","n":42}}"#;

/// A link that only passes the message on: the cost of a link, and nothing else.
struct Pass;

impl Middleware for Pass {
    fn name(&self) -> &'static str {
        "pass"
    }

    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome {
        next.run(cx, message)
    }
}

fn unlimited() -> Config {
    let max = NonZeroU32::MAX;
    Config { rate_limit: max, rate_burst: max, ..Config::default() }
}

fn bench_dispatch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = runtime.enter();
    let config = unlimited();
    let registry = Registry::new();
    let (outbound, _queue) = registry::queue(1024);
    let registration = registry.register(outbound, Default::default());
    let mut state = SessionState::new(&config);

    let mut group = c.benchmark_group("chain/dispatch");
    for links in [0, 1, 4, 8] {
        let chain = (0..links)
            .fold(Chain::new(Router::new().route(handlers::Echo)), |chain, _| chain.with(Pass));
        group.bench_function(format!("links={links}"), |b| {
            b.iter(|| chain.dispatch(registration.id(), &registry, &mut state, black_box(ECHO)))
        });
    }
    let standard = app::standard_chain(&config, None);
    group.bench_function("standard", |b| {
        b.iter(|| standard.dispatch(registration.id(), &registry, &mut state, black_box(ECHO)))
    });
    group.finish();
}

fn bench_envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    group.bench_function("decode/publish", |b| b.iter(|| protocol::decode(black_box(PUBLISH))));
    let message = ServerMessage::Message {
        room: "lobby".into(),
        from: "12345".into(),
        data: json!({"text": "hello, world", "n": 42}),
        trace: TraceId { session: 12345, seq: 42 },
    };
    group.bench_function("encode/message", |b| b.iter(|| protocol::encode(black_box(&message))));
    group.finish();
}

criterion_group!(benches, bench_dispatch, bench_envelope);
criterion_main!(benches);
