//! The ceiling row of the benchmarks: a plain tokio TCP echo server, no WebSocket at all.
//!
//! `wsload --protocol tcp` sends it exactly the bytes a WebSocket client would put on the wire
//! for the same message and reads the same number back, so the difference between this row
//! and a WebSocket server is what the WebSocket layers cost.
//!
//! `cargo run -p shared --release --bin tcp-echo -- 127.0.0.1:9100`

use anyhow::Context;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9100".into());
    let listener = TcpListener::bind(&addr).await.with_context(|| format!("bind {addr}"))?;
    eprintln!("tcp echo on {}", listener.local_addr()?);
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
