//! What wsload puts on the wire, and how it reads the answers, for every protocol.
//!
//! Every request carries a sequence number that its reply must give back, so a wrong,
//! reordered or missing reply is caught and counted as an error instead of being timed as if
//! it were right. `tcp` requests are the `raw` ones, encoded by hand into the bytes a
//! WebSocket client would write for them. Nothing here touches a socket.

use std::borrow::Cow;

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
