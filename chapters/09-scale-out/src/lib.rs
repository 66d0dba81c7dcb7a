//! Chapter 09: beyond one process. Chapter 08's server, run as several identical nodes that
//! share one room space through Redis pub/sub (`cluster.rs`); without `--redis-url` it is a
//! single node, exactly as chapter 08.
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
pub mod cluster;
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
