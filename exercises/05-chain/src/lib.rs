//! Exercise 05: a link and a handler of your own for chapter 05's chain. Edit
//! `src/exercise.rs`; see the README.
//!
//! The tests plug what you write into a real chapter 05 server, the way `standard_chain` does:
//!
//! ```text
//! Chain::new(Router::new().route(Echo).route(Join).route(Members))   // one line per type
//!     .with(Lifecycle)
//!     .with(MaxMessageSize::new(256))                                 // one line per link
//! ```

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;

pub use exercise::{MaxMessageSize, Members, MembersRequest};
