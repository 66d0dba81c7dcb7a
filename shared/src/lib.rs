//! Plumbing shared by every chapter: nothing here is a lesson.
//!
//! Command-line options, log setup, the shutdown signal and the WebSocket test client live here
//! once, so each chapter crate holds only the idea it teaches.

pub mod capture;
pub mod client;
pub mod config;
pub mod http;
pub mod logging;
pub mod raw;
pub mod shutdown;
