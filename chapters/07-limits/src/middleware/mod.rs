//! The links of the chain. Each is one small type implementing [`Middleware`]; the order they
//! run in is set in one place, [`crate::app::standard_chain`].
//!
//! [`Middleware`]: crate::chain::Middleware

mod auth;
mod lifecycle;
mod rate_limit;
mod validate;

pub use auth::RequireAuth;
pub use lifecycle::Lifecycle;
pub use rate_limit::RateLimit;
pub use validate::{MAX_ID, MAX_ROOM_NAME, Validate};
