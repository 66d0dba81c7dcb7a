// MISTAKE: reads the inner reader even while bytes are pending (fresh bytes overtake older ones).
// It looks for fresh bytes on every call and serves the pending ones only when it found none.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
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
        let before = buf.filled().len();
        // Always look for fresh bytes first...
        let polled = with_scratch(|scratch| {
            let mut burst = ReadBuf::new(scratch);
            let poll = Pin::new(&mut this.inner).poll_read(cx, &mut burst);
            if let Poll::Ready(Ok(())) = poll {
                let read = burst.filled();
                let now = read.len().min(buf.remaining());
                buf.put_slice(&read[..now]);
                this.pending.extend_from_slice(&read[now..]);
            }
            poll
        });
        // ...and fall back on the pending ones when there were none.
        if buf.filled().len() == before && this.taken < this.pending.len() {
            let waiting = &this.pending[this.taken..];
            let now = waiting.len().min(buf.remaining());
            buf.put_slice(&waiting[..now]);
            this.taken += now;
            if this.taken == this.pending.len() {
                this.pending = Vec::new();
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        polled
    }
}
