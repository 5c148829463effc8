//! Sending from borrowed payloads, including while received messages are lent out.
//!
//! [`Outbox`] borrows only the sending side of a connection (the frame encoder, the extension
//! and its output buffer), so it can queue replies while the read buffer is lent to the
//! application by [`Connection::receive_buffered_with`](super::Connection::receive_buffered_with).

use bytes::{Bytes, BytesMut};

use super::send::{Payload, Sender, ZERO_COPY_THRESHOLD};
use crate::error::Error;
use crate::extension::Extension;
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::message::{Message, MessageRef};
use crate::opcode::OpCode;

/// Queues messages whose payload the caller only borrows: the bytes are copied into the
/// connection's send queue (compressed first when an extension was negotiated), which is the
/// copy a small frame gets anyway. A payload of 1 KiB or more borrowed from the message being
/// lent, when that message is held as shared bytes, is queued as a slice of them instead, with
/// no copy.
///
/// Get one from [`Connection::outbox`](super::Connection::outbox), or as the second argument
/// of [`Connection::receive_buffered_with`](super::Connection::receive_buffered_with)'s
/// callback. Poll [`poll_transmit`](super::Connection::poll_transmit) afterwards.
pub struct Outbox<'a> {
    pub(super) sender: &'a mut Sender,
    pub(super) extension: Option<&'a mut (dyn Extension + 'static)>,
    pub(super) compressed: &'a mut BytesMut,
    /// Why nothing can be sent (the connection failed, or our close frame went out).
    pub(super) refused: Option<Error>,
    /// A message is being sent in fragments: data messages must wait for its end.
    pub(super) fragmenting: bool,
    /// The buffer of the message being lent, when it is shared bytes (not in place): a large
    /// payload borrowed from it is queued as a slice of it, without a copy.
    pub(super) lent: Option<&'a Bytes>,
}

impl Outbox<'_> {
    /// Queues `message`: text and binary messages as data frames (through the negotiated
    /// extension, as [`Connection::send`](super::Connection::send) does), pings and pongs as
    /// control frames of at most 125 bytes. A close is refused with
    /// [`Error::InvalidInput`]: the closing handshake is
    /// [`Connection::close`](super::Connection::close)'s.
    ///
    /// Fails as [`Connection::send`](super::Connection::send) does once the connection failed
    /// or our close frame was sent.
    #[inline]
    pub fn send(&mut self, message: MessageRef<'_>) -> Result<(), Error> {
        if let Some(error) = &self.refused {
            return Err(error.clone());
        }
        match message {
            MessageRef::Text(text) => self.data(OpCode::Text, text.as_bytes()),
            MessageRef::Binary(data) => self.data(OpCode::Binary, data),
            MessageRef::Ping(payload) => self.control(OpCode::Ping, payload),
            MessageRef::Pong(payload) => self.control(OpCode::Pong, payload),
            MessageRef::Close(_) => Err(Error::InvalidInput(
                "a close frame is sent with Connection::close",
            )),
        }
    }

    #[inline]
    fn data(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        if self.fragmenting {
            return Err(Error::InvalidInput("a fragmented message is in progress"));
        }
        if self.extension.is_none() && self.sender.short_data_frame(opcode, payload) {
            return Ok(());
        }
        let payload = match self.lent {
            Some(lent) if payload.len() >= ZERO_COPY_THRESHOLD && is_part_of(payload, lent) => {
                Payload::Shared(lent.slice_ref(payload))
            }
            _ => Payload::Borrowed(payload),
        };
        queue_data(
            self.sender,
            self.extension.as_deref_mut(),
            self.compressed,
            opcode,
            payload,
        );
        Ok(())
    }

    fn control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        // RFC 6455 5.5: control frames MUST have a payload of 125 bytes or less.
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::InvalidInput("control frame payload over 125 bytes"));
        }
        self.sender
            .frame(true, 0, opcode, Payload::Borrowed(payload));
        Ok(())
    }
}

impl std::fmt::Debug for Outbox<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("refused", &self.refused)
            .field("fragmenting", &self.fragmenting)
            .finish_non_exhaustive()
    }
}

/// The shared buffer of a received data message.
pub(super) fn shared_payload(message: &Message) -> Option<&Bytes> {
    match message {
        Message::Text(text) => Some(text.as_shared()),
        Message::Binary(data) => Some(data),
        _ => None,
    }
}

/// Whether `part` lies within `whole`'s bytes.
fn is_part_of(part: &[u8], whole: &[u8]) -> bool {
    let start = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    at >= start && at + part.len() <= start + whole.len()
}

/// Queues one whole data message, compressed if the extension chooses to (RFC 7692 6).
#[inline]
pub(super) fn queue_data(
    sender: &mut Sender,
    extension: Option<&mut (dyn Extension + 'static)>,
    compressed: &mut BytesMut,
    opcode: OpCode,
    payload: Payload<'_>,
) {
    if let Some(ext) = extension {
        if let Some(rsv) = ext.encode(payload.as_slice(), compressed) {
            let wire = compressed.split().freeze();
            sender.frame(true, rsv, opcode, Payload::Shared(wire));
            return;
        }
    }
    sender.frame(true, 0, opcode, payload);
}
