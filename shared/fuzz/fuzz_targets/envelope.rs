//! Any bytes, as a text frame, through the envelope decoder: it must answer, never panic.
//!
//! `cargo +nightly fuzz run --fuzz-dir shared/fuzz envelope` (from the repository root;
//! `cargo install cargo-fuzz`)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ch08_high_concurrency::protocol::decode(text);
    }
});
