//! What the chapters' and exercises' tests use to drive a real server: never a server's own
//! dependency, only a dev-dependency, so no server binary links it.
//!
//! A WebSocket test client (`client`), a raw peer for what no client library would send
//! (`raw`), a one-request HTTP client (`http`), log capture (`capture`), the layer-table check every chapter's `tests/layers.rs` runs
//! (`layers`) and the programs a test
//! runs beside its servers (`helper_process`).

pub mod capture;
pub mod client;
#[cfg(unix)]
pub mod helper_process;
pub mod http;
pub mod layers;
pub mod raw;
