//! Provided tests for exercise 08: run them with `cargo test -p ex08-read-on-demand`.
//!
//! Most tests read through a [`Scripted`] reader: it plays a script of what each read finds
//! (these bytes, "nothing yet", an error; then the end of the stream), and a [`Counted`] around
//! it counts how often the adapter reads it, as a system-call counter would. The others read a
//! real loopback `TcpStream`. Several decode real WebSocket frames through tokio-tungstenite
//! with a read buffer of 16 bytes (chapter 08's sessions use 256): the frames arrive
//! coalesced (many in one read) and fragmented (one frame over many reads), as they do from a
//! real network. A test that could wait forever on a wrong answer has a deadline.

use std::{
    collections::VecDeque,
    io,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use ex08_read_on_demand::{BURST, OnDemand};
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    time::timeout,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message,
        protocol::{
            Role, WebSocketConfig,
            frame::{
                Frame,
                coding::{Data, OpCode},
            },
        },
    },
};

// ---------------------------------------------------------------------------------------------
// The scripted reader, the counter, and helpers.

/// What one read of a [`Scripted`] reader finds.
enum Step {
    /// These bytes are readable. A read with less room takes what fits and leaves the rest for
    /// the next read, as a socket does.
    Bytes(Vec<u8>),
    /// Nothing readable yet: the read returns `Pending`, and wakes the task at once, as if the
    /// next bytes had just arrived.
    NotYet,
    /// The read fails with this error.
    Fail(io::ErrorKind),
}

/// A reader that plays a script; after the last step, every read finds the end of the stream.
/// Writes are accepted and thrown away.
struct Scripted {
    steps: VecDeque<Step>,
}

impl AsyncRead for Scripted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let steps = &mut self.get_mut().steps;
        match steps.front_mut() {
            None => Poll::Ready(Ok(())),
            Some(Step::Bytes(bytes)) => {
                let now = bytes.len().min(buf.remaining());
                buf.put_slice(&bytes[..now]);
                bytes.drain(..now);
                if bytes.is_empty() {
                    steps.pop_front();
                }
                Poll::Ready(Ok(()))
            }
            Some(Step::NotYet) => {
                steps.pop_front();
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(&mut Step::Fail(kind)) => {
                steps.pop_front();
                Poll::Ready(Err(kind.into()))
            }
        }
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Counts the reads made of the reader it wraps.
struct Counted<R> {
    inner: R,
    /// Reads that came back with something (bytes, the end of the stream or an error): on a
    /// socket, the system calls.
    reads: usize,
    /// Every call of `poll_read`, `Pending` ones included.
    polls: usize,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Self {
        Self { inner, reads: 0, polls: 0 }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.polls += 1;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if poll.is_ready() {
            this.reads += 1;
        }
        poll
    }
}

impl<R: AsyncWrite + Unpin> AsyncWrite for Counted<R> {
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

type ScriptedReader = OnDemand<Counted<Scripted>>;

fn scripted(steps: Vec<Step>) -> ScriptedReader {
    OnDemand::new(Counted::new(Scripted { steps: steps.into() }))
}

/// `len` bytes that do not repeat with any short period, so that a byte out of place shows.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Compares two byte strings without printing hundreds of kilobytes when they differ.
#[track_caller]
fn assert_same_bytes(received: &[u8], sent: &[u8], context: &str) {
    if let Some(at) = received.iter().zip(sent).position(|(r, s)| r != s) {
        panic!("{context}: byte {at} differs (bytes out of order, or some lost)");
    }
    assert_eq!(received.len(), sent.len(), "{context}: received {} of the bytes", received.len());
}

/// Fails unless the adapter owns no read buffer, as it must whenever nothing is pending.
#[track_caller]
fn assert_holds_nothing<R>(reader: &OnDemand<R>, when: &str) {
    assert_eq!(reader.pending_bytes(), 0, "{when}: no bytes should be pending");
    assert_eq!(
        reader.held_bytes(),
        0,
        "{when}: nothing is pending, yet the adapter holds a buffer: free it as soon as it is \
         drained (`Vec::new()`; `clear()` keeps its capacity), not at the next burst"
    );
}

/// Polls the adapter once with `room` bytes of buffer: what it filled if `Ready`.
#[track_caller]
fn poll_once(reader: &mut ScriptedReader, room: usize) -> Poll<io::Result<Vec<u8>>> {
    let mut space = vec![0; room];
    let mut buf = ReadBuf::new(&mut space);
    let poll = Pin::new(&mut *reader).poll_read(&mut Context::from_waker(Waker::noop()), &mut buf);
    match poll {
        Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().to_vec())),
        Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
        Poll::Pending => {
            assert!(
                buf.filled().is_empty(),
                "returned Pending with {} bytes in the buffer: a caller ignores them, so they \
                 are lost",
                buf.filled().len()
            );
            Poll::Pending
        }
    }
}

#[track_caller]
fn expect_bytes(reader: &mut ScriptedReader, room: usize) -> Vec<u8> {
    match poll_once(reader, room) {
        Poll::Ready(Ok(bytes)) => bytes,
        Poll::Ready(Err(error)) => panic!("unexpected error {error}"),
        Poll::Pending => panic!("returned Pending, but bytes were readable or pending"),
    }
}

/// Reads to the end of the stream, `size` bytes at a time.
async fn read_to_end_by<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> Vec<u8> {
    let mut chunk = vec![0; size];
    let mut received = Vec::new();
    loop {
        let read = reader.read(&mut chunk).await.expect("no error was scripted");
        if read == 0 {
            return received;
        }
        received.extend_from_slice(&chunk[..read]);
    }
}

/// Fails the test if `future` has not finished in 10 s: over a socket whose peer stays open, a
/// lost byte would make a read wait forever.
async fn before_deadline<F: Future>(what: &str, future: F) -> F::Output {
    timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("waited 10 s for {what}: were bytes lost?"))
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, peer)
}

// ---------------------------------------------------------------------------------------------
// Bytes: complete, in order, and read in bursts.

#[tokio::test]
async fn small_reads_are_served_from_one_burst() {
    let sent = pattern(10_000, 1);
    let mut reader = scripted(vec![Step::Bytes(sent.clone())]);

    let mut chunk = [0; 14]; // tungstenite's smallest read: one frame header
    assert_eq!(reader.read(&mut chunk).await.unwrap(), 14, "a 14-byte read of 10,000 bytes");
    assert_eq!(
        reader.pending_bytes(),
        sent.len() - 14,
        "the first read must take everything readable, in one burst, and keep what did not fit"
    );
    let mut received = chunk.to_vec();
    received.extend(read_to_end_by(&mut reader, 14).await);

    assert_same_bytes(&received, &sent, "14-byte reads");
    assert_eq!(
        reader.get_ref().reads,
        2,
        "one read of the inner reader for the burst and one for the end of the stream, not one \
         per 14-byte read"
    );
}

#[tokio::test]
async fn bytes_come_out_complete_and_in_order_whatever_the_read_size() {
    for size in [1, 2, 14, 100, 4096, BURST, 3 * BURST] {
        // Arrivals of every kind: tiny, larger than a burst, back to back, and after a wait.
        let arrivals = [20, 3 * BURST + 17, 1, 5_000, 33, 70_000];
        let sent: Vec<Vec<u8>> =
            arrivals.iter().enumerate().map(|(i, &len)| pattern(len, i as u32 * 1_000)).collect();
        let mut steps = Vec::new();
        for (i, bytes) in sent.iter().enumerate() {
            steps.push(Step::Bytes(bytes.clone()));
            if i % 2 == 0 {
                steps.push(Step::NotYet);
            }
        }
        let mut reader = scripted(steps);

        let received = read_to_end_by(&mut reader, size).await;

        assert_same_bytes(&received, &sent.concat(), &format!("reads of {size} bytes"));
        assert_holds_nothing(&reader, &format!("reads of {size} bytes, at the end"));
    }
}

#[tokio::test]
async fn while_bytes_wait_the_inner_reader_is_not_read() {
    // Two arrivals, readable back to back: the second must not overtake what is left of the
    // first, and reading it early would only make the adapter hold more.
    let first = pattern(100, 1);
    let second = pattern(100, 2);
    let mut reader = scripted(vec![Step::Bytes(first.clone()), Step::Bytes(second.clone())]);

    let mut received = expect_bytes(&mut reader, 14);
    assert_eq!(reader.get_ref().polls, 1, "the first read reads the inner reader once");
    while reader.pending_bytes() > 0 {
        let waiting = reader.pending_bytes();
        received.extend(expect_bytes(&mut reader, 14));
        assert_eq!(
            reader.get_ref().polls,
            1,
            "read the inner reader while {waiting} bytes were pending: serve those first"
        );
    }
    assert_same_bytes(&received, &first, "the first arrival");
    received.extend(expect_bytes(&mut reader, 14));
    assert_eq!(reader.get_ref().polls, 2, "nothing pending any more: one read of the inner reader");
    received.extend(read_to_end_by(&mut reader, 14).await);
    assert_same_bytes(&received, &[first, second].concat(), "both arrivals");
}

// ---------------------------------------------------------------------------------------------
// Memory: a buffer only while bytes wait.

#[tokio::test]
async fn a_reader_holds_a_buffer_only_while_bytes_wait() {
    let mut reader = scripted(vec![
        Step::Bytes(pattern(100, 1)),
        Step::NotYet,
        Step::Bytes(pattern(3_000, 2)),
        Step::NotYet,
    ]);
    assert_holds_nothing(&reader, "a new reader");

    assert_eq!(expect_bytes(&mut reader, 4096).len(), 100, "all 100 bytes fit in 4096");
    assert_holds_nothing(&reader, "everything fit in the caller's buffer");
    assert!(poll_once(&mut reader, 4096).is_pending(), "the inner reader's Pending passes through");
    assert_holds_nothing(&reader, "waiting for bytes");

    assert_eq!(expect_bytes(&mut reader, 14).len(), 14, "a 14-byte read of 3,000 bytes");
    assert_eq!(
        reader.pending_bytes(),
        3_000 - 14,
        "the burst read all 3,000 bytes: the 2,986 the caller did not take must be kept"
    );
    assert!(
        reader.held_bytes() < BURST / 4,
        "holds {} bytes for the {} that wait: keep the leftover, not a burst-sized buffer per \
         connection (the burst belongs in the thread's scratch buffer)",
        reader.held_bytes(),
        reader.pending_bytes()
    );

    while reader.pending_bytes() > 0 {
        expect_bytes(&mut reader, 14);
    }
    assert_holds_nothing(&reader, "the 2,986 bytes taken");
    assert!(poll_once(&mut reader, 14).is_pending(), "the inner reader's Pending passes through");
    assert_holds_nothing(&reader, "idle");
    assert_eq!(expect_bytes(&mut reader, 14), b"", "the end of the stream");
    assert_holds_nothing(&reader, "at the end of the stream");
}

// ---------------------------------------------------------------------------------------------
// Pending, the end of the stream and errors pass through.

#[tokio::test]
async fn pending_passes_through_and_loses_no_pending_bytes() {
    let first = pattern(20, 1);
    let second = pattern(10, 2);
    let mut reader =
        scripted(vec![Step::Bytes(first.clone()), Step::NotYet, Step::Bytes(second.clone())]);

    assert_eq!(expect_bytes(&mut reader, 14), first[..14], "the first 14 of 20 bytes");
    assert_eq!(
        expect_bytes(&mut reader, 14),
        first[14..],
        "the 6 pending bytes, and only those, even though the caller had room for more"
    );
    assert!(poll_once(&mut reader, 14).is_pending(), "the inner reader's Pending passes through");
    assert_eq!(expect_bytes(&mut reader, 14), second, "after the Pending, the next arrival");
    assert_eq!(expect_bytes(&mut reader, 14), b"", "then the end of the stream");
}

#[tokio::test]
async fn end_of_stream_passes_through_once_the_pending_bytes_are_taken() {
    let sent = pattern(20, 1);
    let mut reader = scripted(vec![Step::Bytes(sent.clone())]);

    let mut received = expect_bytes(&mut reader, 14);
    received.extend(expect_bytes(&mut reader, 14));
    assert_same_bytes(&received, &sent, "before the end of the stream");
    for _ in 0..3 {
        assert_eq!(expect_bytes(&mut reader, 14), b"", "the end of the stream, every time");
    }
    assert_holds_nothing(&reader, "at the end of the stream");
}

#[tokio::test]
async fn errors_pass_through_after_the_pending_bytes() {
    let first = pattern(20, 1);
    let second = pattern(5, 2);
    let mut reader = scripted(vec![
        Step::Bytes(first.clone()),
        Step::Fail(io::ErrorKind::ConnectionReset),
        Step::Bytes(second.clone()),
    ]);

    assert_eq!(expect_bytes(&mut reader, 14), first[..14], "the first 14 of 20 bytes");
    assert_eq!(expect_bytes(&mut reader, 14), first[14..], "the bytes read before the error first");
    match poll_once(&mut reader, 14) {
        Poll::Ready(Err(error)) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("the inner reader's error must pass through as it is, got {other:?}"),
    }
    assert_holds_nothing(&reader, "after the error");
    // The adapter decides nothing about an error: the next read reads again.
    assert_eq!(expect_bytes(&mut reader, 14), second, "what the inner reader found next");
    assert_eq!(expect_bytes(&mut reader, 14), b"", "then the end of the stream");
}

// ---------------------------------------------------------------------------------------------
// A real socket.

#[tokio::test]
async fn over_tcp_small_reads_come_from_few_system_calls() {
    let (server, mut peer) = tcp_pair().await;
    let mut reader = OnDemand::new(Counted::new(server));
    let sent = pattern(10_000, 7);
    peer.write_all(&sent).await.unwrap();
    peer.shutdown().await.unwrap();

    let received = read_to_end_by(&mut reader, 14).await;

    assert_same_bytes(&received, &sent, "over TCP, 14 bytes at a time");
    let reads = reader.get_ref().reads;
    // On loopback the 10,000 bytes are usually there at once: one burst and the end of the
    // stream. The margin is for a kernel that delivers them in a few pieces; one read per
    // 14-byte read would be 715.
    assert!(reads <= 10, "{reads} reads of the socket for 10,000 bytes: read in bursts");
    assert_holds_nothing(&reader, "at the end of the stream");
}

#[tokio::test]
async fn an_idle_tcp_connection_holds_no_buffer() {
    let (server, mut peer) = tcp_pair().await;
    let mut reader = OnDemand::new(server);
    let first = pattern(100, 1);
    peer.write_all(&first).await.unwrap();

    let mut chunk = [0; 14];
    let mut received = Vec::new();
    before_deadline("the first 100 bytes", async {
        while received.len() < first.len() {
            let read = reader.read(&mut chunk).await.unwrap();
            assert!(read > 0, "the stream ended early");
            received.extend_from_slice(&chunk[..read]);
            let held = reader.held_bytes();
            assert!(held < BURST / 4, "holds {held} bytes: a burst-sized buffer per connection");
        }
    })
    .await;
    assert_same_bytes(&received, &first, "the first message");

    // The peer says nothing now: the read waits, and the connection holds no buffer meanwhile.
    let idle = timeout(Duration::from_millis(50), reader.read(&mut chunk)).await;
    assert!(idle.is_err(), "nothing was sent, so the read must wait");
    assert_holds_nothing(&reader, "an idle connection");

    let second = pattern(30, 2);
    peer.write_all(&second).await.unwrap();
    drop(peer);
    let received = before_deadline("the end of the stream", read_to_end_by(&mut reader, 14)).await;
    assert_same_bytes(&received, &second, "after the idle time");
}

// ---------------------------------------------------------------------------------------------
// WebSocket frames, decoded by tokio-tungstenite over the adapter.

/// What the peer sends: text and binary messages across the frame-length encodings (7-bit,
/// 16-bit, 64-bit) and larger than a burst.
fn messages() -> Vec<Message> {
    [1, 13, 0, 125, 126, 127, 1_000, 4_000, 65_535, 65_536, 70_000, 2, 300]
        .into_iter()
        .enumerate()
        .map(|(i, len)| {
            let bytes = pattern(len, i as u32 * 77);
            if i % 2 == 0 {
                Message::text(bytes.iter().map(|&b| char::from(b'a' + b % 26)).collect::<String>())
            } else {
                Message::binary(bytes)
            }
        })
        .collect()
}

/// The frames of `messages` as a client sends them: masked, one frame each.
fn client_wire(messages: &[Message]) -> Vec<u8> {
    let mut wire = Vec::new();
    for message in messages {
        let (payload, data) = match message {
            Message::Text(text) => (text.as_bytes().to_vec(), Data::Text),
            Message::Binary(bytes) => (bytes.to_vec(), Data::Binary),
            _ => unreachable!("only data messages are sent"),
        };
        let mut frame = Frame::message(payload, OpCode::Data(data), true);
        frame.header_mut().mask = Some([0x37, 0xfa, 0x21, 0x3d]);
        frame.format(&mut wire).unwrap();
    }
    wire
}

/// tungstenite with a 16-byte read buffer: it reads at most 16 bytes at a time, so every
/// frame takes many reads of the adapter.
fn tiny_read_buffer() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(16)
}

async fn expect_messages<S>(socket: &mut WebSocketStream<S>, expected: &[Message])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for (i, want) in expected.iter().enumerate() {
        let got = socket
            .next()
            .await
            .unwrap_or_else(|| panic!("the stream ended before message {i}"))
            .unwrap_or_else(|error| panic!("message {i} did not decode: {error}"));
        assert!(&got == want, "message {i} ({} bytes) came out different", want.len());
    }
}

#[tokio::test]
async fn websocket_frames_coalesced_in_bursts_decode() {
    // Every frame readable at once, as after a busy client's burst: each read of the inner
    // reader returns a whole burst holding many frames, and a frame may straddle two bursts.
    let sent = messages();
    let wire = client_wire(&sent);
    let mut socket = WebSocketStream::from_raw_socket(
        scripted(vec![Step::Bytes(wire.clone())]),
        Role::Server,
        Some(tiny_read_buffer()),
    )
    .await;

    expect_messages(&mut socket, &sent).await;

    let reader = socket.get_ref();
    assert_eq!(
        reader.get_ref().reads,
        wire.len().div_ceil(BURST),
        "one read of the inner reader per {BURST}-byte burst of the {} bytes, however small \
         tungstenite's reads",
        wire.len()
    );
    assert_holds_nothing(reader, "every message decoded");
}

#[tokio::test]
async fn websocket_frames_that_arrive_in_pieces_decode() {
    // A slow network: the frames arrive in pieces of every size, cut anywhere (inside a header,
    // inside a mask, inside a payload), with a wait between pieces.
    let sent = messages();
    let wire = client_wire(&sent);
    let cuts = [1, 2, 3, 5, 8, 13, 21, 700, 9_000];
    let mut steps = Vec::new();
    let mut pieces = 0;
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(cuts[pieces % cuts.len()].min(rest.len()));
        steps.push(Step::Bytes(piece.to_vec()));
        steps.push(Step::NotYet);
        pieces += 1;
        rest = after;
    }
    let mut socket =
        WebSocketStream::from_raw_socket(scripted(steps), Role::Server, Some(tiny_read_buffer()))
            .await;

    expect_messages(&mut socket, &sent).await;

    let reader = socket.get_ref();
    assert_eq!(
        reader.get_ref().reads,
        pieces,
        "one read of the inner reader per piece that arrived, however small tungstenite's reads"
    );
    assert_holds_nothing(reader, "every message decoded");
}

#[tokio::test]
async fn websocket_messages_from_a_real_client_over_tcp() {
    let (server, peer) = tcp_pair().await;
    let sent: Vec<Message> = (0..20).flat_map(|_| messages()).collect();
    let client = tokio::spawn({
        let sent = sent.clone();
        async move {
            let mut client = WebSocketStream::from_raw_socket(peer, Role::Client, None).await;
            for message in sent {
                // `feed` queues without flushing: the frames leave coalesced.
                client.feed(message).await.unwrap();
            }
            client.flush().await.unwrap();
            client // kept open until the server has read everything
        }
    });
    // Two counters: tungstenite's reads of the adapter, and the adapter's reads of the socket.
    let mut socket = WebSocketStream::from_raw_socket(
        Counted::new(OnDemand::new(Counted::new(server))),
        Role::Server,
        Some(tiny_read_buffer()),
    )
    .await;

    // The client keeps its connection open, so a frame that never completes would wait forever.
    before_deadline("every message", expect_messages(&mut socket, &sent)).await;

    let asked = socket.get_ref().reads;
    let system_calls = socket.get_ref().inner.get_ref().reads;
    assert!(
        system_calls * 16 <= asked,
        "{system_calls} reads of the socket for {asked} reads by tungstenite: each burst must \
         serve many of tungstenite's small reads"
    );
    drop(client.await.unwrap());
}
