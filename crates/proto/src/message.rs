//! Messages: what the application sends and receives.

use bytes::Bytes;

use crate::close::CloseFrame;
use crate::utf8::{Utf8Bytes, Utf8Ref};

/// A WebSocket message, or a control frame the application may want to see.
///
/// Data messages arrive whole, however they were fragmented on the wire, and decompressed if
/// an extension compressed them. Text is already validated (its type proves it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping. Unless auto-pong is off, the connection has already answered it.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's close frame (`None` when it carried no status code, which the RFC reports as
    /// 1005). After it, no more messages arrive.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// Whether this is a text or binary message.
    #[inline]
    pub fn is_data(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Binary(_))
    }

    /// The payload as bytes: the text, the binary data, the control payload, or the close
    /// reason.
    pub fn as_bytes(&self) -> &[u8] {
        MessageRef::from(self).as_bytes()
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::Text(text.into())
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Self::Binary(data.into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Self::Binary(data)
    }
}

/// A received message lent out instead of handed over: its payload stays where it was
/// decoded, so taking it costs no reference count and no copy.
///
/// [`Connection::receive_buffered_with`](crate::Connection::receive_buffered_with) lends
/// messages that arrived whole in one uncompressed frame straight from the read buffer, and
/// the others from the [`Message`] it decoded them into. [`to_message`](Self::to_message)
/// makes an owned copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRef<'a> {
    /// A text message.
    Text(Utf8Ref<'a>),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping. Unless auto-pong is off, the connection has already answered it.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame, as in [`Message::Close`].
    Close(Option<&'a CloseFrame>),
}

impl<'a> MessageRef<'a> {
    /// Whether this is a text or binary message.
    #[inline]
    pub fn is_data(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Binary(_))
    }

    /// The payload as bytes, as [`Message::as_bytes`].
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data,
            Self::Close(Some(frame)) => frame.reason.as_bytes(),
            Self::Close(None) => &[],
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An owned copy.
    pub fn to_message(&self) -> Message {
        match *self {
            Self::Text(text) => Message::Text(text.into()),
            Self::Binary(data) => Message::Binary(Bytes::copy_from_slice(data)),
            Self::Ping(data) => Message::Ping(Bytes::copy_from_slice(data)),
            Self::Pong(data) => Message::Pong(Bytes::copy_from_slice(data)),
            Self::Close(frame) => Message::Close(frame.cloned()),
        }
    }
}

impl<'a> From<&'a Message> for MessageRef<'a> {
    #[inline]
    fn from(message: &'a Message) -> Self {
        match message {
            Message::Text(text) => Self::Text(text.into()),
            Message::Binary(data) => Self::Binary(data),
            Message::Ping(data) => Self::Ping(data),
            Message::Pong(data) => Self::Pong(data),
            Message::Close(frame) => Self::Close(frame.as_ref()),
        }
    }
}
