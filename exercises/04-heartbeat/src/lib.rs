//! Exercise 04: write the deadline logic of a heartbeat. Edit `src/exercise.rs`; see the README.
//!
//! A session owns one [`Heartbeat`] and polls [`Heartbeat::tick`] in its `select!` loop next to
//! the socket. At each tick the heartbeat says what to do: send a Ping, or close a peer that has
//! been silent too long. It never touches a socket, so it can be tested on tokio's paused clock.

/// What the session must do at a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// Send a WebSocket Ping with this payload (at most 125 bytes, like every control frame).
    Ping(Vec<u8>),
    /// Nothing heard from the peer for `timeout`: close the connection.
    TimedOut,
}

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;

pub use exercise::Heartbeat;
