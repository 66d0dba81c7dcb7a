//! Chapter 08: high-concurrency tuning, and the complete single-node server. Chapter 07's
//! server, made cheap per connection and per message: reading on demand (`socket.rs`), small
//! buffers and futures, queues that allocate only when used, metric handles, a one-pass
//! decoder, spread heartbeats, a chosen allocator and runtime; each step measured.
//!
//! ```text
//! transport    accept loop, HTTP upgrade, limits at the door   transport.rs
//!    |         the operator's listener: metrics, demo page     admin.rs
//! session      one task per connection: frames in/out,         session.rs
//!    |         outbound queue, registration, heartbeat         heartbeat.rs
//! application  the chain: middleware, router, handlers         app.rs, chain.rs,
//!    |         over the registry and per-session state;        middleware/, handlers/,
//!    |         the options and the metrics                     registry.rs, state.rs,
//!    |                                                         config.rs, metrics.rs
//! protocol     the vocabulary every layer speaks: text frame   protocol.rs
//!              <-> envelope, typed requests, error codes
//! socket       beside the protocol: the bytes under the        socket.rs
//!              WebSocket, read on demand
//! ```
//! Dependencies point one way: down; no layer uses one above it. Two leaves at the bottom use
//! nothing from the crate: the protocol, the vocabulary the layers above it speak, and the
//! socket, the bytes under the WebSocket, which the transport makes and the session reads. The
//! socket sits beside the protocol, not in the transport, so that the session still only looks
//! down; and the application may not use it: it never sees a socket or a frame.
//!
//! The same rule as a table, `layer: modules -> layers it may use` (a layer's modules may also
//! use each other), which `tests/layers.rs` checks against every `crate::` path in `src/`:
//!
//! ```text
//! transport:   transport admin -> session application protocol socket
//! session:     session heartbeat -> application protocol socket
//! application: app chain config handlers metrics middleware registry state -> protocol
//! protocol:    protocol -> nothing
//! socket:      socket -> nothing
//! ```
//! `main.rs`, which assembles the server, and `#[cfg(test)]` code may use any layer.

pub mod admin;
pub mod app;
pub mod chain;
pub mod config;
pub mod handlers;
pub mod heartbeat;
pub mod metrics;
pub mod middleware;
pub mod protocol;
pub mod registry;
pub mod session;
pub mod socket;
pub mod state;
pub mod transport;

pub use config::Config;
pub use registry::Registry;
pub use transport::serve;
