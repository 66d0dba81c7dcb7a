// MISTAKE: keeps the pending buffer's allocation after draining it (`clear()`, not `Vec::new()`).
// Every connection that ever had a leftover holds that much memory for as long as it is idle.

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
        if this.taken == this.pending.len() {
            return this.poll_burst(cx, buf);
        }
        let waiting = &this.pending[this.taken..];
        let now = waiting.len().min(buf.remaining());
        buf.put_slice(&waiting[..now]);
        this.taken += now;
        if this.taken == this.pending.len() {
            // "Reuse the allocation for the next leftover."
            this.pending.clear();
            this.taken = 0;
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
            self.pending.extend_from_slice(&read[now..]);
            Poll::Ready(Ok(()))
        })
    }
}
