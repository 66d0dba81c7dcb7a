//! One handler per message type. Each reads its own typed request (from `protocol`) and does
//! its one job; they are registered with the router in [`crate::app::standard_chain`].

mod auth;
mod direct;
mod echo;
mod rooms;

pub use auth::{Authenticate, Tokens};
pub use direct::SendDirect;
pub use echo::Echo;
pub use rooms::{Join, Leave, Publish};
