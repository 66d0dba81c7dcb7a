//! Chapter 02: the echo server of chapter 01, cut into four layers.
//!
//! ```text
//! transport    accept loop, HTTP upgrade                 transport.rs
//!    |
//! session      one task per connection: frames in/out    session.rs
//!    |
//! protocol     text frame <-> typed message (JSON)       protocol.rs
//!    |
//! application  what a message does                       application.rs
//! ```
//! Each layer calls only the layers below it. The application never sees a socket or a frame;
//! the protocol never sees a socket.

pub mod application;
pub mod protocol;
pub mod session;
pub mod transport;

pub use transport::serve;
