// MISTAKE: reads each burst into a 64 KiB buffer of the connection's own, not the thread's.
// Every connection with a few bytes waiting holds a whole burst, the cost the chapter removes.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, ReadBuf};

use crate::{BURST, OnDemand};

impl<R: AsyncRead + Unpin> AsyncRead for OnDemand<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.taken == this.pending.len() {
            // "No shared state: each connection reads into its own buffer."
            this.pending.resize(BURST, 0);
            let mut burst = ReadBuf::new(&mut this.pending);
            let poll = Pin::new(&mut this.inner).poll_read(cx, &mut burst);
            let read = burst.filled().len();
            if !matches!(poll, Poll::Ready(Ok(()))) || read == 0 {
                this.pending = Vec::new();
                return poll;
            }
            this.pending.truncate(read);
            this.taken = 0;
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
