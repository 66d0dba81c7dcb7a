//! The benchmark tools: nothing a server runs, and nothing a server's binary links.
//!
//! `load` is the load generator as a library: the `wsload` binary parses its options and calls
//! it, and `tcp-echo`'s tests drive it in-process. The binaries beside it are `wsload`,
//! `tcp-echo` (the ceiling row: a plain TCP echo server) and `bench-compare` (every chapter
//! under the same load, written as the book's benchmarks page). This is the only crate that
//! depends on `hdrhistogram` and `plotters`.

pub mod load;
