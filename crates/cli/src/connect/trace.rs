//! `--trace`: every byte of the connection, decoded as the HTTP upgrade heads and then frame
//! headers, printed as it passes.
//!
//! [`Traced`] wraps the transport (after TLS, so it sees plaintext) and feeds each direction's
//! bytes to a [`Scanner`], a small state machine that follows the HTTP head and then frame
//! boundaries however the bytes are split into reads and writes. It never changes the bytes;
//! a header it cannot parse stops the tracing of that direction, not the connection.

use std::fmt::Write as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use switchboard::proto::frame::FrameHeader;
use switchboard::proto::OpCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where trace lines go (stderr, or the interactive printer so the prompt stays intact).
pub(crate) type Sink = Arc<dyn Fn(String) + Send + Sync>;

/// Bytes of payload shown per frame.
const PREVIEW: usize = 32;
/// An HTTP head longer than this is not a head we can show; the library refuses it anyway.
const MAX_HEAD: usize = 64 << 10;

/// A transport whose traffic is printed to a [`Sink`], or passed through untouched when
/// tracing is off.
pub(crate) struct Traced<S> {
    inner: S,
    tracing: Option<(Scanner, Scanner, Sink)>,
}

impl<S> Traced<S> {
    /// Passes the bytes through; prints them to `sink` if there is one.
    pub(crate) fn new(inner: S, sink: Option<Sink>) -> Self {
        let tracing = sink.map(|sink| (Scanner::new(Dir::Out), Scanner::new(Dir::In), sink));
        Self { inner, tracing }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Traced<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Some((_, scanner, sink)) = &mut this.tracing {
            let new = buf.filled().get(before..).unwrap_or_default();
            scanner.feed(new).into_iter().for_each(|line| sink(line));
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Traced<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, data);
        if let (Poll::Ready(Ok(n)), Some((scanner, _, sink))) = (&poll, &mut this.tracing) {
            let written = data.get(..*n).unwrap_or_default();
            scanner
                .feed(written)
                .into_iter()
                .for_each(|line| sink(line));
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Out,
    In,
}

impl Dir {
    fn arrow(self) -> &'static str {
        match self {
            Dir::Out => ">",
            Dir::In => "<",
        }
    }
}

/// One direction's decoder: the HTTP head, then frames.
#[derive(Debug)]
pub(crate) struct Scanner {
    dir: Dir,
    state: State,
    /// Bytes not yet decoded: a partial head, or a partial frame header.
    pending: Vec<u8>,
    /// The current message's first frame had RSV1 (permessage-deflate), so its continuation
    /// frames are compressed too.
    compressed_message: bool,
    /// The current message is text (for continuation frames' previews).
    text_message: bool,
}

#[derive(Debug)]
enum State {
    Head,
    Header,
    Payload(Frame),
    /// Something could not be decoded; this direction is no longer traced.
    Lost,
}

#[derive(Debug)]
struct Frame {
    header: FrameHeader,
    /// Payload bytes still to come.
    remaining: u64,
    /// Payload bytes seen so far (for the mask key's position).
    seen: u64,
    /// The first bytes of the payload, unmasked.
    preview: Vec<u8>,
    /// The line has been printed (once the preview was complete).
    printed: bool,
    compressed: bool,
    text: bool,
}

impl Scanner {
    fn new(dir: Dir) -> Self {
        Self {
            dir,
            state: State::Head,
            pending: Vec::new(),
            compressed_message: false,
            text_message: false,
        }
    }

    /// Decodes `bytes`, returning the lines to print.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        while !bytes.is_empty() {
            match &mut self.state {
                State::Lost => break,
                State::Head => bytes = self.head(bytes, &mut lines),
                State::Header => bytes = self.header(bytes, &mut lines),
                State::Payload(frame) => {
                    let take = usize::try_from(frame.remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    let (chunk, rest) = bytes.split_at(take);
                    frame.absorb(chunk);
                    bytes = rest;
                    self.maybe_finish(&mut lines);
                }
            }
        }
        lines
    }

    fn head<'b>(&mut self, bytes: &'b [u8], lines: &mut Vec<String>) -> &'b [u8] {
        let start = self.pending.len().saturating_sub(3);
        self.pending.extend_from_slice(bytes);
        let Some(end) = find(self.pending.get(start..).unwrap_or_default(), b"\r\n\r\n")
            .map(|at| start + at + 4)
        else {
            if self.pending.len() > MAX_HEAD {
                lines.push(format!(
                    "{} (HTTP head too long to trace)",
                    self.dir.arrow()
                ));
                self.state = State::Lost;
            }
            return &[];
        };
        let head = String::from_utf8_lossy(self.pending.get(..end).unwrap_or_default());
        for line in head.trim_end().split("\r\n") {
            lines.push(format!("{} {}", self.dir.arrow(), redact(line)));
        }
        // What followed the head in this chunk is already frames.
        let used = bytes.len() - (self.pending.len() - end);
        self.pending.clear();
        self.state = State::Header;
        bytes.get(used..).unwrap_or_default()
    }

    fn header<'b>(&mut self, bytes: &'b [u8], lines: &mut Vec<String>) -> &'b [u8] {
        let had = self.pending.len();
        // A header is at most 14 bytes; take no more than that into `pending`.
        let take = bytes.len().min(14 - had.min(14));
        self.pending
            .extend_from_slice(bytes.get(..take).unwrap_or_default());
        match FrameHeader::parse(&self.pending) {
            Ok(Some((header, len))) => {
                let used = len - had;
                self.pending.clear();
                self.start_frame(header);
                self.maybe_finish(lines);
                bytes.get(used..).unwrap_or_default()
            }
            Ok(None) => bytes.get(take..).unwrap_or_default(),
            Err(e) => {
                lines.push(format!(
                    "{} undecodable frame header ({e}); no more tracing this way",
                    self.dir.arrow()
                ));
                self.state = State::Lost;
                &[]
            }
        }
    }

    fn start_frame(&mut self, header: FrameHeader) {
        let (compressed, text) = match header.opcode {
            OpCode::Continuation => (self.compressed_message, self.text_message),
            OpCode::Text | OpCode::Binary => {
                // RFC 7692 6: RSV1 on a message's first frame marks it compressed.
                self.compressed_message = header.rsv & 0x40 != 0;
                self.text_message = header.opcode == OpCode::Text;
                (self.compressed_message, self.text_message)
            }
            _ => (false, false),
        };
        self.state = State::Payload(Frame {
            remaining: header.payload_len,
            seen: 0,
            preview: Vec::new(),
            printed: false,
            compressed,
            text,
            header,
        });
    }

    /// Prints the frame's line once its preview is complete; moves on at its end.
    fn maybe_finish(&mut self, lines: &mut Vec<String>) {
        let State::Payload(frame) = &mut self.state else {
            return;
        };
        let preview_done =
            frame.preview.len() >= PREVIEW || frame.remaining == 0 || frame.compressed;
        if preview_done && !frame.printed {
            frame.printed = true;
            lines.push(format!("{} {}", self.dir.arrow(), frame.describe()));
        }
        if frame.remaining == 0 {
            self.state = State::Header;
        }
    }
}

impl Frame {
    fn absorb(&mut self, chunk: &[u8]) {
        let room = PREVIEW.saturating_sub(self.preview.len());
        for &byte in chunk.iter().take(room) {
            // RFC 6455 5.3: payload byte i is XORed with mask key byte i mod 4.
            let key = self
                .header
                .mask
                .map_or(0, |mask| mask[(self.seen % 4) as usize]);
            self.preview.push(byte ^ key);
            self.seen += 1;
        }
        self.seen += (chunk.len() - chunk.len().min(room)) as u64;
        self.remaining -= chunk.len() as u64;
    }

    fn describe(&self) -> String {
        let h = &self.header;
        let mut line = format!(
            "frame {} fin={} rsv={}{}{} len={} {}",
            opcode_name(h.opcode),
            u8::from(h.fin),
            u8::from(h.rsv & 0x40 != 0),
            u8::from(h.rsv & 0x20 != 0),
            u8::from(h.rsv & 0x10 != 0),
            h.payload_len,
            match h.mask {
                Some(key) => format!(
                    "masked={:02x}{:02x}{:02x}{:02x}",
                    key[0], key[1], key[2], key[3]
                ),
                None => "unmasked".to_owned(),
            },
        );
        let truncated = h.payload_len > self.preview.len() as u64;
        let more = if truncated { "..." } else { "" };
        if self.compressed {
            line.push_str(" (compressed)");
        } else if h.opcode == OpCode::Close && !self.preview.is_empty() {
            let code = self
                .preview
                .get(..2)
                .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
            let reason = String::from_utf8_lossy(self.preview.get(2..).unwrap_or_default());
            if let Some(code) = code {
                let _ = write!(line, " code={code} reason={reason:?}{more}");
            }
        } else if self.text {
            let text = String::from_utf8_lossy(&self.preview);
            let _ = write!(line, " {text:?}{more}");
        } else if !self.preview.is_empty() {
            line.push(' ');
            for byte in &self.preview {
                let _ = write!(line, "{byte:02x}");
            }
            line.push_str(more);
        }
        line
    }
}

fn opcode_name(opcode: OpCode) -> &'static str {
    match opcode {
        OpCode::Continuation => "continuation",
        OpCode::Text => "text",
        OpCode::Binary => "binary",
        OpCode::Close => "close",
        OpCode::Ping => "ping",
        OpCode::Pong => "pong",
    }
}

/// Hides credentials, so a trace can be pasted into a bug report.
fn redact(line: &str) -> String {
    let Some((name, value)) = line.split_once(':') else {
        return line.to_owned();
    };
    let secret = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ];
    if secret.iter().any(|s| name.trim().eq_ignore_ascii_case(s)) {
        format!("{name}: <{} bytes hidden>", value.trim().len())
    } else {
        line.to_owned()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

    fn all_at_once(bytes: &[u8]) -> Vec<String> {
        Scanner::new(Dir::In).feed(bytes)
    }

    fn byte_by_byte(bytes: &[u8]) -> Vec<String> {
        let mut scanner = Scanner::new(Dir::In);
        bytes.iter().flat_map(|b| scanner.feed(&[*b])).collect()
    }

    #[test]
    fn head_then_frames_in_one_read_or_byte_by_byte() {
        let mut bytes = RESPONSE.to_vec();
        bytes.extend_from_slice(b"\x81\x05hello\x89\x00");
        let expected = [
            "< HTTP/1.1 101 Switching Protocols",
            "< Upgrade: websocket",
            "< frame text fin=1 rsv=000 len=5 unmasked \"hello\"",
            "< frame ping fin=1 rsv=000 len=0 unmasked",
        ];
        assert_eq!(all_at_once(&bytes), expected);
        assert_eq!(byte_by_byte(&bytes), expected);
    }

    #[test]
    fn masked_payload_is_unmasked_for_the_preview() {
        let key = [1u8, 2, 3, 4];
        let mut bytes = RESPONSE.to_vec();
        bytes.extend_from_slice(&[0x82, 0x80 | 6]);
        bytes.extend_from_slice(&key);
        bytes.extend(
            b"\x00\x01\x02\x03\x04\x05"
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4]),
        );
        let lines = byte_by_byte(&bytes);
        assert_eq!(
            lines.last().unwrap(),
            "< frame binary fin=1 rsv=000 len=6 masked=01020304 000102030405"
        );
    }

    #[test]
    fn compressed_messages_and_their_continuations_show_no_payload() {
        let mut bytes = RESPONSE.to_vec();
        bytes.extend_from_slice(b"\x41\x02\xf2\x48\x80\x01\x00");
        let lines = all_at_once(&bytes);
        assert_eq!(
            lines[2],
            "< frame text fin=0 rsv=100 len=2 unmasked (compressed)"
        );
        assert_eq!(
            lines[3],
            "< frame continuation fin=1 rsv=000 len=1 unmasked (compressed)"
        );
    }

    #[test]
    fn close_frames_show_code_and_reason_and_long_payloads_are_cut() {
        let mut bytes = RESPONSE.to_vec();
        bytes.extend_from_slice(b"\x88\x05\x0f\xa0bye");
        bytes.extend_from_slice(&[0x81, 126, 0, 100]);
        bytes.extend_from_slice(&[b'a'; 100]);
        let lines = byte_by_byte(&bytes);
        assert_eq!(
            lines[2],
            "< frame close fin=1 rsv=000 len=5 unmasked code=4000 reason=\"bye\""
        );
        assert_eq!(
            lines[3],
            format!(
                "< frame text fin=1 rsv=000 len=100 unmasked {:?}...",
                "a".repeat(32)
            )
        );
    }

    #[test]
    fn credentials_are_hidden_and_garbage_stops_tracing() {
        let mut scanner = Scanner::new(Dir::Out);
        let lines = scanner.feed(b"GET / HTTP/1.1\r\nAuthorization: Bearer xyz\r\n\r\n\x83\x00");
        assert_eq!(lines[1], "> Authorization: <10 bytes hidden>");
        assert!(lines[2].contains("undecodable frame header"), "{lines:?}");
        assert!(scanner.feed(b"\x81\x00").is_empty());
    }
}
