//! What went wrong, as a short stable kind (`stage:what`, e.g. `connect:refused`,
//! `upgrade:http_503`, `hold:reset_without_close`) for counting, plus a detail for the
//! first occurrence. The kinds are what a reader greps the summary for, so they stay stable.

use std::{fmt, io};

use tokio_tungstenite::tungstenite::{self, error::ProtocolError};

/// One error, ready for the tally.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) kind: String,
    pub(crate) detail: String,
}

impl Failure {
    pub(crate) fn new(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: kind.into(), detail: detail.into() }
    }

    pub(crate) fn io(stage: &str, error: &io::Error) -> Self {
        Self::new(format!("{stage}:{}", io_kind(error)), error.to_string())
    }

    pub(crate) fn ws(stage: &str, error: &tungstenite::Error) -> Self {
        Self::new(format!("{stage}:{}", ws_kind(error)), error.to_string())
    }

    pub(crate) fn timeout(stage: &str, what: impl fmt::Display) -> Self {
        Self::new(format!("{stage}:timeout"), what.to_string())
    }

    /// The server closed the connection with a Close frame.
    pub(crate) fn closed(stage: &str, frame: Option<&tungstenite::protocol::CloseFrame>) -> Self {
        match frame {
            Some(frame) => Self::new(
                format!("{stage}:server_close_{}", u16::from(frame.code)),
                format!("server sent Close {} {:?}", frame.code, frame.reason.as_str()),
            ),
            None => Self::new(format!("{stage}:server_close"), "server sent Close without a code"),
        }
    }

    /// The stream ended without a Close frame.
    pub(crate) fn eof(stage: &str) -> Self {
        Self::new(format!("{stage}:eof"), "the connection ended without a Close frame")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// A name for the I/O errors a load test meets: most are about limits (ports, descriptors).
fn io_kind(error: &io::Error) -> &'static str {
    // EMFILE and ENFILE have no `io::ErrorKind` of their own.
    match error.raw_os_error() {
        Some(24) => return "too_many_open_files",
        Some(23) => return "file_table_full",
        _ => {}
    }
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::ConnectionReset => "reset",
        io::ErrorKind::ConnectionAborted => "aborted",
        io::ErrorKind::AddrNotAvailable => "addr_not_available",
        io::ErrorKind::AddrInUse => "addr_in_use",
        io::ErrorKind::TimedOut => "timed_out",
        io::ErrorKind::BrokenPipe => "broken_pipe",
        io::ErrorKind::UnexpectedEof => "eof",
        _ => "io_error",
    }
}

fn ws_kind(error: &tungstenite::Error) -> String {
    use tungstenite::Error;
    match error {
        Error::ConnectionClosed | Error::AlreadyClosed => "closed".into(),
        Error::Io(error) => io_kind(error).into(),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            "reset_without_close".into()
        }
        Error::Protocol(_) => "protocol_error".into(),
        Error::Http(response) => format!("http_{}", response.status().as_u16()),
        Error::Capacity(_) => "too_large".into(),
        Error::Utf8(_) => "bad_utf8".into(),
        _ => "ws_error".into(),
    }
}

/// The start of a frame, for error details that stay one line long.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}
