//! Every metric this server exports, named and recorded in one place.
//!
//! Names follow Prometheus conventions: a `ws_` prefix, base units (`_seconds`, `_bytes`) and
//! `_total` on counters. Label values come from closed sets (`reason`, `code`, known message
//! types); a client-chosen string never becomes a label, or a client could make the server
//! grow a new series per request.
//!
//! Recording goes through the `metrics` facade: with no recorder installed it costs next to
//! nothing, and `main` installs the Prometheus one.

use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

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
// ANCHOR_END: names

// ANCHOR: buckets
/// The Prometheus recorder, with histogram buckets suited to each unit.
pub fn prometheus_recorder() -> PrometheusRecorder {
    const LATENCY: &[f64] = &[
        0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5,
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    ];
    const SIZE: &[f64] = &[64.0, 256.0, 1024.0, 4096.0, 16_384.0, 65_536.0, 262_144.0, 1_048_576.0];
    const LIFETIME: &[f64] = &[1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 21_600.0, 86_400.0];
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HANDLER_DURATION.into()), LATENCY)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(HEARTBEAT_RTT.into()), LATENCY))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(MESSAGE_SIZE.into()), SIZE))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(SESSION_DURATION.into()), LIFETIME))
        .expect("bucket lists are not empty");
    builder.build_recorder()
}
// ANCHOR_END: buckets

/// The HELP and unit of every series, for the scrape output.
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
}

// ANCHOR: recording
pub fn connection_opened() {
    counter!(CONNECTIONS_OPENED).increment(1);
}

/// `reason`: why the upgrade was refused (`overloaded`, `timeout`, `not_found`, ...).
pub fn handshake_failed(reason: &'static str) {
    counter!(HANDSHAKE_FAILURES, "reason" => reason).increment(1);
}

pub fn session_closed(reason: &'static str, lifetime: Duration) {
    counter!(CONNECTIONS_CLOSED, "reason" => reason).increment(1);
    histogram!(SESSION_DURATION).record(lifetime);
}

pub fn message_received(msg_type: &'static str, bytes: usize) {
    counter!(MESSAGES_RECEIVED, "type" => msg_type).increment(1);
    histogram!(MESSAGE_SIZE, "direction" => "in").record(bytes as f64);
}

pub fn message_sent(msg_type: &'static str, bytes: usize) {
    counter!(MESSAGES_SENT, "type" => msg_type).increment(1);
    histogram!(MESSAGE_SIZE, "direction" => "out").record(bytes as f64);
}

pub fn error_sent(code: &'static str) {
    counter!(ERRORS, "code" => code).increment(1);
}

pub fn handled(msg_type: &'static str, duration: Duration) {
    histogram!(HANDLER_DURATION, "type" => msg_type).record(duration);
}

pub fn heartbeat_rtt(rtt: Duration) {
    histogram!(HEARTBEAT_RTT).record(rtt);
}

pub fn heartbeat_timeout() {
    counter!(HEARTBEAT_TIMEOUTS).increment(1);
}

pub fn queue_dropped() {
    counter!(QUEUE_DROPS).increment(1);
}

pub fn population(sessions: usize, rooms: usize) {
    gauge!(SESSIONS_ACTIVE).set(sessions as f64);
    gauge!(ROOMS_ACTIVE).set(rooms as f64);
}
// ANCHOR_END: recording
