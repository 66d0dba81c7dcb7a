//! A raw WebSocket peer for tests that a well-behaved client library cannot play: one that
//! never answers a Ping, or sends bytes no library would send.
//!
//! It does the HTTP upgrade by hand and then reads server frames (which are never masked)
//! straight off the socket, without writing anything back.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail, ensure};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// One frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;

    /// The code and reason of a Close frame.
    pub fn close_code(&self) -> Option<(u16, String)> {
        if self.opcode != Self::CLOSE || self.payload.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        Some((code, String::from_utf8_lossy(&self.payload[2..]).into_owned()))
    }
}

/// Connects and completes the upgrade for `path`; returns the socket, positioned at the first
/// frame.
pub async fn handshake(addr: SocketAddr, path: &str) -> Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    // Read the response head byte by byte so no frame byte is consumed with it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.context("response head")?;
        head.push(byte);
    }
    let head = String::from_utf8_lossy(&head);
    ensure!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    Ok(stream)
}

/// Reads one server frame.
pub async fn read_frame(stream: &mut TcpStream) -> Result<Frame> {
    let b0 = stream.read_u8().await?;
    let b1 = stream.read_u8().await?;
    if b1 & 0x80 != 0 {
        bail!("server frames must not be masked");
    }
    let len = match b1 & 0x7F {
        126 => u64::from(stream.read_u16().await?),
        127 => stream.read_u64().await?,
        n => u64::from(n),
    };
    let mut payload = vec![0; usize::try_from(len)?];
    stream.read_exact(&mut payload).await?;
    Ok(Frame { fin: b0 & 0x80 != 0, opcode: b0 & 0x0F, payload })
}

/// Reads frames until the server's Close frame, and returns it with the count of frames before.
pub async fn read_until_close(stream: &mut TcpStream) -> Result<(Frame, usize)> {
    let mut before = 0;
    loop {
        let frame = read_frame(stream).await?;
        if frame.opcode == Frame::CLOSE {
            return Ok((frame, before));
        }
        before += 1;
    }
}

/// Encodes a client frame, masked as the protocol requires (`mask: None` sends it unmasked,
/// which a server must reject).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => frame.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ key[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}
