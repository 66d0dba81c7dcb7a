//! Plumbing shared by every chapter: nothing here is a lesson.
//!
//! Command-line options, log setup, the shutdown signal, the WebSocket test client, the
//! programs tests run beside a server (`helper_process`) and the load generator (`load`, the
//! `wsload` binary) live here once, so each chapter crate holds only the idea it teaches.

pub mod capture;
pub mod client;
pub mod config;
#[cfg(unix)]
pub mod helper_process;
pub mod http;
pub mod load;
pub mod logging;
pub mod raw;
pub mod shutdown;
