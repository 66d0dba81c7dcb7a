//! Exercise 06: a link that counts who is talking to the server, and says so in the log. Edit
//! `src/exercise.rs`; see the README.
//!
//! The tests put your link right after the lifecycle link, so it sees every message that
//! decoded, before the authentication check can refuse it:
//!
//! ```text
//! Chain::new(router)
//!     .with(Lifecycle)
//!     .with(ClassifyAuth)                       // yours
//!     .with(RequireAuth::allowing(["echo"]))
//!     .with(Validate)
//! ```

/// The counter your link increments, once per message, with three labels:
///
/// | label | values |
/// | --- | --- |
/// | `auth` | `anonymous`, `authenticated`: the session's state when the message arrived |
/// | `type` | the message type if a handler serves it, else `unknown` |
/// | `outcome` | `ok`, `rejected`: what the rest of the chain answered |
pub const MESSAGES_BY_AUTH: &str = "ws_messages_by_auth_total";

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;

pub use exercise::ClassifyAuth;
