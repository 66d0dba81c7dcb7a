// MISTAKE: asks the inner reader for only `buf.remaining()` bytes (one read per small read).
// The bytes are right, but each of tungstenite's small reads is a system call of its own.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, ReadBuf};

use crate::{BURST, OnDemand, with_scratch};

impl<R: AsyncRead + Unpin> AsyncRead for OnDemand<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.taken == this.pending.len() {
            return this.poll_burst(cx, buf);
        }
        let waiting = &this.pending[this.taken..];
        let now = waiting.len().min(buf.remaining());
        buf.put_slice(&waiting[..now]);
        this.taken += now;
        if this.taken == this.pending.len() {
            this.pending = Vec::new();
            this.taken = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<R: AsyncRead + Unpin> OnDemand<R> {
    fn poll_burst(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        with_scratch(|scratch| {
            // "No need to read more than the caller can take."
            let room = buf.remaining().min(BURST);
            let mut burst = ReadBuf::new(&mut scratch[..room]);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut burst))?;
            let read = burst.filled();
            let now = read.len().min(buf.remaining());
            buf.put_slice(&read[..now]);
            self.pending = read[now..].to_vec();
            Poll::Ready(Ok(()))
        })
    }
}
