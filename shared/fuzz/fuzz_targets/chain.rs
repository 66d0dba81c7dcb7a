//! Any text frame through the whole standard chain (decode, every link, the router, the
//! handlers) of a fresh session: the reply may be any error, but never `internal` (a caught
//! panic) and never a crash.
//!
//! `cargo +nightly fuzz run --fuzz-dir shared/fuzz chain` (from the repository root;
//! `cargo install cargo-fuzz`)
#![no_main]

use std::sync::OnceLock;

use ch08_high_concurrency::{
    Config,
    app::App,
    protocol::{ErrorCode, ServerMessage},
    state::SessionState,
};
use libfuzzer_sys::fuzz_target;

fn app() -> &'static App {
    static APP: OnceLock<std::sync::Arc<App>> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _guard = runtime.enter();
        App::new(Config::default())
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let app = app();
    let (outbound, _queue) = tokio::sync::mpsc::channel(8);
    let registration = app.registry.register(outbound);
    let mut state = SessionState::new(&app.config);
    let reply = app.chain.dispatch(registration.id(), &app.registry, &mut state, text);
    assert!(!matches!(reply, ServerMessage::Error { code: ErrorCode::Internal, .. }), "{reply:?}");
});
