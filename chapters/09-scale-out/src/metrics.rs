//! Every metric this server exports, named and recorded in one place.
//!
//! Names follow Prometheus conventions: a `ws_` prefix, base units (`_seconds`, `_bytes`) and
//! `_total` on counters. Label values come from closed sets (`reason`, `code`, known message
//! types); a client-chosen string never becomes a label, or a client could make the server
//! grow a new series per request.
//!
//! Recording goes through the `metrics` facade, with handles registered once ([`Metrics`]):
//! `main` installs the Prometheus recorder, tests install their own.

use std::time::Duration;

use foldhash::HashMap;
use metrics::{
    Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};
use metrics_prometheus::Recorder;
use prometheus::{Histogram as Buckets, HistogramOpts, HistogramVec, Registry as MetricsRegistry};

// ANCHOR: names
pub const CONNECTIONS_OPENED: &str = "ws_connections_opened_total";
pub const CONNECTIONS_CLOSED: &str = "ws_connections_closed_total";
pub const HANDSHAKE_FAILURES: &str = "ws_handshake_failures_total";
pub const MESSAGES_RECEIVED: &str = "ws_messages_received_total";
pub const MESSAGES_SENT: &str = "ws_messages_sent_total";
pub const ERRORS: &str = "ws_errors_total";
pub const HEARTBEAT_TIMEOUTS: &str = "ws_heartbeat_timeouts_total";
pub const QUEUE_DROPS: &str = "ws_outbound_dropped_total";
pub const SESSIONS_ACTIVE: &str = "ws_sessions_active";
pub const ROOMS_ACTIVE: &str = "ws_rooms_active";
pub const HANDLER_DURATION: &str = "ws_handler_duration_seconds";
pub const HEARTBEAT_RTT: &str = "ws_heartbeat_rtt_seconds";
pub const MESSAGE_SIZE: &str = "ws_message_size_bytes";
pub const SESSION_DURATION: &str = "ws_session_duration_seconds";
pub const CLUSTER_UP: &str = "ws_cluster_up";
pub const CLUSTER_RECONNECTS: &str = "ws_cluster_reconnects_total";
pub const CLUSTER_MESSAGES: &str = "ws_cluster_messages_total";
pub const CLUSTER_LOST: &str = "ws_cluster_lost_total";
// ANCHOR_END: names

/// The Prometheus recorder, with histogram buckets suited to each unit. It records into its
/// own registry (`recorder.registry()`), which `/metrics` renders.
///
/// Chapter 06 used `metrics-exporter-prometheus`, which appends every histogram sample, with a
/// timestamp, to a buffer that its upkeep sorts into buckets later. This recorder
/// (`metrics-prometheus`, over the `prometheus` crate) counts a sample into its bucket when it
/// is recorded: a few atomic adds, no buffer, no upkeep (measured on chapter 08's page).
///
/// A series the registry refuses (a name used twice with other labels) panics in a debug
/// build, so the tests catch it; a release build records nothing for it and carries on.
pub fn prometheus_recorder() -> Recorder {
    const LATENCY: &[f64] = &[
        0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5,
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    ];
    const SIZE: &[f64] = &[64.0, 256.0, 1024.0, 4096.0, 16_384.0, 65_536.0, 262_144.0, 1_048_576.0];
    const LIFETIME: &[f64] = &[1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 21_600.0, 86_400.0];
    // A histogram's buckets are fixed when it is created, so the four are registered here,
    // before any handle (`describe` then gives them their HELP text).
    let opts =
        |name: &str, buckets: &[f64]| HistogramOpts::new(name, name).buckets(buckets.to_vec());
    let labeled = |name, label, buckets| {
        HistogramVec::new(opts(name, buckets), &[label]).expect("a valid histogram")
    };
    let plain = |name, buckets| Buckets::with_opts(opts(name, buckets)).expect("a valid histogram");
    Recorder::builder()
        .with_registry(MetricsRegistry::new())
        .with_metric(labeled(HANDLER_DURATION, "type", LATENCY))
        .with_metric(plain(HEARTBEAT_RTT, LATENCY))
        .with_metric(labeled(MESSAGE_SIZE, "direction", SIZE))
        .with_metric(plain(SESSION_DURATION, LIFETIME))
        .build()
}

/// The HELP text of every series, for the scrape output. (This recorder prints no units: each
/// name carries its own, `_seconds` or `_bytes`.)
pub fn describe() {
    describe_counter!(CONNECTIONS_OPENED, "TCP connections accepted");
    describe_counter!(CONNECTIONS_CLOSED, "Sessions ended, by reason");
    describe_counter!(HANDSHAKE_FAILURES, "Connections that failed the WebSocket handshake");
    describe_counter!(MESSAGES_RECEIVED, "Messages received, by type");
    describe_counter!(MESSAGES_SENT, "Messages sent, by type");
    describe_counter!(ERRORS, "Error replies sent, by code");
    describe_counter!(HEARTBEAT_TIMEOUTS, "Sessions closed for missing their heartbeats");
    describe_counter!(
        QUEUE_DROPS,
        "Messages dropped because a recipient's outbound queue was full"
    );
    describe_gauge!(SESSIONS_ACTIVE, "Sessions registered now");
    describe_gauge!(ROOMS_ACTIVE, "Rooms with at least one member now");
    describe_histogram!(HANDLER_DURATION, Unit::Seconds, "Time through the chain, by message type");
    describe_histogram!(HEARTBEAT_RTT, Unit::Seconds, "Ping to Pong round-trip time");
    describe_histogram!(MESSAGE_SIZE, Unit::Bytes, "Size of data frames, by direction");
    describe_histogram!(SESSION_DURATION, Unit::Seconds, "How long sessions lasted");
    describe_gauge!(CLUSTER_UP, "1 while subscribed to Redis, 0 while not");
    describe_counter!(
        CLUSTER_RECONNECTS,
        "Connections to Redis lost, and connection attempts that failed"
    );
    describe_counter!(
        CLUSTER_MESSAGES,
        "Relays through Redis, by direction: in received, out published and received"
    );
    describe_counter!(CLUSTER_LOST, "Relays whose PUBLISH failed: not confirmed, perhaps lost");
}

// ANCHOR: recording
/// Handles to every series, registered once when the server starts. Recording through a
/// handle is an atomic operation; through the `counter!` macro it first hashes the key and
/// looks it up in the recorder's registry, which costs more than the chain itself (chapter
/// 06 measured it). Label values come from closed sets, so every handle exists up front.
#[derive(Debug)]
pub struct Metrics {
    connections_opened: Counter,
    handshake_failures: Labeled<Counter>,
    connections_closed: Labeled<Counter>,
    session_duration: Histogram,
    received: Labeled<Counter>,
    sent: Labeled<Counter>,
    size_in: Histogram,
    size_out: Histogram,
    errors: Labeled<Counter>,
    handled: Labeled<Histogram>,
    heartbeat_rtt: Histogram,
    heartbeat_timeouts: Counter,
    queue_drops: Counter,
    sessions: Gauge,
    rooms: Gauge,
    cluster_up: Gauge,
    cluster_reconnects: Counter,
    relays_in: Counter,
    relays_out: Counter,
    relays_lost: Counter,
}

/// One handle per value of a label, for a closed set of values. Looked up on every message, so
/// with foldhash rather than std's SipHash: the map is built at start-up and never stores a
/// key a client chose, so SipHash's defence against colliding keys buys nothing here.
#[derive(Debug)]
struct Labeled<T> {
    handles: HashMap<&'static str, T>,
    name: &'static str,
    label: &'static str,
}

impl<T> Labeled<T> {
    fn new(
        name: &'static str,
        label: &'static str,
        values: &[&'static str],
        make: impl Fn(&'static str) -> T,
    ) -> Self {
        Self { handles: values.iter().map(|&value| (value, make(value))).collect(), name, label }
    }
}

impl Labeled<Counter> {
    fn increment(&self, value: &'static str) {
        match self.handles.get(value) {
            Some(counter) => counter.increment(1),
            // A value outside the set (a type added after start-up): the slow path.
            None => counter!(self.name, self.label => value).increment(1),
        }
    }
}

impl Labeled<Histogram> {
    fn record(&self, value: &'static str, sample: f64) {
        match self.handles.get(value) {
            Some(histogram) => histogram.record(sample),
            None => histogram!(self.name, self.label => value).record(sample),
        }
    }
}

/// Close reasons, handshake refusals, error codes and message types: every label value.
pub const CLOSE_REASONS: &[&str] = &[
    "client_close",
    "protocol_error",
    "io_error",
    "heartbeat_timeout",
    "server_shutdown",
    "kicked",
    "policy",
];
pub const HANDSHAKE_REASONS: &[&str] = &[
    "timeout",
    "bad_request",
    "bad_version",
    "io_error",
    "not_found",
    "overloaded",
    "forbidden_origin",
    "unauthorized",
];
pub const ERROR_CODES: &[&str] = &[
    "invalid_json",
    "unknown_type",
    "bad_request",
    "unsupported_frame",
    "unauthenticated",
    "unauthorized",
    "rate_limited",
    "not_in_room",
    "no_such_session",
    "internal",
    "unavailable",
];
/// Inbound types besides the router's: frames that never reached a handler.
pub const UNROUTED_TYPES: &[&str] = &["invalid", "unknown", "binary"];
pub const OUTBOUND_TYPES: &[&str] = &["welcome", "ack", "echo", "message", "direct", "error"];

impl Metrics {
    /// Registers every series with the recorder in force (the global one, or a test's).
    /// `message_types` are the types the router serves.
    pub fn new(message_types: impl IntoIterator<Item = &'static str>) -> Self {
        let inbound: Vec<&'static str> =
            message_types.into_iter().chain(UNROUTED_TYPES.iter().copied()).collect();
        Self {
            connections_opened: counter!(CONNECTIONS_OPENED),
            handshake_failures: Labeled::new(
                HANDSHAKE_FAILURES,
                "reason",
                HANDSHAKE_REASONS,
                |v| counter!(HANDSHAKE_FAILURES, "reason" => v),
            ),
            connections_closed: Labeled::new(
                CONNECTIONS_CLOSED,
                "reason",
                CLOSE_REASONS,
                |v| counter!(CONNECTIONS_CLOSED, "reason" => v),
            ),
            session_duration: histogram!(SESSION_DURATION),
            received: Labeled::new(
                MESSAGES_RECEIVED,
                "type",
                &inbound,
                |v| counter!(MESSAGES_RECEIVED, "type" => v),
            ),
            sent: Labeled::new(
                MESSAGES_SENT,
                "type",
                OUTBOUND_TYPES,
                |v| counter!(MESSAGES_SENT, "type" => v),
            ),
            size_in: histogram!(MESSAGE_SIZE, "direction" => "in"),
            size_out: histogram!(MESSAGE_SIZE, "direction" => "out"),
            errors: Labeled::new(ERRORS, "code", ERROR_CODES, |v| counter!(ERRORS, "code" => v)),
            handled: Labeled::new(
                HANDLER_DURATION,
                "type",
                &inbound,
                |v| histogram!(HANDLER_DURATION, "type" => v),
            ),
            heartbeat_rtt: histogram!(HEARTBEAT_RTT),
            heartbeat_timeouts: counter!(HEARTBEAT_TIMEOUTS),
            queue_drops: counter!(QUEUE_DROPS),
            sessions: gauge!(SESSIONS_ACTIVE),
            rooms: gauge!(ROOMS_ACTIVE),
            cluster_up: gauge!(CLUSTER_UP),
            cluster_reconnects: counter!(CLUSTER_RECONNECTS),
            relays_in: counter!(CLUSTER_MESSAGES, "direction" => "in"),
            relays_out: counter!(CLUSTER_MESSAGES, "direction" => "out"),
            relays_lost: counter!(CLUSTER_LOST),
        }
    }

    pub fn connection_opened(&self) {
        self.connections_opened.increment(1);
    }

    pub fn handshake_failed(&self, reason: &'static str) {
        self.handshake_failures.increment(reason);
    }

    pub fn session_closed(&self, reason: &'static str, lifetime: Duration) {
        self.connections_closed.increment(reason);
        self.session_duration.record(lifetime);
    }

    pub fn message_received(&self, msg_type: &'static str, bytes: usize) {
        self.received.increment(msg_type);
        self.size_in.record(bytes as f64);
    }

    pub fn message_sent(&self, msg_type: &'static str, bytes: usize) {
        self.sent.increment(msg_type);
        self.size_out.record(bytes as f64);
    }

    pub fn error_sent(&self, code: &'static str) {
        self.errors.increment(code);
    }

    pub fn handled(&self, msg_type: &'static str, duration: Duration) {
        self.handled.record(msg_type, duration.as_secs_f64());
    }

    pub fn heartbeat_rtt(&self, rtt: Duration) {
        self.heartbeat_rtt.record(rtt);
    }

    pub fn heartbeat_timeout(&self) {
        self.heartbeat_timeouts.increment(1);
    }

    pub fn queue_dropped(&self) {
        self.queue_drops.increment(1);
    }

    pub fn population(&self, sessions: usize, rooms: usize) {
        self.sessions.set(sessions as f64);
        self.rooms.set(rooms as f64);
    }

    pub fn cluster_up(&self, up: bool) {
        self.cluster_up.set(if up { 1.0 } else { 0.0 });
    }

    pub fn cluster_reconnect(&self) {
        self.cluster_reconnects.increment(1);
    }

    pub fn relay_received(&self) {
        self.relays_in.increment(1);
    }

    pub fn relay_sent(&self) {
        self.relays_out.increment(1);
    }

    pub fn relay_lost(&self) {
        self.relays_lost.increment(1);
    }
}

impl Default for Metrics {
    /// The series of the standard router's message types.
    fn default() -> Self {
        Self::new(["echo", "auth", "join", "leave", "publish", "direct"])
    }
}
// ANCHOR_END: recording
