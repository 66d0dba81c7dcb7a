//! The state one run shares between its connection tasks and its coordinator: the phase, the
//! measured window, counters, the error tally and the latency histograms.
//!
//! Connection tasks only ever add to it (relaxed atomics and locks held for one record), and
//! they watch the phase to know when to start, stop sending and close. Only the coordinator
//! moves the phase, on a timer: that is what makes every run end by itself.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;
use tokio::{
    sync::watch,
    task::JoinHandle,
    time::{Instant, sleep_until},
};

use super::{failure::Failure, report::thousands};

/// Where a run is. Tasks compare with `>=`, so the order matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Connections are being opened; nobody sends yet.
    Ramp,
    /// Full load, left out of the statistics.
    Warmup,
    /// Full load, measured.
    Measure,
    /// No new requests; the answers to those in flight still count.
    Drain,
    /// Every connection closes now.
    Close,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ramp => "ramp",
            Self::Warmup => "warmup",
            Self::Measure => "measure",
            Self::Drain => "drain",
            Self::Close => "close",
        }
    }
}

/// The measured part of the run. A request counts when it was sent inside it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
}

impl Window {
    pub(crate) fn contains(&self, at: Instant) -> bool {
        self.start <= at && at < self.end
    }
}

/// Every count a run keeps. Relaxed ordering: they are statistics, read once at the end (after
/// the tasks are joined) or approximately by the progress line.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Connections open right now.
    pub(crate) open: AtomicU64,
    /// Connections (or churn cycles' connections) that completed their setup.
    pub(crate) opened: AtomicU64,
    /// Connections that failed to open.
    pub(crate) failed: AtomicU64,
    /// Open connections that ended without our asking.
    pub(crate) dropped: AtomicU64,
    /// Connections that finished the closing handshake.
    pub(crate) closed_clean: AtomicU64,
    /// Pings from the server (answered by tungstenite while we read).
    pub(crate) pings: AtomicU64,
    /// Requests sent (echo messages, publishes, churn cycles started).
    pub(crate) sent: AtomicU64,
    /// Answers received (echo replies, deliveries, churn cycles completed).
    pub(crate) received: AtomicU64,
    /// Answers to requests sent inside the window: what the rates are computed from.
    pub(crate) measured: AtomicU64,
    /// Open-loop sends skipped because too many replies were outstanding.
    pub(crate) skipped: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Counts a connection as open for as long as it lives, however its task ends.
#[derive(Debug)]
pub(crate) struct OpenGuard(Arc<Run>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.counters.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Errors by kind, with the first detail of each kind and the first few overall in order.
#[derive(Debug, Default)]
pub(crate) struct ErrorTally {
    total: AtomicU64,
    inner: Mutex<TallyInner>,
}

#[derive(Debug, Default)]
struct TallyInner {
    kinds: BTreeMap<String, KindTally>,
    first: Vec<(Duration, Failure)>,
}

#[derive(Debug, Clone)]
pub(crate) struct KindTally {
    pub(crate) count: u64,
    pub(crate) first: String,
}

/// How many distinct errors keep their detail in the order they happened.
const FIRST_ERRORS: usize = 5;

impl ErrorTally {
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn record(&self, at: Duration, failure: Failure, count: u64) {
        if count == 0 {
            return;
        }
        self.total.fetch_add(count, Ordering::Relaxed);
        let mut inner = lock(&self.inner);
        inner
            .kinds
            .entry(failure.kind.clone())
            .and_modify(|kind| kind.count += count)
            .or_insert_with(|| KindTally { count, first: failure.detail.clone() });
        // Distinct errors only: a hundred identical refusals say no more than one.
        let seen = inner
            .first
            .iter()
            .any(|(_, first)| first.kind == failure.kind && first.detail == failure.detail);
        if inner.first.len() < FIRST_ERRORS && !seen {
            inner.first.push((at, failure));
        }
    }

    pub(crate) fn by_kind(&self) -> BTreeMap<String, KindTally> {
        lock(&self.inner).kinds.clone()
    }

    pub(crate) fn first(&self) -> Vec<(Duration, Failure)> {
        lock(&self.inner).first.clone()
    }
}

/// A lock whose holder panicked still holds valid statistics; keep using them.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Latencies in microseconds, in a few HDR histograms so that thousands of connection tasks
/// recording at once rarely wait on the same lock. Merged once, at the end.
#[derive(Debug)]
pub(crate) struct Latency {
    shards: Box<[Mutex<Histogram<u64>>]>,
}

const LATENCY_SHARDS: usize = 16;
/// One hour: any longer wait was cut short by a timeout long before.
const LATENCY_MAX_US: u64 = 3_600_000_000;

impl Latency {
    fn new() -> Self {
        let shards = (0..LATENCY_SHARDS).map(|_| Mutex::new(new_histogram())).collect();
        Self { shards }
    }

    /// Records one latency; `key` (a connection number) picks the shard.
    pub(crate) fn record(&self, key: usize, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        lock(&self.shards[key % self.shards.len()]).saturating_record(micros.max(1));
    }

    pub(crate) fn merged(&self) -> Histogram<u64> {
        let mut total = new_histogram();
        for shard in &self.shards {
            // Same bounds on both sides, so adding cannot fail; a failure would only lose
            // samples from the summary, never crash the run.
            let _ = total.add(&*lock(shard));
        }
        total
    }
}

fn new_histogram() -> Histogram<u64> {
    // Three significant digits from 1 µs to an hour: about 180 KiB per histogram.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("constant bounds are valid")
}

/// One run's shared state. Its creation instant is also the clock base for broadcast stamps:
/// every client lives in this process, so one `Instant` is a clock they all share exactly.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) started: Instant,
    phase: watch::Sender<Phase>,
    stop: watch::Sender<bool>,
    window: OnceLock<Window>,
    /// When the latest measured answer arrived, in nanoseconds since `started`.
    last_measured: AtomicU64,
    pub(crate) counters: Counters,
    pub(crate) errors: ErrorTally,
    /// Round trips, deliveries or cycles, per scenario.
    pub(crate) latency: Latency,
    /// Connect + upgrade (+ welcome, + join) of each connection.
    pub(crate) handshakes: Latency,
}

impl Run {
    pub(crate) fn new() -> Arc<Self> {
        let run = Arc::new(Self {
            started: Instant::now(),
            phase: watch::Sender::new(Phase::Ramp),
            stop: watch::Sender::new(false),
            window: OnceLock::new(),
            last_measured: AtomicU64::new(0),
            counters: Counters::default(),
            errors: ErrorTally::default(),
            latency: Latency::new(),
            handshakes: Latency::new(),
        });
        // Ctrl-C (or SIGTERM) ends the run early but still drains, closes and reports.
        let interrupted = Arc::clone(&run);
        tokio::spawn(async move {
            shared::shutdown::signal().await;
            interrupted.stop.send_replace(true);
        });
        run
    }

    pub(crate) fn record(&self, failure: Failure) {
        self.errors.record(self.started.elapsed(), failure, 1);
    }

    pub(crate) fn record_many(&self, failure: Failure, count: u64) {
        self.errors.record(self.started.elapsed(), failure, count);
    }

    /// Counts a connection as open until the guard drops.
    pub(crate) fn open_guard(self: &Arc<Self>) -> OpenGuard {
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(Arc::clone(self))
    }

    /// Nanoseconds from the run's start to `at`: the timestamp broadcast publishes carry.
    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `nanos` stands for.
    pub(crate) fn instant(&self, nanos: u64) -> Instant {
        self.started + Duration::from_nanos(nanos)
    }

    pub(crate) fn phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Fixes the measured window (once: later calls keep the first).
    pub(crate) fn set_window(&self, window: Window) -> Window {
        *self.window.get_or_init(|| window)
    }

    pub(crate) fn window(&self) -> Option<Window> {
        self.window.get().copied()
    }

    /// Whether `at` lies in the measured window (false while it is not fixed yet).
    pub(crate) fn measured(&self, at: Instant) -> bool {
        self.window().is_some_and(|window| window.contains(at))
    }

    /// Counts an answer to a request of the measured window, with its latency.
    pub(crate) fn measured_answer(&self, key: usize, latency: Duration) {
        bump(&self.counters.measured);
        self.latency.record(key, latency);
        self.last_measured.fetch_max(self.nanos(Instant::now()), Ordering::Relaxed);
    }

    /// What rates are computed over: the window, or longer when the answers to its requests
    /// kept arriving after it (a server that fell behind must not look faster than it was).
    pub(crate) fn measured_span(&self, window: &Window) -> Duration {
        let last = self.instant(self.last_measured.load(Ordering::Relaxed));
        window.end.max(last).saturating_duration_since(window.start)
    }

    pub(crate) fn interrupted(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps until `deadline`, or less if the user interrupts the run. True when interrupted.
    pub(crate) async fn sleep_until(&self, deadline: Instant) -> bool {
        let mut stop = self.stop.subscribe();
        tokio::select! {
            () = sleep_until(deadline) => false,
            _ = stop.wait_for(|stop| *stop) => true,
        }
    }

    /// The warm-up and the measured window, as the coordinator lives them: fixes the window,
    /// then moves the phase along it. Returns the window actually measured (shorter when
    /// interrupted, empty when `nothing_to_measure`: no point holding the user for the full
    /// duration when not one connection opened).
    pub(crate) async fn warm_up_and_measure(
        &self,
        warmup: Duration,
        duration: Duration,
        nothing_to_measure: bool,
    ) -> Window {
        if nothing_to_measure {
            let now = Instant::now();
            return self.set_window(Window { start: now, end: now });
        }
        let start = Instant::now() + warmup;
        let planned = self.set_window(Window { start, end: start + duration });
        self.set_phase(Phase::Warmup);
        if !self.sleep_until(planned.start).await {
            self.set_phase(Phase::Measure);
            self.sleep_until(planned.end).await;
        }
        let end = Instant::now().min(planned.end);
        Window { start: planned.start.min(end), end }
    }
}

/// Which counters the progress line shows, and under what names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    pub(crate) scenario: &'static str,
    /// Connections the run means to hold open (0: do not show the target).
    pub(crate) target_open: usize,
    pub(crate) sent: Option<&'static str>,
    pub(crate) received: Option<&'static str>,
}

/// Prints one line a second on stderr until aborted: where the run is and how fast it goes.
pub(crate) fn spawn_progress(run: Arc<Run>, progress: Progress) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        let mut last = (read(&run.counters.sent), read(&run.counters.received));
        loop {
            ticker.tick().await;
            let now = (read(&run.counters.sent), read(&run.counters.received));
            let mut line = format!(
                "wsload {} [{:>4}s] {:<7}  open {:>6}",
                progress.scenario,
                run.started.elapsed().as_secs(),
                run.phase.borrow().as_str(),
                read(&run.counters.open),
            );
            if progress.target_open > 0 {
                line.push_str(&format!("/{}", progress.target_open));
            }
            if let Some(label) = progress.sent {
                line.push_str(&format!("  {label} {:>9}/s", thousands(now.0 - last.0)));
            }
            if let Some(label) = progress.received {
                line.push_str(&format!("  {label} {:>9}/s", thousands(now.1 - last.1)));
            }
            line.push_str(&format!("  errors {}", thousands(run.errors.total())));
            eprintln!("{line}");
            last = now;
        }
    })
}
