//! The extension seam (RFC 6455 section 9).
//!
//! An extension takes part in two phases. During the opening handshake an [`ExtensionConfig`]
//! offers it (client) or chooses among offers (server), producing the parameters both sides
//! agreed on. After the handshake, the negotiated [`Extension`] transforms whole messages and
//! owns the RSV bits it declared: the frame decoder only accepts a set RSV bit when the
//! extension owns it, and hands the payload of every message the extension marked to it.
//!
//! [`deflate`] (RFC 7692, permessage-deflate) is the extension this crate ships.

pub mod deflate;
mod header;

use std::fmt;

use bytes::BytesMut;

pub use header::{parse_extensions, ExtensionOffer, ExtensionParam};

use crate::error::{HandshakeError, ProtocolError};

/// RSV1, the bit permessage-deflate owns, as it appears in a frame's first byte.
pub const RSV1: u8 = 0x40;
/// RSV2, as it appears in a frame's first byte.
pub const RSV2: u8 = 0x20;
/// RSV3, as it appears in a frame's first byte.
pub const RSV3: u8 = 0x10;

/// A negotiated extension: a per-message transform of data messages.
///
/// The connection calls the decode methods in order for each received message: one
/// [`decode_start`](Self::decode_start), then [`decode`](Self::decode) for each piece of payload
/// (frames may arrive in parts), then [`decode_finish`](Self::decode_finish) after the final
/// frame. Control frames never pass through an extension (RFC 7692 6: permessage-deflate applies
/// to data messages only).
pub trait Extension: Send + fmt::Debug {
    /// The registered extension token, as in the `Sec-WebSocket-Extensions` header.
    fn name(&self) -> &str;

    /// The RSV bits (a mask of [`RSV1`], [`RSV2`], [`RSV3`]) this extension may set on the first
    /// frame of a message.
    fn reserved_bits(&self) -> u8;

    /// Starts a received message whose first frame carried `rsv` (only the bits this extension
    /// owns). Returns whether the message is transformed: if so, its payload goes through
    /// [`decode`](Self::decode); otherwise it is delivered as it is.
    fn decode_start(&mut self, rsv: u8) -> bool;

    /// Transforms the next piece of a transformed message's payload, appending the output to
    /// `out`. Must fail with [`ProtocolError::MessageTooBig`] rather than let `out` grow past
    /// `limit` bytes.
    fn decode(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError>;

    /// Ends a transformed message, appending any remaining output to `out` (same limit).
    fn decode_finish(&mut self, out: &mut BytesMut, limit: usize) -> Result<(), ProtocolError>;

    /// Transforms an outgoing data message. Appends the wire payload to `out` and returns the
    /// RSV bits to set on its first frame, or returns `None` (leaving `out` untouched) to send
    /// the message as it is, for example when it is too small to be worth compressing.
    fn encode(&mut self, payload: &[u8], out: &mut BytesMut) -> Option<u8>;
}

/// An extension the local side is willing to use, with its preferences: the negotiation half.
pub trait ExtensionConfig: Send + Sync + fmt::Debug {
    /// The registered extension token.
    fn name(&self) -> &str;

    /// Client: the offers to put in the request, most preferred first.
    fn client_offers(&self) -> Vec<ExtensionOffer>;

    /// Client: checks the server's answer (an element of its `Sec-WebSocket-Extensions` with
    /// this extension's name) against what we offered, and builds the extension.
    fn client_accept(
        &self,
        response: &ExtensionOffer,
    ) -> Result<Box<dyn Extension>, HandshakeError>;

    /// Server: picks the first acceptable offer among `offers` (the client's offers with this
    /// extension's name, in the client's order of preference). Returns the parameters to put
    /// in the response and the extension, or `None` to decline them all.
    fn server_accept(
        &self,
        offers: &[ExtensionOffer],
    ) -> Option<(ExtensionOffer, Box<dyn Extension>)>;
}
