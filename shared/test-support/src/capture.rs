//! Captures the logs of one test so the test can assert on them.
//!
//! The subscriber is installed for the current thread only, which covers everything spawned
//! on a `#[tokio::test]` (current-thread) runtime, and leaves other tests undisturbed.
//!
//! One caveat: `tracing` caches, process-wide, whether each log statement is wanted. In a test
//! binary where some tests capture and others do not, a statement first reached by a test
//! without a capture can be cached as unwanted for a while. If a test binary asserts on logs,
//! let every test in it capture (even if it ignores the result).

use std::{
    io,
    sync::{Arc, Mutex},
};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// The text written by the captured subscriber.
#[derive(Debug, Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The captured lines that contain every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.contents()
            .lines()
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .map(str::to_owned)
            .collect()
    }

    /// Waits until a captured line contains every one of `needles`, and panics with the whole
    /// capture after about a second. The server logs from its own task, which may run a moment
    /// after the client has seen the result.
    pub async fn wait_for(&self, needles: &[&str]) -> String {
        for _ in 0..100 {
            if let Some(line) = self.lines_with(needles).pop() {
                return line;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no log line with {needles:?} in:\n{}", self.contents());
    }
}

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Starts capturing every event at `directives` (e.g. `"debug"`) on this thread, without colours.
/// Keep the guard alive for as long as the capture should last.
pub fn capture(directives: &str) -> (DefaultGuard, Logs) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(directives))
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    (tracing::subscriber::set_default(subscriber), logs)
}

/// Polls `condition` until it holds, panicking with `what` after about five seconds. For state
/// that another task updates (a registry emptied by sessions ending), not for timers: those
/// are tested on tokio's paused clock.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("still not true after 5 s: {what}");
}
