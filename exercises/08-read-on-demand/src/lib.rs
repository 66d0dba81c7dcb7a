//! Exercise 08: read on demand. Write the read side of the adapter chapter 08 puts under every
//! session, so that an idle connection holds no read buffer and a busy one makes one read per
//! burst, not one per small read. Edit `src/exercise.rs`; see the README.
//!
//! Everything below is given: the [`OnDemand`] type, the thread's scratch buffer, the write
//! side, and read-only accessors the tests use. Your job is `poll_read`, in `src/exercise.rs`.
//!
//! The inner reader is any `AsyncRead`: a `TcpStream` in the chapter, a scripted reader in the
//! tests, which counts how often it is read and decides what each read returns.

use std::{
    cell::RefCell,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::AsyncWrite;

/// The most one read from the inner reader asks for: one system call's worth.
pub const BURST: usize = 64 * 1024;

thread_local! {
    /// One per runtime thread, shared by every connection the thread polls: a burst lands here
    /// and leaves within the same `poll_read`, never across an `.await`.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; BURST].into_boxed_slice());
}

/// Runs `read` with this thread's scratch buffer of [`BURST`] bytes. Whatever `read` leaves in
/// it belongs to the next caller on the thread, so copy out what you keep before returning.
pub fn with_scratch<T>(read: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with_borrow_mut(|scratch| read(scratch))
}

/// A reader that reads `inner` in bursts and holds a buffer of its own only while bytes from a
/// burst wait for the caller.
#[derive(Debug)]
pub struct OnDemand<R> {
    inner: R,
    /// Read from `inner`, not yet handed to the caller: the bytes `pending[taken..]`. While
    /// none wait it must own no allocation at all (`Vec::new()`), as when the adapter was made.
    pending: Vec<u8>,
    /// How much of `pending` the caller has already taken.
    taken: usize,
}

impl<R> OnDemand<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, pending: Vec::new(), taken: 0 }
    }

    /// The inner reader, for a test to look at (how often it was read, say).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The bytes read from the inner reader that wait for the caller.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len().saturating_sub(self.taken)
    }

    /// The heap this adapter holds for reading, in bytes: its pending buffer's capacity. What an
    /// idle connection costs here, so it must be 0 whenever nothing is pending.
    pub fn held_bytes(&self) -> usize {
        self.pending.capacity()
    }
}

// Writes go straight through: only reads are buffered.
impl<R: AsyncWrite + Unpin> AsyncWrite for OnDemand<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;
