//! Chapter 07: limits, back-pressure and shutdown. Chapter 06's server, made to survive its
//! clients: a connection cap, a handshake deadline, checks at the upgrade, size limits, a
//! bounded outbound queue with a slow-consumer policy, a close code for every violation, and a
//! graceful shutdown. Every limit is an option, and every refusal is logged and counted.
//!
//! ```text
//! transport    accept loop, HTTP upgrade, limits at the door   transport.rs
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
pub mod state;
pub mod transport;

pub use config::Config;
pub use registry::Registry;
pub use transport::serve;
