//! What wsload puts on the wire, and how it reads the answers, for every protocol.
//!
//! Every request carries a sequence number that its reply must give back, so a wrong,
//! reordered or missing reply is caught and counted as an error instead of being timed as if
//! it were right. `tcp` requests are the `raw` ones, encoded by hand into the bytes a
//! WebSocket client would write for them; `tcp` broadcast messages are fixed-size byte strings
//! carrying what an envelope publish carries. Nothing here touches a socket.

use std::{borrow::Cow, io::Write as _};

use serde::{Deserialize, de::IgnoredAny};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame, FrameHeader,
        coding::{Data, OpCode},
    },
};

use super::{
    cli::{FrameKind, Protocol},
    failure::{Failure, excerpt},
};

/// Raw payloads start with the sequence number in this many hex digits.
const RAW_SEQ_DIGITS: usize = 16;

/// A `tcp` broadcast message starts with its sequence number and its stamp in 16 hex digits
/// each, so it is never shorter than this.
pub(crate) const TCP_STAMP_LEN: usize = 2 * RAW_SEQ_DIGITS;

/// The fields of a server message that wsload looks at; serde skips the rest without
/// allocating, so parsing a large echo costs little more than scanning it.
#[derive(Debug, Deserialize)]
pub(crate) struct Incoming<'a, D> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) code: Option<Cow<'a, str>>,
    pub(crate) data: Option<D>,
}

/// The `data` of a broadcast publish: when it was (meant to be) sent, in nanoseconds since the
/// start of the run (one `Instant` the whole process shares), and its number. Extra fields (`pad`) are ignored.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Stamp {
    pub(crate) t: u64,
    pub(crate) seq: u64,
}

/// Parses a server message; `stage` names where in a scenario it was expected.
pub(crate) fn parse<'a, D: Deserialize<'a>>(
    stage: &str,
    text: &'a str,
) -> Result<Incoming<'a, D>, Failure> {
    serde_json::from_str(text).map_err(|error| {
        Failure::new(format!("{stage}:unexpected"), format!("{error}: {}", excerpt(text)))
    })
}

/// The failure for an `{"type":"error",...}` reply: its code becomes part of the kind, so rate
/// limiting (`reply:server_rate_limited`) is told apart from a bug (`reply:server_bad_request`).
pub(crate) fn server_error<D>(stage: &str, message: &Incoming<'_, D>, text: &str) -> Failure {
    let code = message.code.as_deref().unwrap_or("unknown");
    Failure::new(format!("{stage}:server_{code}"), excerpt(text))
}

/// Builds echo requests of one size and checks their replies.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    protocol: Protocol,
    frame: FrameKind,
    size: usize,
    /// Enough filler for the largest message, sliced per request.
    filler: String,
}

impl Wire {
    pub(crate) fn new(protocol: Protocol, frame: FrameKind, size: usize) -> Self {
        Self { protocol, frame, size, filler: "x".repeat(size) }
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The exact message size, for the summary (an envelope smaller than its own JSON grows).
    /// For `tcp` it is every byte sent: frame header, mask key and payload.
    pub(crate) fn frame_bytes(&self) -> usize {
        match self.protocol {
            Protocol::Raw => self.size.max(RAW_SEQ_DIGITS),
            Protocol::Envelope => envelope_len(0, "").max(self.size),
            Protocol::Tcp => {
                let payload = self.size.max(RAW_SEQ_DIGITS);
                client_header().len(payload as u64) + payload
            }
        }
    }

    /// The payload of raw (and tcp) request number `seq`: the sequence number in hex digits,
    /// then filler up to `--size`.
    fn raw_payload(&self, seq: u64) -> String {
        let mut payload = format!("{seq:016x}");
        let fill = self.size.saturating_sub(RAW_SEQ_DIGITS);
        payload.push_str(&self.filler[..fill]);
        payload
    }

    /// Echo request number `seq`.
    pub(crate) fn echo_request(&self, seq: u64) -> Message {
        match self.protocol {
            Protocol::Raw | Protocol::Tcp => {
                let payload = self.raw_payload(seq);
                match self.frame {
                    FrameKind::Text => Message::text(payload),
                    FrameKind::Binary => Message::binary(payload.into_bytes()),
                }
            }
            Protocol::Envelope => {
                let id = seq.to_string();
                let fill = self.size.saturating_sub(envelope_len(id.len(), ""));
                Message::text(format!(
                    r#"{{"type":"echo","id":"{id}","data":"{}"}}"#,
                    &self.filler[..fill]
                ))
            }
        }
    }

    /// `--protocol tcp`: request number `seq` as a WebSocket client writes it, into `out`
    /// (cleared first): the header of a final binary frame with the mask bit, a 4-byte mask
    /// key and the masked payload of the `raw` request, encoded by tungstenite's own frame
    /// code. An echo server sends back exactly these bytes.
    pub(crate) fn tcp_request(&self, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        let payload = self.raw_payload(seq).into_bytes();
        let mut frame = Frame::message(payload, OpCode::Data(Data::Binary), true);
        // A real client draws a random key per frame; any key costs the same to apply. This
        // one differs per message, so a stale echo cannot match.
        frame.header_mut().mask = Some(mask_key(seq));
        // Writing into a Vec cannot fail; an error could only leave `out` short, and the echo
        // check would then report it.
        let _ = frame.format(out);
    }

    /// The sequence number an echo reply carries. An error reply that names its request comes
    /// back as `Err((Some(seq), failure))`, so the caller can stop waiting for that request.
    pub(crate) fn echo_reply(&self, message: &Message) -> Result<u64, (Option<u64>, Failure)> {
        match (self.protocol, message) {
            (Protocol::Raw | Protocol::Tcp, Message::Text(_) | Message::Binary(_)) => {
                let payload: &[u8] = match message {
                    Message::Text(text) => text.as_bytes(),
                    Message::Binary(bytes) => bytes,
                    _ => &[],
                };
                let seq = payload
                    .get(..RAW_SEQ_DIGITS)
                    .and_then(|digits| std::str::from_utf8(digits).ok())
                    .and_then(|digits| u64::from_str_radix(digits, 16).ok());
                match seq {
                    Some(seq) if payload.len() == self.size => Ok(seq),
                    _ => Err((
                        None,
                        Failure::new(
                            "reply:unexpected",
                            format!(
                                "{} bytes, not an echo of a {}-byte request",
                                payload.len(),
                                self.size
                            ),
                        ),
                    )),
                }
            }
            (Protocol::Envelope, Message::Text(text)) => {
                let reply: Incoming<'_, IgnoredAny> =
                    parse("reply", text.as_str()).map_err(|failure| (None, failure))?;
                let seq = reply.id.as_deref().and_then(|id| id.parse().ok());
                match (reply.kind.as_ref(), seq) {
                    ("echo", Some(seq)) => Ok(seq),
                    ("error", seq) => Err((seq, server_error("reply", &reply, text.as_str()))),
                    _ => Err((None, Failure::new("reply:unexpected", excerpt(text.as_str())))),
                }
            }
            (_, other) => Err((
                None,
                Failure::new("reply:unexpected", format!("a {} frame", frame_name(other))),
            )),
        }
    }
}

/// The header a client puts before a binary payload: like every client frame, it carries a
/// mask key (only its presence matters for the length).
fn client_header() -> FrameHeader {
    FrameHeader { opcode: OpCode::Data(Data::Binary), mask: Some([0; 4]), ..FrameHeader::default() }
}

/// The mask key of tcp request `seq`.
fn mask_key(seq: u64) -> [u8; 4] {
    // The low 32 bits, spread by a multiplicative hash so neighbouring keys differ in every byte.
    ((seq as u32) ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b9).to_be_bytes()
}

/// `{"type":"join","id":"join","room":...}`
pub(crate) fn join_request(room: &str) -> Message {
    Message::text(format!(r#"{{"type":"join","id":"join","room":{}}}"#, json_string(room)))
}

/// `{"type":"publish","id":"<seq>","room":...,"data":{"t":..,"seq":..,"pad":".."}}`
pub(crate) fn publish_request(room: &str, stamp: Stamp, pad: &str) -> Message {
    let Stamp { t, seq } = stamp;
    let pad = if pad.is_empty() { String::new() } else { format!(r#","pad":"{pad}""#) };
    Message::text(format!(
        r#"{{"type":"publish","id":"{seq}","room":{},"data":{{"t":{t},"seq":{seq}{pad}}}}}"#,
        json_string(room)
    ))
}

/// `--protocol tcp` broadcast message: `seq` and `t` of the stamp in hex digits, then filler up
/// to `len` bytes (at least [`TCP_STAMP_LEN`]), into `out` (cleared first). `tcp-echo --fanout`
/// forwards it as it is, so these are also the bytes every member reads.
pub(crate) fn tcp_publish(stamp: Stamp, len: usize, out: &mut Vec<u8>) {
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{:016x}{:016x}", stamp.seq, stamp.t);
    out.resize(len.max(TCP_STAMP_LEN), b'x');
}

/// The stamp of a `tcp` broadcast message. The whole message is checked, so a stream that lost
/// or gained bytes (and so is cut out of step) is an error rather than a wrong latency.
pub(crate) fn tcp_delivery(message: &[u8]) -> Result<Stamp, Failure> {
    let hex = |digits: &[u8]| {
        let digits = std::str::from_utf8(digits).ok()?;
        // `from_str_radix` would take a sign too; the encoder writes digits only.
        digits.bytes().all(|byte| byte.is_ascii_hexdigit()).then_some(())?;
        u64::from_str_radix(digits, 16).ok()
    };
    let stamp = message.get(..TCP_STAMP_LEN).and_then(|head| {
        let (seq, t) = head.split_at(RAW_SEQ_DIGITS);
        Some(Stamp { t: hex(t)?, seq: hex(seq)? })
    });
    match stamp {
        Some(stamp) if message[TCP_STAMP_LEN..].iter().all(|&byte| byte == b'x') => Ok(stamp),
        _ => Err(Failure::new(
            "member:unexpected",
            format!(
                "{} bytes that are not a broadcast message: {}",
                message.len(),
                excerpt(&String::from_utf8_lossy(message))
            ),
        )),
    }
}

/// The bytes on the wire of a server's frame with a `payload`-byte payload: the header (2, 4
/// or 10 bytes, no mask key from a server), then the payload.
pub(crate) fn server_frame_bytes(payload: usize) -> usize {
    let header = FrameHeader { opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
    header.len(payload as u64) + payload
}

fn json_string(text: &str) -> String {
    // A `&str` always serializes; the fallback only keeps this path free of `unwrap`.
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// Length of an echo envelope with an id of `id_len` digits and this filler.
fn envelope_len(id_len: usize, filler: &str) -> usize {
    r#"{"type":"echo","id":"","data":""}"#.len() + id_len + filler.len()
}

pub(crate) fn frame_name(message: &Message) -> &'static str {
    match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
        Message::Frame(_) => "raw",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_requests_have_the_requested_size_and_round_trip() {
        let wire = Wire::new(Protocol::Envelope, FrameKind::Text, 100);
        let request = wire.echo_request(1234);
        assert_eq!(request.len(), 100);
        let text = request.to_text().unwrap();
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(value["type"], "echo");
        assert_eq!(value["id"], "1234");
        let reply = Message::text(format!(
            r#"{{"type":"echo","id":"1234","trace":"1-2","data":{}}}"#,
            value["data"]
        ));
        assert_eq!(wire.echo_reply(&reply).unwrap(), 1234);
    }

    #[test]
    fn raw_requests_carry_their_sequence_number() {
        let wire = Wire::new(Protocol::Raw, FrameKind::Binary, 64);
        let request = wire.echo_request(7);
        assert_eq!(request.len(), 64);
        assert_eq!(wire.echo_reply(&request).unwrap(), 7);
        let short = Message::binary(b"0000000000000007".to_vec());
        assert!(wire.echo_reply(&short).is_err());
    }

    #[test]
    fn tcp_requests_are_the_bytes_of_a_masked_binary_frame() {
        let wire = Wire::new(Protocol::Tcp, FrameKind::Binary, 20);
        let mut bytes = Vec::new();
        wire.tcp_request(7, &mut bytes);
        // FIN + binary, mask bit + length 20, the key, then 20 masked bytes.
        assert_eq!(bytes.len(), 2 + 4 + 20);
        assert_eq!(wire.frame_bytes(), bytes.len());
        assert_eq!(&bytes[..2], &[0x82, 0x80 | 20]);
        let key = &bytes[2..6];
        let unmasked: Vec<u8> =
            bytes[6..].iter().enumerate().map(|(i, byte)| byte ^ key[i % 4]).collect();
        assert_eq!(unmasked, wire.raw_payload(7).into_bytes());
        let mut other = Vec::new();
        wire.tcp_request(8, &mut other);
        assert_ne!(bytes, other);
        // 126 bytes and more take a 16-bit extended length.
        let long = Wire::new(Protocol::Tcp, FrameKind::Binary, 200);
        long.tcp_request(1, &mut bytes);
        assert_eq!((bytes.len(), long.frame_bytes(), bytes[1]), (2 + 2 + 4 + 200, 208, 0x80 | 126));
    }

    #[test]
    fn tcp_broadcast_messages_have_the_exact_size_and_carry_their_stamp() {
        let mut message = Vec::new();
        let stamp = Stamp { t: 5_000_000_123, seq: 77 };
        tcp_publish(stamp, 120, &mut message);
        assert_eq!(message.len(), 120);
        let read = tcp_delivery(&message).unwrap();
        assert_eq!((read.t, read.seq), (stamp.t, stamp.seq));
        // The stamp alone is the smallest message; anything shorter grows to it.
        tcp_publish(Stamp { t: u64::MAX, seq: 0 }, 0, &mut message);
        assert_eq!(message.len(), TCP_STAMP_LEN);
        assert_eq!(tcp_delivery(&message).unwrap().t, u64::MAX);
    }

    #[test]
    fn tcp_broadcast_messages_out_of_step_are_refused() {
        let mut two = Vec::new();
        tcp_publish(Stamp { t: 1, seq: 1 }, 40, &mut two);
        let mut second = Vec::new();
        tcp_publish(Stamp { t: 2, seq: 2 }, 40, &mut second);
        two.extend_from_slice(&second);
        assert!(tcp_delivery(&two[..40]).is_ok());
        assert!(tcp_delivery(&two[40..]).is_ok());
        // Cut a byte or a few out of step, either way: refused.
        assert!(tcp_delivery(&two[1..41]).is_err());
        assert!(tcp_delivery(&two[36..76]).is_err());
        assert!(tcp_delivery(&two[..TCP_STAMP_LEN - 1]).is_err());
        let mut signed = two[..40].to_vec();
        signed[0] = b'+';
        assert_eq!(tcp_delivery(&signed).unwrap_err().kind, "member:unexpected");
    }

    #[test]
    fn server_frames_have_no_mask_key() {
        assert_eq!(server_frame_bytes(0), 2);
        assert_eq!(server_frame_bytes(125), 127);
        assert_eq!(server_frame_bytes(126), 130);
        assert_eq!(server_frame_bytes(65_535), 65_539);
        assert_eq!(server_frame_bytes(65_536), 65_546);
    }

    #[test]
    fn error_replies_name_their_code_and_request() {
        let wire = Wire::new(Protocol::Envelope, FrameKind::Text, 10);
        let reply = Message::text(
            r#"{"type":"error","id":"3","trace":"1-1","code":"rate_limited","message":"m"}"#,
        );
        let (seq, failure) = wire.echo_reply(&reply).unwrap_err();
        assert_eq!(seq, Some(3));
        assert_eq!(failure.kind, "reply:server_rate_limited");
    }

    #[test]
    fn publishes_carry_a_stamp_members_can_read() {
        let message = publish_request("r\"1", Stamp { t: 42, seq: 9 }, "xx");
        let value: serde_json::Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        assert_eq!(value["room"], "r\"1");
        let delivery = format!(
            r#"{{"type":"message","room":"r","from":"1","data":{},"trace":"1-1"}}"#,
            value["data"]
        );
        let parsed: Incoming<'_, Stamp> = parse("member", &delivery).unwrap();
        let stamp = parsed.data.unwrap();
        assert_eq!((stamp.t, stamp.seq), (42, 9));
    }
}
