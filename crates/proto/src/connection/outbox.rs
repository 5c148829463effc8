//! Sending from borrowed payloads, including while received messages are lent out.
//!
//! [`Outbox`] borrows only the sending side of a connection (the frame encoder, the extension
//! and its output buffer), so it can queue replies while the read buffer is lent to the
//! application by [`Connection::receive_buffered_with`](super::Connection::receive_buffered_with).

use bytes::BytesMut;

use super::send::{Payload, Sender};
use crate::error::Error;
use crate::extension::Extension;
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::message::MessageRef;
use crate::opcode::OpCode;

/// Queues messages whose payload the caller only borrows: the bytes are copied into the
/// connection's send queue (compressed first when an extension was negotiated), which is the
/// copy a small frame gets anyway.
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
        queue_data(
            self.sender,
            self.extension.as_deref_mut(),
            self.compressed,
            opcode,
            Payload::Borrowed(payload),
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
