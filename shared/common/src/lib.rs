//! What every chapter's server uses but no chapter teaches: nothing here is a lesson.
//!
//! The options every server accepts, its log setup and its shutdown signal live here once, so
//! each chapter crate holds only the idea it teaches. It is the one crate of `shared/` that a
//! server's binary links: the test client is in `test-support`, a dev-dependency, and the load
//! generator in `bench-tools`.

pub mod config;
pub mod logging;
pub mod shutdown;
