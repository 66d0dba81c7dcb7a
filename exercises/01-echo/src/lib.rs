//! Exercise 01: write the echo loop yourself. Edit `src/exercise.rs`; see the README.

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;

pub use exercise::*;
