//! The ceiling row of the benchmarks: a plain tokio TCP server, no WebSocket at all.
//!
//! Echo (the default): `wsload --protocol tcp` sends it exactly the bytes a WebSocket client
//! would put on the wire for the same message and reads the same number back, so the
//! difference between this row and a WebSocket server is what the WebSocket layers cost.
//!
//! Fan-out (`--fanout SIZE`), for `wsload broadcast --protocol tcp --size SIZE`: every
//! connection is a member of one room, and every SIZE bytes a connection sends are one message,
//! written to every other connection. It is chapter 08's room fan-out with nothing else: the
//! message is one shared buffer, each member has a bounded queue (chapter 08's default
//! capacity) that drops what does not fit, one task per connection reads its socket and writes
//! what is queued for it. The difference to a chapter's row is the WebSocket framing, the JSON
//! envelope and everything a session does besides.
//!
//! `cargo run -p bench-tools --release --bin tcp-echo -- 127.0.0.1:9100`
//! `cargo run -p bench-tools --release --bin tcp-echo -- 127.0.0.1:9300 --fanout 120`

use std::{
    collections::HashMap,
    net::SocketAddr,
    num::NonZeroUsize,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use anyhow::Context;
use clap::Parser;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::mpsc,
};

/// Messages queued for one member, as chapter 08's `--outbound-queue` default.
const QUEUE: usize = 256;

/// The accept queue, as chapter 08's `--backlog` default (tokio's `bind` asks for 128): in a
/// burst of connections the ceiling must not be the one whose handshakes are dropped.
const BACKLOG: u32 = 4096;

/// The plain TCP server of the benchmarks' ceiling row: echo, or room fan-out.
#[derive(Debug, Parser)]
#[command(name = "tcp-echo")]
struct Args {
    /// Address to listen on.
    #[arg(default_value = "127.0.0.1:9100")]
    addr: SocketAddr,

    /// Fan out instead of echoing: every SIZE bytes a connection sends are written to every
    /// other connection (for `wsload broadcast --protocol tcp --size SIZE`).
    #[arg(long, value_name = "SIZE")]
    fanout: Option<NonZeroUsize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = listen(args.addr).with_context(|| format!("listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    match args.fanout {
        None => {
            eprintln!("tcp echo on {addr}");
            echo(listener).await
        }
        Some(size) => {
            eprintln!("tcp fan-out of {size}-byte messages on {addr}");
            fanout(listener, size.get()).await
        }
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn echo(listener: TcpListener) -> anyhow::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

/// One message, shared by every queue it is in.
type Shared = Arc<[u8]>;

/// Every member's queue, by connection number. The lock is never held across an `.await`.
type Members = Mutex<HashMap<u64, mpsc::Sender<Shared>>>;

async fn fanout(listener: TcpListener, size: usize) -> anyhow::Result<()> {
    let members = Arc::new(Members::default());
    for id in 0u64.. {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        // Registered here, in accept order, rather than in its task: a client that connects
        // after all the others (wsload's publisher) is accepted after them too, so they are
        // all members before its first message arrives.
        let (queue, queued) = mpsc::channel(QUEUE);
        lock(&members).insert(id, queue);
        let members = Arc::clone(&members);
        tokio::spawn(async move {
            member(&members, id, stream, queued, size).await;
            lock(&members).remove(&id);
        });
    }
    Ok(())
}

/// One connection until it closes: every `size` bytes it sends go to the others, and what the
/// others sent is written to it, one message at a time.
async fn member(
    members: &Members,
    id: u64,
    mut stream: TcpStream,
    mut queued: mpsc::Receiver<Shared>,
    size: usize,
) {
    let mut incoming = vec![0u8; size];
    let mut filled = 0;
    loop {
        tokio::select! {
            // `read` is cancel-safe (a partial message stays in `incoming`); `read_exact`
            // would lose it whenever a queued message is written first.
            read = stream.read(&mut incoming[filled..]) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    filled += n;
                    if filled == size {
                        publish(members, id, &Shared::from(incoming.as_slice()));
                        filled = 0;
                    }
                }
            },
            // Our own queue's sender is in `members` until we return: `None` cannot come.
            Some(message) = queued.recv() => {
                if stream.write_all(&message).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Queues `message` for every member but its sender without ever waiting: a member whose
/// queue is full misses it (chapter 08's `drop` policy), and wsload counts it as lost.
fn publish(members: &Members, from: u64, message: &Shared) {
    for (&id, queue) in lock(members).iter() {
        if id != from {
            let _ = queue.try_send(Arc::clone(message));
        }
    }
}

/// A panic elsewhere cannot leave the map half-updated: keep serving.
fn lock(members: &Members) -> MutexGuard<'_, HashMap<u64, mpsc::Sender<Shared>>> {
    members.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use bench_tools::load::{self, Cli};
    use serde_json::Value;

    use super::*;

    /// wsload's own `broadcast --protocol tcp` against the fan-out: every message reaches every
    /// member once, and none comes back to its sender (wsload counts that as an error).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fanout_delivers_every_message_to_every_other_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        tokio::spawn(fanout(listener, 64));
        let json = std::env::temp_dir().join(format!("tcp-fanout-{}.json", std::process::id()));
        let json_arg = json.to_str().unwrap();
        let cli = Cli::try_parse_from([
            "wsload",
            "broadcast",
            "--protocol",
            "tcp",
            "--url",
            &url,
            "-n",
            "20",
            "--rate",
            "50",
            "--size",
            "64",
            "--duration",
            "1s",
            "--quiet",
            "--json",
            json_arg,
        ])
        .unwrap();
        cli.validate().unwrap();
        let passed = load::run(cli).await.unwrap();
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let _ = std::fs::remove_file(&json);

        assert!(passed, "{summary:#}");
        assert_eq!(summary["errors"]["total"], 0, "{summary:#}");
        let broadcast = &summary["broadcast"];
        assert_eq!(broadcast["members"], 20, "{summary:#}");
        let publishes = broadcast["publishes"].as_u64().unwrap();
        // 50 a second for one second, give or take the edges of the window.
        assert!((40..=60).contains(&publishes), "{summary:#}");
        assert_eq!(broadcast["deliveries"].as_u64(), Some(publishes * 20), "{summary:#}");
        assert_eq!(broadcast["lost"], 0, "{summary:#}");
        assert_eq!(broadcast["frame_bytes"], serde_json::json!({"min": 64, "max": 64}));
    }
}
