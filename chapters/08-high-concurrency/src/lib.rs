//! Chapter 08: high-concurrency tuning, and the complete single-node server. Chapter 07's
//! server, made cheap per connection and per message: reading on demand (`socket.rs`), small
//! buffers and futures, queues that allocate only when used, metric handles, a one-pass
//! decoder, spread heartbeats, a chosen allocator and runtime; each step measured.
//!
//! ```text
//! transport    accept loop, HTTP upgrade, the socket           transport.rs, socket.rs
//!    |
//! session      one task per connection: frames in/out,        session.rs
//!    |         outbound queue, registration, heartbeat         heartbeat.rs
//! protocol     text frame <-> envelope, typed requests         protocol.rs
//!    |
//! application  the chain: middleware, router, handlers         chain.rs, app.rs,
//!              over the registry and per-session state         middleware/, handlers/,
//!                                                              registry.rs, state.rs
//! ```
//! Each layer calls only the layers below it.

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
