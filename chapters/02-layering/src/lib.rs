//! Chapter 02: the echo server of chapter 01, cut into four layers.
//!
//! ```text
//! transport    accept loop, HTTP upgrade                       transport.rs
//!    |
//! session      one task per connection: frames in/out          session.rs
//!    |
//! application  what a message does                             application.rs
//!    |
//! protocol     the vocabulary every layer speaks: text frame   protocol.rs
//!              <-> typed message (JSON), the error codes
//! ```
//! Dependencies point one way: down. A layer may use any layer below it, never one above: the
//! transport hands each connection to the session, which decodes a frame with the protocol and
//! asks the application for the reply. The protocol is at the bottom because it is the
//! vocabulary the layers above it speak; it uses nothing from the crate. The application never
//! sees a socket or a frame.
//!
//! The same rule as a table, `layer: modules -> layers it may use` (a layer's modules may also
//! use each other), which `tests/layers.rs` checks against every `crate::` path in `src/`:
//!
//! ```text
//! transport:   transport -> session application protocol
//! session:     session -> application protocol
//! application: application -> protocol
//! protocol:    protocol -> nothing
//! ```
//! `main.rs`, which assembles the server, and `#[cfg(test)]` code may use any layer.

pub mod application;
pub mod protocol;
pub mod session;
pub mod transport;

pub use transport::serve;
