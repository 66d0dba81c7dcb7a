//! Chapter 04: heartbeats. The server pings every session and drops the ones that fall silent.
//!
//! ```text
//! transport    accept loop, HTTP upgrade                       transport.rs
//!    |
//! session      one task per connection: frames in/out,        session.rs
//!    |         its outbound queue, its registration,
//!    |         its heartbeat                                   heartbeat.rs
//! protocol     text frame <-> typed message (JSON)             protocol.rs
//!    |
//! application  what a message does: rooms, publish, direct     application.rs
//!              over the registry of sessions and rooms         registry.rs
//! ```
//! Each layer calls only the layers below it.

pub mod application;
pub mod config;
pub mod heartbeat;
pub mod protocol;
pub mod registry;
pub mod session;
pub mod transport;

pub use config::Config;
pub use registry::Registry;
pub use transport::serve;
