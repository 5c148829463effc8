//! The opening handshake (RFC 6455 section 4), both roles, sans-I/O.
//!
//! The client side is [`ClientHandshake`]: build it from a `ws://` or `wss://` URL and
//! [`ClientOptions`], write [`request_bytes`](ClientHandshake::request_bytes), then feed what the
//! server sends to [`receive_bytes`](ClientHandshake::receive_bytes) until it returns a
//! [`ClientOutcome`]. The server side is [`ServerHandshake`]: feed it what the client sends until
//! [`receive_bytes`](ServerHandshake::receive_bytes) returns an [`UpgradeRequest`], look at the
//! request (path, Origin, cookies, subprotocols), then either [`accept`](ServerHandshake::accept)
//! it or answer with [`reject_response`] / [`error_response`].
//!
//! Both roles read the HTTP head within the handshake [`Limits`](crate::Limits) and hand back
//! the bytes that followed the head in the same read (`leftover`): a server may send its first
//! frames right behind the 101 response, and those bytes must go to the frame decoder.
//!
//! Requests and responses are `http` crate types, so an HTTP server that already parsed the
//! request (hyper, say) can validate it with [`UpgradeRequest::from_request`] and build the
//! answer with [`accept_response`].
//!
//! ```
//! use switchboard_proto::handshake::{Accept, ClientHandshake, ClientOptions, ServerHandshake};
//! use switchboard_proto::Limits;
//!
//! let url: http::Uri = "ws://example.com/chat".parse().unwrap();
//! let mut entropy = |dest: &mut [u8]| dest.fill(7); // use an OS-seeded generator in production
//! let mut client = ClientHandshake::new(&url, ClientOptions::default(), &mut entropy).unwrap();
//!
//! let mut server = ServerHandshake::new(&Limits::default());
//! let request = server.receive_bytes(client.request_bytes()).unwrap().unwrap();
//! assert_eq!(request.path(), "/chat");
//! let (response, _negotiated, _leftover) = server.accept(&request, Accept::default(), &[]);
//!
//! let outcome = client.receive_bytes(&response).unwrap().unwrap();
//! assert_eq!(outcome.response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
//! assert!(outcome.leftover.is_empty());
//! ```

mod client;
mod head;
mod key;
mod server;

use bytes::{BufMut, BytesMut};
use http::header::{HeaderMap, HeaderName};

pub use client::{encode_request, parse_url, ClientHandshake, ClientOptions, ClientOutcome};
pub use key::{accept_key, generate_key};
pub use server::{
    accept_response, encode_response, error_response, reject_response, Accept, ServerHandshake,
    UpgradeRequest,
};

use crate::extension::Extension;

/// What the two ends agreed on in the handshake.
#[derive(Debug, Default)]
pub struct Negotiated {
    /// The subprotocol the server chose among the client's offers, if any.
    pub subprotocol: Option<String>,
    /// The extension both sides use, if any.
    ///
    /// At most one: the connection runs a single per-message transform. A server accepts the
    /// first configured extension that takes one of the client's offers; a client fails the
    /// handshake if the server accepts more than one.
    pub extension: Option<Box<dyn Extension>>,
}

/// `Sec-WebSocket-Version`, the only version RFC 6455 defines.
const VERSION: &str = "13";

/// Header names as RFC 6455 and RFC 7230 spell them, for writing heads and naming errors.
const SPELLINGS: [&str; 12] = [
    "Host",
    "Upgrade",
    "Connection",
    "Origin",
    "Content-Length",
    "Transfer-Encoding",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "WWW-Authenticate",
];

/// The conventional spelling of a header name, if it is one of [`SPELLINGS`].
fn spelling(name: &HeaderName) -> Option<&'static str> {
    SPELLINGS
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(name.as_str()))
}

/// Whether any `name` header line holds `token` in its comma-separated list, ignoring ASCII
/// case (RFC 7230 7 list syntax; RFC 6455 4.2.1 compares `Upgrade` and `Connection` tokens
/// case-insensitively).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| trim_ows(item).eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Trims optional whitespace (space and tab) around a list element.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// RFC 7230 3.2.6 tchar: what a token (such as a subprotocol name) may contain.
fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// If `name` is a header whose value the handshake itself decides, its name for an error.
///
/// Extra headers from the application never replace or duplicate these. `Content-Length` and
/// `Transfer-Encoding` are here too: an upgrade request and a 101 response carry no body
/// (RFC 7230 3.3.2: a server MUST NOT send Content-Length in a 1xx response).
fn handshake_header(name: &HeaderName) -> Option<&'static str> {
    use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING, UPGRADE};
    if [HOST, UPGRADE, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING].contains(name) {
        return spelling(name);
    }
    if name.as_str().starts_with("sec-websocket-") {
        return Some(spelling(name).unwrap_or("Sec-WebSocket-*"));
    }
    None
}

/// Writes every header as `Name: value\r\n`.
///
/// `http` stores names in lower case. Names are case-insensitive (RFC 7230 3.2), but some
/// servers and middleboxes compare them byte for byte, so the conventional spelling is written:
/// the handshake headers as RFC 6455 spells them, others capitalised per dash-separated word.
fn encode_headers(headers: &HeaderMap, dst: &mut BytesMut) {
    for (name, value) in headers {
        put_header_name(name, dst);
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
}

fn put_header_name(name: &HeaderName, dst: &mut BytesMut) {
    if let Some(spelling) = spelling(name) {
        dst.put_slice(spelling.as_bytes());
        return;
    }
    let mut upper = true;
    for &byte in name.as_str().as_bytes() {
        dst.put_u8(if upper {
            byte.to_ascii_uppercase()
        } else {
            byte
        });
        upper = byte == b'-';
    }
}

#[cfg(test)]
mod rfc7230_headers {
    use http::header::HeaderValue;

    use super::*;

    fn map(lines: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn tokens_match_case_insensitively_in_lists_over_several_lines() {
        let headers = map(&[
            ("connection", "keep-alive"),
            ("connection", " foo ,\tUpGrade "),
        ]);
        assert!(has_token(&headers, http::header::CONNECTION, "upgrade"));
        assert!(!has_token(&headers, http::header::CONNECTION, "close"));
        let headers = map(&[("upgrade", "websocketx, web socket")]);
        assert!(!has_token(&headers, http::header::UPGRADE, "websocket"));
    }

    #[test]
    fn header_names_are_written_in_their_conventional_spelling() {
        let headers = map(&[
            ("sec-websocket-accept", "a"),
            ("upgrade", "websocket"),
            ("x-forwarded-for", "b"),
            ("www-authenticate", "c"),
        ]);
        let mut dst = BytesMut::new();
        encode_headers(&headers, &mut dst);
        assert_eq!(
            &dst[..],
            b"Sec-WebSocket-Accept: a\r\nUpgrade: websocket\r\nX-Forwarded-For: b\r\n\
              WWW-Authenticate: c\r\n"
        );
    }

    #[test]
    fn ows_trimming() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"  "), b"");
        assert_eq!(trim_ows(b""), b"");
    }
}

/// A do-nothing extension with a configurable name, offers and RSV bits, for negotiation tests
/// (the real permessage-deflate lives in `extension::deflate`).
#[cfg(test)]
pub(crate) mod test_extension {
    use bytes::BytesMut;

    use crate::error::{HandshakeError, ProtocolError};
    use crate::extension::{Extension, ExtensionConfig, ExtensionOffer};

    /// Offers `offers`. As a server, takes the first offer without a `decline` parameter and
    /// answers with it; as a client, refuses answers with a `bad` parameter.
    #[derive(Debug)]
    pub(crate) struct TestConfig {
        pub(crate) name: &'static str,
        pub(crate) offers: Vec<ExtensionOffer>,
        pub(crate) rsv: u8,
    }

    impl TestConfig {
        pub(crate) fn new(name: &'static str, rsv: u8) -> Self {
            Self {
                name,
                offers: vec![ExtensionOffer::new(name)],
                rsv,
            }
        }

        fn build(&self) -> Box<dyn Extension> {
            Box::new(TestExtension {
                name: self.name,
                rsv: self.rsv,
            })
        }
    }

    impl ExtensionConfig for TestConfig {
        fn name(&self) -> &str {
            self.name
        }

        fn client_offers(&self) -> Vec<ExtensionOffer> {
            self.offers.clone()
        }

        fn client_accept(
            &self,
            response: &ExtensionOffer,
        ) -> Result<Box<dyn Extension>, HandshakeError> {
            if response.params.iter().any(|p| p.name == "bad") {
                return Err(HandshakeError::ExtensionNotOffered);
            }
            Ok(self.build())
        }

        fn server_accept(
            &self,
            offers: &[ExtensionOffer],
        ) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
            let offer = offers
                .iter()
                .find(|offer| !offer.params.iter().any(|p| p.name == "decline"))?;
            Some((offer.clone(), self.build()))
        }
    }

    #[derive(Debug)]
    struct TestExtension {
        name: &'static str,
        rsv: u8,
    }

    impl Extension for TestExtension {
        fn name(&self) -> &str {
            self.name
        }

        fn reserved_bits(&self) -> u8 {
            self.rsv
        }

        fn decode_start(&mut self, _rsv: u8) -> bool {
            false
        }

        fn decode(&mut self, _: &[u8], _: &mut BytesMut, _: usize) -> Result<(), ProtocolError> {
            Ok(())
        }

        fn decode_finish(&mut self, _: &mut BytesMut, _: usize) -> Result<(), ProtocolError> {
            Ok(())
        }

        fn encode(&mut self, _: &[u8], _: &mut BytesMut) -> Option<u8> {
            None
        }
    }
}
