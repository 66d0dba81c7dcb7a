//! `--protocol tcp`: the client side of the benchmarks' ceiling row. No WebSocket at all: a
//! connection is a TCP stream, a request is the bytes a WebSocket client would write for the
//! same `raw` message (frame header, mask key, masked payload: `Wire::tcp_request`), and its
//! reply is as many bytes read back, which must be those same bytes. Against `tcp-echo` that
//! is what the kernel, the runtime and this client cost on their own; a WebSocket row pays
//! that plus its layers, so the gap between the two is the price of the layers.
//!
//! It mirrors the WebSocket paths of `idle`, `echo` (closed loop), `broadcast` and `churn`,
//! with the same counters and error kinds, so the summaries compare field for field. A plain
//! TCP echo server sends nothing unasked: holding a connection is waiting for a close that
//! should not come, and closing is a FIN each way. For `broadcast`, `tcp-echo --fanout SIZE`
//! writes every SIZE bytes one connection sends to all the others: the members read
//! `--size`-byte messages (`wire::tcp_publish`), and the publisher hears nothing.

use std::{
    io,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, tcp::WriteHalf},
    time::{Instant, timeout, timeout_at},
};

use super::{
    broadcast::{Deliveries, Published, Schedule},
    conn::{CLOSE_TIMEOUT, READ_BUFFER, Target},
    failure::Failure,
    lifecycle::dropped,
    run::{Phase, Run, bump},
    wire::{self, Wire},
};

/// Waits until the run reaches `until`, watching for the server closing (a drop) or sending
/// bytes nobody asked for (an error). Returns false when the connection ended first.
async fn wait_until(run: &Run, stream: &mut TcpStream, stage: &str, until: Phase) -> bool {
    read_until(run, stream, stage, until, None, |_| {}).await
}

/// Reads until the run reaches `until`, cutting what the server sends into `len`-byte
/// messages for `on_message`; with no `len` the server should send nothing, and whatever it
/// sends is an error. Returns false when the connection ended first; that is a drop.
async fn read_until(
    run: &Run,
    stream: &mut (impl AsyncRead + Unpin),
    stage: &str,
    until: Phase,
    len: Option<usize>,
    mut on_message: impl FnMut(&[u8]),
) -> bool {
    let mut phase = run.phase();
    // Always room for the rest of a message (`filled < len` between reads), so a read never
    // gets an empty buffer, whose `Ok(0)` would look like the end of the stream.
    let mut buffer = vec![0u8; len.map_or(512, |len| len.max(READ_BUFFER))];
    let mut filled = 0;
    loop {
        tokio::select! {
            // An error here means the run itself is gone: stop as if told to.
            _ = phase.wait_for(|phase| *phase >= until) => return true,
            // `read` is cancel-safe: what a read returns is in `buffer` before it returns.
            read = stream.read(&mut buffer[filled..]) => match (read, len) {
                (Ok(0), _) => {
                    dropped(run, server_closed(stage));
                    return false;
                }
                (Ok(n), None) => run.record(Failure::new(
                    format!("{stage}:unexpected"),
                    format!("{n} bytes the client did not ask for"),
                )),
                (Ok(n), Some(len)) => {
                    filled += n;
                    let whole = filled - filled % len;
                    buffer[..whole].chunks_exact(len).for_each(&mut on_message);
                    buffer.copy_within(whole..filled, 0);
                    filled -= whole;
                }
                (Err(error), _) => {
                    dropped(run, Failure::io(stage, &error));
                    return false;
                }
            },
        }
    }
}

fn server_closed(stage: &str) -> Failure {
    Failure::new(format!("{stage}:eof"), "the server closed the connection")
}

/// Our half of closing: a FIN, then read (and drop any late echo) until the server's FIN,
/// which `tcp-echo` sends when it reads the end of the stream.
async fn close(mut stream: TcpStream) -> Result<(), Failure> {
    let handshake = async {
        stream.shutdown().await.map_err(|error| Failure::io("close", &error))?;
        let mut late = [0u8; 512];
        loop {
            match stream.read(&mut late).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(Failure::io("close", &error)),
            }
        }
    };
    timeout(CLOSE_TIMEOUT, handshake)
        .await
        .map_err(|_| Failure::timeout("close", "the server did not close its side"))?
}

async fn close_counted(run: &Run, stream: TcpStream) {
    match close(stream).await {
        Ok(()) => bump(&run.counters.closed_clean),
        Err(failure) => run.record(failure),
    }
}

/// `idle`: hold the connection until the run closes, then close it.
pub(crate) async fn hold(run: Arc<Run>, mut stream: TcpStream) {
    if wait_until(&run, &mut stream, "hold", Phase::Close).await {
        close_counted(&run, stream).await;
    }
}

/// `echo`: wait for the ramp to end, send and time round trips until the drain, close.
pub(crate) async fn echo(
    run: Arc<Run>,
    wire: Arc<Wire>,
    reply_timeout: Duration,
    n: usize,
    mut stream: TcpStream,
) {
    if !wait_until(&run, &mut stream, "ramp", Phase::Warmup).await {
        return;
    }
    if closed_loop(&run, &wire, reply_timeout, n, &mut stream).await {
        close_counted(&run, stream).await;
    }
}

/// Send the frame's bytes, read as many back, check they are the same, repeat. Returns false
/// when the connection broke.
async fn closed_loop(
    run: &Run,
    wire: &Wire,
    reply_timeout: Duration,
    n: usize,
    stream: &mut TcpStream,
) -> bool {
    let phase = run.phase();
    let mut request = Vec::new();
    // Read as the WebSocket client reads, into a buffer larger than the reply rather than
    // exactly the reply's length: a read that fills its buffer tells tokio nothing, so the next
    // read would first make one more system call only to hear "would block".
    let mut reply = vec![0u8; READ_BUFFER];
    let mut seq = 0;
    while *phase.borrow() < Phase::Drain {
        // Timed from before the encoding, as the WebSocket client's send is.
        let sent_at = Instant::now();
        wire.tcp_request(seq, &mut request);
        if let Err(error) = stream.write_all(&request).await {
            dropped(run, Failure::io("send", &error));
            return false;
        }
        bump(&run.counters.sent);
        if reply.len() <= request.len() {
            // Still larger than the reply, so the read that completes it comes back short.
            reply.resize(request.len() + 1, 0);
        }
        let read =
            timeout_at(sent_at + reply_timeout, read_reply(stream, &mut reply, request.len()));
        let filled = match read.await {
            Ok(Ok(filled)) => filled,
            Ok(Err(error)) => {
                dropped(run, Failure::io("reply", &error));
                return false;
            }
            Err(_) => {
                // Part of a reply may have been read: the stream is out of step, stop here.
                run.record(Failure::timeout(
                    "reply",
                    format!("no reply to message {seq} within {reply_timeout:?}"),
                ));
                return true;
            }
        };
        if reply[..filled] != request[..] {
            run.record(Failure::new(
                "reply:unexpected",
                format!("the echo of message {seq} is not the bytes sent"),
            ));
            return true;
        }
        bump(&run.counters.received);
        if run.measured(sent_at) {
            run.measured_answer(n, sent_at.elapsed());
        }
        seq += 1;
    }
    true
}

/// Reads until at least `len` bytes are in `buffer`; returns how many there are (more than
/// `len` only if the server sent what nobody asked for, which the caller's check catches).
async fn read_reply(stream: &mut TcpStream, buffer: &mut [u8], len: usize) -> io::Result<usize> {
    let mut filled = 0;
    while filled < len {
        match stream.read(&mut buffer[filled..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            read => filled += read,
        }
    }
    Ok(filled)
}

/// `broadcast`: one member, timing every `len`-byte message until the run closes, then close.
pub(crate) async fn member(
    deliveries: Arc<Deliveries>,
    n: usize,
    len: usize,
    mut stream: TcpStream,
) {
    let run = &deliveries.run;
    let on_message = |message: &[u8]| {
        let received = Instant::now();
        match wire::tcp_delivery(message) {
            Ok(stamp) => deliveries.record(n, stamp, message.len(), received),
            Err(failure) => run.record(failure),
        }
    };
    if read_until(run, &mut stream, "member", Phase::Close, Some(len), on_message).await {
        close_counted(run, stream).await;
    }
}

/// `broadcast`: the publisher. From the warm-up to the drain it writes a `len`-byte message at
/// `rate` per second; meanwhile it reads only to notice the server closing, since a fan-out
/// server sends nothing back to the sender. Without acks, a message counts once it is written.
pub(crate) async fn publisher(
    run: Arc<Run>,
    rate: u32,
    len: usize,
    published: Arc<Published>,
    mut stream: TcpStream,
) {
    let _open = run.open_guard();
    let usable = wait_until(&run, &mut stream, "publisher", Phase::Warmup).await && {
        let (mut reader, mut writer) = stream.split();
        tokio::select! {
            // Ends at the drain, or when a write fails.
            written = publish(&run, rate, len, &published, &mut writer) => written,
            alive = read_until(&run, &mut reader, "publisher", Phase::Close, None, |_| {}) => alive,
        }
    };
    published.done.store(true, Ordering::Relaxed);
    if usable {
        close_counted(&run, stream).await;
    }
}

/// Writes on schedule until the drain. Returns false when the connection broke.
async fn publish(
    run: &Run,
    rate: u32,
    len: usize,
    published: &Published,
    writer: &mut WriteHalf<'_>,
) -> bool {
    let mut phase = run.phase();
    // So that the first `changed` returns at once and the loop sees the phase it is in now.
    phase.mark_changed();
    let mut schedule = Schedule::new(rate);
    let mut message = Vec::with_capacity(len);
    loop {
        tokio::select! {
            changed = phase.changed() => {
                // An error here means the run itself is gone: stop as if told to.
                if changed.is_err() || *phase.borrow() >= Phase::Drain {
                    return true;
                }
            }
            (stamp, due) = schedule.next(run) => {
                wire::tcp_publish(stamp, len, &mut message);
                if let Err(error) = writer.write_all(&message).await {
                    dropped(run, Failure::io("publisher", &error));
                    return false;
                }
                bump(&run.counters.sent);
                if run.measured(due) {
                    published.acked.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// `churn`: one connection's whole life, connect, one echo, close.
pub(crate) async fn cycle(
    run: &Arc<Run>,
    target: &Target,
    wire: &Wire,
    n: usize,
    reply_timeout: Duration,
) -> Result<(), Failure> {
    let began = Instant::now();
    let mut stream = target.open_tcp(n).await.inspect_err(|_| {
        bump(&run.counters.failed);
    })?;
    if run.measured(began) {
        run.handshakes.record(n, began.elapsed());
    }
    bump(&run.counters.opened);
    let _open = run.open_guard();

    let mut request = Vec::new();
    wire.tcp_request(n as u64, &mut request);
    stream.write_all(&request).await.map_err(|error| Failure::io("send", &error))?;
    let mut reply = vec![0; request.len()];
    timeout(reply_timeout, stream.read_exact(&mut reply))
        .await
        .map_err(|_| Failure::timeout("reply", format!("no reply within {reply_timeout:?}")))?
        .map_err(|error| Failure::io("reply", &error))?;
    if reply != request {
        return Err(Failure::new("reply:unexpected", "the echo is not the bytes sent"));
    }
    close(stream).await?;
    bump(&run.counters.closed_clean);
    Ok(())
}
