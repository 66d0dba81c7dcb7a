// MISTAKE: tops the buffer up with a burst after the pending bytes, and returns its Pending.
// A caller ignores a buffer that comes back Pending, so the pending bytes already in it are lost.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, ReadBuf};

use crate::{OnDemand, with_scratch};

impl<R: AsyncRead + Unpin> AsyncRead for OnDemand<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.taken < this.pending.len() {
            let waiting = &this.pending[this.taken..];
            let now = waiting.len().min(buf.remaining());
            buf.put_slice(&waiting[..now]);
            this.taken += now;
            if this.taken == this.pending.len() {
                this.pending = Vec::new();
                this.taken = 0;
            }
        }
        // "Fill the rest of the caller's buffer while we are at it."
        if buf.remaining() > 0 && this.taken == this.pending.len() {
            return this.poll_burst(cx, buf);
        }
        Poll::Ready(Ok(()))
    }
}

impl<R: AsyncRead + Unpin> OnDemand<R> {
    fn poll_burst(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        with_scratch(|scratch| {
            let mut burst = ReadBuf::new(scratch);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut burst))?;
            let read = burst.filled();
            let now = read.len().min(buf.remaining());
            buf.put_slice(&read[..now]);
            self.pending = read[now..].to_vec();
            Poll::Ready(Ok(()))
        })
    }
}
