//! Chapter 05: the handler chain. Every message passes an ordered chain of middleware, then a
//! router hands it to the handler for its type; a trace id follows it through logs and replies.
//!
//! ```text
//! transport    accept loop, HTTP upgrade                       transport.rs
//!    |
//! session      one task per connection: frames in/out,         session.rs
//!    |         outbound queue, registration, heartbeat         heartbeat.rs
//! application  the chain: middleware, router, handlers         app.rs, chain.rs,
//!    |         over the registry and per-session state;        middleware/, handlers/,
//!    |         the options                                     registry.rs, state.rs,
//!    |                                                         config.rs
//! protocol     the vocabulary every layer speaks: text frame   protocol.rs
//!              <-> envelope, typed requests, error codes
//! ```
//! Dependencies point one way: down. A layer may use any layer below it, never one above. The
//! protocol is at the bottom because it is the vocabulary the layers above it speak; it uses
//! nothing from the crate. The application never sees a socket or a frame.
//!
//! The same rule as a table, `layer: modules -> layers it may use` (a layer's modules may also
//! use each other), which `tests/layers.rs` checks against every `crate::` path in `src/`:
//!
//! ```text
//! transport:   transport -> session application protocol
//! session:     session heartbeat -> application protocol
//! application: app chain config handlers middleware registry state -> protocol
//! protocol:    protocol -> nothing
//! ```
//! `main.rs`, which assembles the server, and `#[cfg(test)]` code may use any layer.

pub mod app;
pub mod chain;
pub mod config;
pub mod handlers;
pub mod heartbeat;
pub mod middleware;
pub mod protocol;
pub mod registry;
pub mod session;
pub mod state;
pub mod transport;

pub use config::Config;
pub use registry::Registry;
pub use transport::serve;
