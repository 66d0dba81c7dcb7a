//! The socket under every session: a `TcpStream` that holds a read buffer only while bytes are
//! waiting, the way gobwas/ws keeps a million idle connections in Go.
//!
//! tungstenite gives each connection a read buffer of `read_buffer_size` for its whole life,
//! and that size also caps every read. So we give tungstenite a small one (`--read-buffer`)
//! and read here, in bursts of up to 64 KiB, into a scratch buffer shared by every session of
//! the thread. What tungstenite does not take at once is copied into a buffer of the
//! connection's own, freed as soon as tungstenite has drained it. An idle connection holds no
//! burst buffer at all; a busy one makes one system call per burst, not per small read.

// ANCHOR: socket
use std::{
    cell::RefCell,
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

// ANCHOR: socket_burst
/// The largest read one system call makes.
const BURST: usize = 64 * 1024;

thread_local! {
    /// Used only inside one `poll_read`, never across an `.await`: one per runtime thread.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; BURST].into_boxed_slice());
}

#[derive(Debug)]
pub struct Socket {
    stream: TcpStream,
    /// Read from the stream, not yet taken by tungstenite. Empty (and owning nothing) when idle.
    pending: Bytes,
    /// `false`: read straight into tungstenite's buffer (the measured "before").
    on_demand: bool,
}

impl Socket {
    pub fn new(stream: TcpStream, on_demand: bool) -> Self {
        Self { stream, pending: Bytes::new(), on_demand }
    }

    /// One read system call into the scratch buffer, once the stream is readable: what fits
    /// goes to `buf`, the rest is kept.
    fn poll_burst(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        SCRATCH.with_borrow_mut(|scratch| {
            // The stream's own `poll_read`, not `try_read`: when a read comes back short, it
            // knows the socket is drained and waits for epoll, instead of making one more
            // system call next time only to hear "would block".
            let mut burst = ReadBuf::new(scratch);
            ready!(Pin::new(&mut self.stream).poll_read(cx, &mut burst))?;
            let read = burst.filled();
            let now = read.len().min(buf.remaining());
            buf.put_slice(&read[..now]);
            if now < read.len() {
                self.pending = Bytes::copy_from_slice(&read[now..]);
            }
            Poll::Ready(Ok(()))
        })
    }
}
// ANCHOR_END: socket_burst

// ANCHOR: socket_read
impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.on_demand {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        if this.pending.is_empty() {
            // A connection with nothing to read waits here holding no buffer.
            return this.poll_burst(cx, buf);
        }
        let now = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..now]);
        this.pending.advance(now);
        if this.pending.is_empty() {
            this.pending = Bytes::new(); // drained: free the allocation now, not at the next burst
        }
        Poll::Ready(Ok(()))
    }
}
// ANCHOR_END: socket_read
// ANCHOR_END: socket

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    async fn pair(on_demand: bool) -> (Socket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        (Socket::new(stream, on_demand), peer)
    }

    #[tokio::test]
    async fn small_reads_are_served_from_one_burst_in_order() {
        let (mut socket, mut peer) = pair(true).await;
        let sent: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        peer.write_all(&sent).await.unwrap();
        peer.shutdown().await.unwrap();

        let mut chunk = [0; 14]; // tungstenite's smallest read: one frame header
        let read = socket.read(&mut chunk).await.unwrap();
        assert_eq!(read, 14);
        assert_eq!(socket.pending.len(), sent.len() - 14, "one burst read everything waiting");
        let mut received = chunk.to_vec();
        loop {
            let read = socket.read(&mut chunk).await.unwrap();
            if read == 0 {
                break;
            }
            received.extend_from_slice(&chunk[..read]);
        }
        assert_eq!(received, sent);
        assert!(socket.pending.is_empty());
    }

    #[tokio::test]
    async fn without_on_demand_reads_go_straight_to_the_stream() {
        let (mut socket, mut peer) = pair(false).await;
        peer.write_all(b"hello").await.unwrap();
        let mut chunk = [0; 2];
        socket.read_exact(&mut chunk).await.unwrap();
        assert_eq!(&chunk, b"he");
        assert!(socket.pending.is_empty(), "nothing is buffered outside the stream");
    }
}
