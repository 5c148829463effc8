//! The receiving half of the framing layer: frames in, whole messages out (RFC 6455 5.2-5.6).
//!
//! Payload is processed as it arrives, not when its frame is complete: unmasked in place,
//! checked for UTF-8 (so invalid text fails at the first impossible byte, RFC 6455 8.1) and,
//! for compressed messages, inflated piece by piece under the message size cap. An uncompressed
//! frame stays in the read buffer until it is complete, so a message that arrives as one frame
//! is handed out as a slice of that buffer without a copy.

use bytes::{Buf, Bytes, BytesMut};

use crate::config::Limits;
use crate::error::ProtocolError;
use crate::extension::Extension;
use crate::frame::FrameHeader;
use crate::mask::{apply_mask, apply_mask_ascii};
use crate::message::MessageRef;
use crate::opcode::OpCode;
use crate::role::Role;
use crate::utf8::{Utf8Bytes, Utf8Ref, Utf8Validator};

/// Payloads this large and larger are not lent in place: they are split off the read buffer
/// as shared bytes, so that a reply can queue them without a copy. At this size a copy costs
/// more than the reference count that sharing takes.
const SHARED_FROM: usize = 16 << 10;

/// What the receiver produced.
#[derive(Debug)]
pub(crate) enum Received {
    /// A whole text message.
    Text(Utf8Bytes),
    /// A whole binary message.
    Binary(Bytes),
    /// A control frame (close, ping or pong) with its unmasked payload.
    Control(OpCode, Bytes),
}

#[derive(Debug)]
pub(crate) struct Receiver {
    role: Role,
    /// Bytes read from the transport and not yet consumed. While an uncompressed frame is in
    /// progress, its payload starts at index 0.
    pub(crate) buf: BytesMut,
    frame: Option<PartialFrame>,
    message: Option<PartialMessage>,
}

/// A data frame whose header has been consumed and whose payload is arriving.
#[derive(Debug)]
struct PartialFrame {
    header: FrameHeader,
    /// The payload length (at most the frame size limit, so it fits in memory).
    len: usize,
    /// Payload bytes already unmasked and checked.
    done: usize,
}

/// A data message whose final frame has not arrived yet.
#[derive(Debug)]
struct PartialMessage {
    text: bool,
    compressed: bool,
    /// Payload of earlier frames (uncompressed) or inflated output (compressed).
    data: BytesMut,
    /// Wire payload bytes received for this message.
    wire_len: usize,
    fragments: usize,
    utf8: Utf8Validator,
}

impl Receiver {
    pub(crate) fn new(role: Role, buf: BytesMut) -> Self {
        Self {
            role,
            buf,
            frame: None,
            message: None,
        }
    }

    /// Decodes from the buffer until a message or control frame is complete (returned), or the
    /// buffer runs out (`Ok(None)`: read more).
    #[inline]
    pub(crate) fn next(
        &mut self,
        limits: &Limits,
        mut extension: Option<&mut (dyn Extension + 'static)>,
    ) -> Result<Option<Received>, ProtocolError> {
        loop {
            if self.frame.is_none() {
                let Some((header, header_len)) = FrameHeader::parse(&self.buf)? else {
                    return Ok(None);
                };
                let owned_bits = extension.as_deref().map_or(0, |e| e.reserved_bits());
                self.check_header(&header, limits, owned_bits)?;
                // check_header bounded the length by the frame size limit (a usize).
                let len = usize::try_from(header.payload_len)
                    .map_err(|_| ProtocolError::InvalidLength)?;
                if header.opcode.is_control() {
                    // Control frames are at most 125 bytes: wait until one is whole.
                    if self.buf.len() < header_len + len {
                        return Ok(None);
                    }
                    self.buf.advance(header_len);
                    let mut payload = self.buf.split_to(len);
                    if let Some(key) = header.mask {
                        apply_mask(&mut payload, key, 0);
                    }
                    return Ok(Some(Received::Control(header.opcode, payload.freeze())));
                }
                if header.fin && header.rsv == 0 && self.message.is_none() {
                    if let Some(received) = self.whole_message(&header, header_len, len)? {
                        return Ok(Some(received));
                    }
                }
                self.buf.advance(header_len);
                self.start_frame(header, len, extension.as_deref_mut());
            }
            if !self.advance_frame(limits, extension.as_deref_mut())? {
                return Ok(None);
            }
            if let Some(received) = self.finish_frame(limits, extension.as_deref_mut())? {
                return Ok(Some(received));
            }
        }
    }

    /// The common case, taken in one step: an uncompressed message in a single frame that is
    /// already whole in the buffer. Returns `None` (consuming nothing) if the frame is not
    /// whole yet; it then goes through the incremental path, which checks UTF-8 as it arrives.
    #[inline]
    fn whole_message(
        &mut self,
        header: &FrameHeader,
        header_len: usize,
        len: usize,
    ) -> Result<Option<Received>, ProtocolError> {
        if self.buf.len() - header_len < len {
            return Ok(None);
        }
        self.buf.advance(header_len);
        let mut payload = self.buf.split_to(len);
        let text = header.opcode == OpCode::Text;
        // Unmasking text also finds out whether it is ASCII, which needs no UTF-8 check.
        let ascii = match header.mask {
            Some(key) if text => apply_mask_ascii(&mut payload, key, 0),
            Some(key) => {
                apply_mask(&mut payload, key, 0);
                false
            }
            None => false,
        };
        let payload = payload.freeze();
        if !text {
            return Ok(Some(Received::Binary(payload)));
        }
        if ascii {
            return Ok(Some(Received::Text(Utf8Bytes::from_validated(payload))));
        }
        // RFC 6455 8.1: a text message that is not valid UTF-8 fails the connection.
        let text = Utf8Bytes::try_from(payload).map_err(|_| ProtocolError::InvalidUtf8)?;
        Ok(Some(Received::Text(text)))
    }

    /// The message at `pos` in the buffer, lent in place, and where the next frame starts; or
    /// `None` when the frame there needs the general path: a control frame, a fragment, a
    /// compressed, incomplete or large (from [`SHARED_FROM`] bytes) frame, a frame while a message
    /// is in progress, and anything invalid, which that path then reports. A frame it
    /// declines is left as it arrived.
    #[inline]
    pub(crate) fn in_place(
        &mut self,
        pos: usize,
        limits: &Limits,
    ) -> Option<(MessageRef<'_>, usize)> {
        if self.frame.is_some() || self.message.is_some() {
            return None;
        }
        let (header, header_len) = FrameHeader::parse(&self.buf[pos..]).ok()??;
        let text = match header.opcode {
            OpCode::Text => true,
            OpCode::Binary => false,
            _ => return None,
        };
        if !header.fin || header.rsv != 0 || self.check_header(&header, limits, 0).is_err() {
            return None;
        }
        // check_header bounded the length by the frame size limit (a usize).
        let len = usize::try_from(header.payload_len).ok()?;
        if len >= SHARED_FROM {
            return None;
        }
        let start = pos + header_len;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())?;
        let payload = &mut self.buf[start..end];
        let ascii = match header.mask {
            Some(key) if text => apply_mask_ascii(payload, key, 0),
            Some(key) => {
                apply_mask(payload, key, 0);
                false
            }
            None => text && payload.is_ascii(),
        };
        if !text {
            return Some((MessageRef::Binary(payload), end));
        }
        // RFC 6455 8.1: text must be valid UTF-8. ASCII is.
        if !ascii && simdutf8::basic::from_utf8(payload).is_err() {
            // Masked again, the frame is as it arrived, for the general path to fail on.
            if let Some(key) = header.mask {
                apply_mask(payload, key, 0);
            }
            return None;
        }
        let text = Utf8Ref::from_validated(payload);
        Some((MessageRef::Text(text), end))
    }

    /// The frame rules that depend on the connection's state.
    fn check_header(
        &self,
        header: &FrameHeader,
        limits: &Limits,
        owned_bits: u8,
    ) -> Result<(), ProtocolError> {
        match (self.role, header.mask.is_some()) {
            // RFC 6455 5.1: a server MUST close the connection upon an unmasked frame.
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            // RFC 6455 5.1: a client MUST close the connection if it detects a masked frame.
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // RFC 6455 5.2: RSV bits MUST be 0 unless an extension defines them; RFC 7692 6.1: the
        // "Per-Message Compressed" bit is only valid on the first frame of a data message.
        let allowed_bits = match header.opcode {
            OpCode::Text | OpCode::Binary => owned_bits,
            _ => 0,
        };
        if header.rsv & !allowed_bits != 0 {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        if header.payload_len > limits.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooBig {
                size: header.payload_len,
                limit: limits.max_frame_size,
            });
        }
        match (header.opcode, &self.message) {
            // RFC 6455 5.4: a continuation frame needs a message in progress.
            (OpCode::Continuation, None) => Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(message)) => {
                if message.fragments >= limits.max_fragments {
                    return Err(ProtocolError::TooManyFragments {
                        limit: limits.max_fragments,
                    });
                }
                check_message_size(
                    message.wire_len,
                    header.payload_len,
                    message.compressed,
                    limits,
                )
            }
            // RFC 6455 5.4: fragments of one message MUST NOT interleave with another message.
            (OpCode::Text | OpCode::Binary, Some(_)) => Err(ProtocolError::ExpectedContinuation),
            (OpCode::Text | OpCode::Binary, None) => {
                check_message_size(0, header.payload_len, header.rsv != 0, limits)
            }
            // Control frames may come between fragments (RFC 6455 5.4).
            _ => Ok(()),
        }
    }

    fn start_frame(
        &mut self,
        header: FrameHeader,
        len: usize,
        extension: Option<&mut (dyn Extension + 'static)>,
    ) {
        match &mut self.message {
            Some(message) => message.fragments += 1,
            None => {
                let compressed = match extension {
                    Some(ext) if header.rsv != 0 => ext.decode_start(header.rsv),
                    _ => false,
                };
                self.message = Some(PartialMessage {
                    text: header.opcode == OpCode::Text,
                    compressed,
                    data: BytesMut::new(),
                    wire_len: 0,
                    fragments: 1,
                    utf8: Utf8Validator::new(),
                });
            }
        }
        self.frame = Some(PartialFrame {
            header,
            len,
            done: 0,
        });
    }

    /// Processes the payload bytes of the current frame that have arrived. Returns whether the
    /// frame's payload is complete.
    fn advance_frame(
        &mut self,
        limits: &Limits,
        extension: Option<&mut (dyn Extension + 'static)>,
    ) -> Result<bool, ProtocolError> {
        let (Some(frame), Some(message)) = (&mut self.frame, &mut self.message) else {
            return Ok(true);
        };
        if message.compressed {
            // Compressed payload is consumed as it is inflated.
            let n = self.buf.len().min(frame.len - frame.done);
            let mut chunk = self.buf.split_to(n);
            if let Some(key) = frame.header.mask {
                apply_mask(&mut chunk, key, frame.done);
            }
            frame.done += n;
            message.wire_len += n;
            let before = message.data.len();
            if let Some(ext) = extension {
                ext.decode(&chunk, &mut message.data, limits.max_message_size)?;
            }
            if message.text {
                message
                    .utf8
                    .feed(&message.data[before..])
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        } else {
            // Uncompressed payload stays at the front of the buffer until the frame is whole.
            let available = self.buf.len().min(frame.len);
            let new = &mut self.buf[frame.done..available];
            if let Some(key) = frame.header.mask {
                apply_mask(new, key, frame.done);
            }
            if message.text {
                message
                    .utf8
                    .feed(new)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            frame.done = available;
        }
        Ok(frame.done == frame.len)
    }

    /// Ends the current frame; returns the message if it was the final frame.
    fn finish_frame(
        &mut self,
        limits: &Limits,
        extension: Option<&mut (dyn Extension + 'static)>,
    ) -> Result<Option<Received>, ProtocolError> {
        let Some(frame) = self.frame.take() else {
            return Ok(None);
        };
        let Some(message) = &mut self.message else {
            return Ok(None);
        };
        let single_frame = frame.header.fin && message.fragments == 1 && !message.compressed;
        let payload = if message.compressed {
            None
        } else {
            message.wire_len += frame.len;
            Some(self.buf.split_to(frame.len))
        };
        if !frame.header.fin {
            if let Some(payload) = payload {
                message.data.extend_from_slice(&payload);
            }
            return Ok(None);
        }
        let Some(mut message) = self.message.take() else {
            return Ok(None);
        };
        let data = match payload {
            // A message in one uncompressed frame: hand out the read buffer's bytes.
            Some(payload) if single_frame => payload,
            Some(payload) => {
                message.data.extend_from_slice(&payload);
                message.data
            }
            None => {
                let before = message.data.len();
                if let Some(ext) = extension {
                    ext.decode_finish(&mut message.data, limits.max_message_size)?;
                }
                if message.text {
                    let tail = &message.data[before..];
                    message
                        .utf8
                        .feed(tail)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                message.data
            }
        };
        if message.text {
            message
                .utf8
                .finish()
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(Received::Text(Utf8Bytes::from_validated(
                data.freeze(),
            ))))
        } else {
            Ok(Some(Received::Binary(data.freeze())))
        }
    }
}

/// Checks a frame of `payload_len` bytes against the message limit, given the `so_far` wire
/// bytes of its message. Compressed wire bytes get deflate's worst-case expansion on top
/// (incompressible data grows by a few bytes per block); their inflated size is capped
/// separately, as it is produced.
fn check_message_size(
    so_far: usize,
    payload_len: u64,
    compressed: bool,
    limits: &Limits,
) -> Result<(), ProtocolError> {
    let max = limits.max_message_size;
    let limit = if compressed {
        max.saturating_add(max / 64).saturating_add(64)
    } else {
        max
    };
    if (so_far as u64).saturating_add(payload_len) > limit as u64 {
        return Err(ProtocolError::MessageTooBig { limit: max });
    }
    Ok(())
}
