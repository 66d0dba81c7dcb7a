//! Decode and encode cost of the envelope. `cargo bench -p ch03-session-registry --bench envelope`
//!
//! Same names as in chapters 05-07 (`envelope/decode/publish`, `envelope/encode/message`), so
//! the numbers compare across chapters.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch03_session_registry as chapter;
use chapter::protocol::{self, ServerMessage};

const PUBLISH: &str =
    r#"{"type":"publish","id":"42","room":"lobby","data":{"text":"hello, world","n":42}}"#;

fn bench_envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    group.bench_function("decode/publish", |b| b.iter(|| protocol::decode(black_box(PUBLISH))));
    let message = ServerMessage::Message {
        room: "lobby".into(),
        from: "12345".into(),
        data: json!({"text": "hello, world", "n": 42}),
    };
    group.bench_function("encode/message", |b| b.iter(|| protocol::encode(black_box(&message))));
    group.finish();
}

criterion_group!(benches, bench_envelope);
criterion_main!(benches);
