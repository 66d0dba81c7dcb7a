use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, ReadBuf};

use crate::{OnDemand, with_scratch};

impl<R: AsyncRead + Unpin> AsyncRead for OnDemand<R> {
    /// Hands the caller what is pending, if anything is; otherwise reads one burst of up to
    /// `BURST` bytes from the inner reader into the thread's scratch buffer, hands the caller
    /// what fits, and keeps the rest. Frees the pending buffer as soon as it is drained.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.taken == this.pending.len() {
            // A connection with nothing to read waits here holding no buffer.
            return this.poll_burst(cx, buf);
        }
        // Never read the inner reader while bytes wait: they came first.
        let waiting = &this.pending[this.taken..];
        let now = waiting.len().min(buf.remaining());
        buf.put_slice(&waiting[..now]);
        this.taken += now;
        if this.taken == this.pending.len() {
            // Drained: free the allocation now, not at the next burst (`clear` would keep it).
            this.pending = Vec::new();
            this.taken = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<R: AsyncRead + Unpin> OnDemand<R> {
    /// One read of the inner reader into the scratch buffer: what fits goes to `buf`, the rest
    /// is kept. Pending, the end of the stream and errors pass through with `buf` untouched.
    fn poll_burst(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        with_scratch(|scratch| {
            // The whole burst, not `buf.remaining()`: tungstenite asks for a few hundred bytes
            // at a time, and each of those would otherwise be a system call of its own.
            let mut burst = ReadBuf::new(scratch);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut burst))?;
            let read = burst.filled();
            let now = read.len().min(buf.remaining());
            buf.put_slice(&read[..now]);
            // Copy out only the leftover, into an allocation of its size: the scratch buffer
            // belongs to the next connection the thread polls.
            self.pending = read[now..].to_vec();
            Poll::Ready(Ok(()))
        })
    }
}
