//! The client side of the opening handshake (RFC 6455 4.1).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    HeaderMap, HeaderValue, CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Method, Request, Response, StatusCode, Uri, Version};

use super::head::HeadReader;
use super::key::{accept_key, generate_key};
use super::{encode_headers, handshake_header, has_token, is_token, trim_ows, Negotiated, VERSION};
use crate::config::Limits;
use crate::entropy::Entropy;
use crate::error::HandshakeError;
use crate::extension::{parse_extensions, Extension, ExtensionConfig};

/// What the client asks for besides the URL.
#[non_exhaustive]
#[derive(Clone, Default, Debug)]
pub struct ClientOptions {
    /// The `Origin` header. Browsers always send one; other clients usually leave it out.
    pub origin: Option<String>,
    /// Subprotocols to offer, most preferred first (`Sec-WebSocket-Protocol`). Each must be an
    /// HTTP token, and no two may be equal (RFC 6455 4.1 item 10).
    pub subprotocols: Vec<String>,
    /// Extensions to offer (`Sec-WebSocket-Extensions`), in order of preference.
    pub extensions: Vec<Arc<dyn ExtensionConfig>>,
    /// Extra request headers, such as `Authorization` or `Cookie`, written after the handshake
    /// headers.
    ///
    /// They cannot override the handshake: [`ClientHandshake::new`] rejects `Host`, `Upgrade`,
    /// `Connection`, `Origin` (use [`origin`](Self::origin)), `Content-Length`,
    /// `Transfer-Encoding` and any `Sec-WebSocket-*` with [`HandshakeError::InvalidHeader`],
    /// rather than silently sending something other than what the caller wrote.
    pub headers: HeaderMap,
    /// Bounds on the server's response head (`max_head_size`, `max_headers`,
    /// `max_line_length`); the other limits are not used here.
    pub limits: Limits,
}

/// A successful handshake, from the client's side.
#[derive(Debug)]
pub struct ClientOutcome {
    /// The server's 101 response.
    pub response: Response<()>,
    /// The subprotocol and extension the server agreed to.
    pub negotiated: Negotiated,
    /// Bytes received after the response head: the server's first frames. Feed them to the
    /// connection before anything read later.
    pub leftover: BytesMut,
}

/// The client side of one opening handshake.
///
/// Write [`request_bytes`](Self::request_bytes) to the transport, then pass everything read
/// from it to [`receive_bytes`](Self::receive_bytes) until that returns the outcome or an error.
#[derive(Debug)]
pub struct ClientHandshake {
    request: Request<()>,
    request_bytes: Bytes,
    expected_accept: String,
    subprotocols: Vec<String>,
    /// The extension configs that made at least one offer.
    extensions: Vec<Arc<dyn ExtensionConfig>>,
    reader: HeadReader,
    state: State,
    /// The response head, kept when it failed validation (a redirect, a 401 challenge).
    rejected: Option<Response<()>>,
}

#[derive(Debug)]
enum State {
    Reading,
    Done,
    Failed(HandshakeError),
}

impl ClientHandshake {
    /// Builds the upgrade request for `url`, drawing the key from `entropy`.
    ///
    /// `url` must be `ws://` or `wss://` with a host; the port goes in `Host` only when it is not
    /// the scheme's default. Fails with [`HandshakeError::InvalidUrl`] for other URLs (and for
    /// user info in the URL: it would not be sent, so send an `Authorization` header instead),
    /// and with [`HandshakeError::InvalidHeader`] for an option that cannot be sent. `http::Uri`
    /// silently drops a fragment; use [`parse_url`] to parse a URL and reject fragments.
    pub fn new(
        url: &Uri,
        options: ClientOptions,
        entropy: &mut dyn Entropy,
    ) -> Result<Self, HandshakeError> {
        let host = host_header(url)?;
        let key = generate_key(entropy);
        let mut headers = HeaderMap::new();
        // In the order of the RFC 6455 1.2 example. RFC 6455 4.1 items 4-7 and 9: Host,
        // Upgrade: websocket, Connection: Upgrade, the key and the version MUST be sent.
        headers.insert(HOST, host);
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(SEC_WEBSOCKET_KEY, header_value(&key, "Sec-WebSocket-Key")?);
        if let Some(origin) = &options.origin {
            headers.insert(ORIGIN, header_value(origin, "Origin")?);
        }
        if !options.subprotocols.is_empty() {
            check_subprotocols(&options.subprotocols)?;
            let list = options.subprotocols.join(", ");
            headers.insert(
                SEC_WEBSOCKET_PROTOCOL,
                header_value(&list, "Sec-WebSocket-Protocol")?,
            );
        }
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION));
        let mut offers = Vec::new();
        let mut extensions = Vec::new();
        for config in &options.extensions {
            let before = offers.len();
            offers.extend(config.client_offers().iter().map(ToString::to_string));
            if offers.len() > before {
                extensions.push(Arc::clone(config));
            }
        }
        if !offers.is_empty() {
            let list = offers.join(", ");
            let value = header_value(&list, "Sec-WebSocket-Extensions")?;
            headers.insert(SEC_WEBSOCKET_EXTENSIONS, value);
        }
        for (name, value) in &options.headers {
            if let Some(reserved) = handshake_header(name).or((name == ORIGIN).then_some("Origin"))
            {
                return Err(HandshakeError::InvalidHeader(reserved));
            }
            headers
                .try_append(name, value.clone())
                .map_err(|_| HandshakeError::InvalidHeader("extra"))?;
        }

        let mut request = Request::new(());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = url.clone();
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        let mut encoded = BytesMut::new();
        encode_request(&request, &mut encoded);
        Ok(Self {
            request,
            request_bytes: encoded.freeze(),
            expected_accept: accept_key(key.as_bytes()),
            subprotocols: options.subprotocols,
            extensions,
            reader: HeadReader::new(&options.limits),
            state: State::Reading,
            rejected: None,
        })
    }

    /// The request, for logging and tracing. Its URI is the full URL; on the wire the request
    /// line carries only the path and query.
    pub fn request(&self) -> &Request<()> {
        &self.request
    }

    /// The encoded request to write to the transport.
    pub fn request_bytes(&self) -> &[u8] {
        &self.request_bytes
    }

    /// The server's response head when it was complete but not an acceptable upgrade, so the
    /// caller can follow a redirect (`Location`) or answer a challenge (`WWW-Authenticate`).
    pub fn rejected_response(&self) -> Option<&Response<()>> {
        self.rejected.as_ref()
    }

    /// Feeds bytes read from the server.
    ///
    /// Returns `Ok(None)` while the response head is incomplete: read more and call again.
    /// Returns the outcome once a valid 101 response has arrived; the connection takes over from
    /// there, starting with [`ClientOutcome::leftover`]. Errors are sticky: after one, every
    /// call returns it again. Calling again after success fails with
    /// [`HandshakeError::AlreadyComplete`].
    pub fn receive_bytes(&mut self, data: &[u8]) -> Result<Option<ClientOutcome>, HandshakeError> {
        match &self.state {
            State::Reading => {}
            State::Done => return Err(HandshakeError::AlreadyComplete),
            State::Failed(error) => return Err(error.clone()),
        }
        let result = self.read_response(data);
        match &result {
            Ok(Some(_)) => self.state = State::Done,
            Ok(None) => {}
            Err(error) => self.state = State::Failed(error.clone()),
        }
        result
    }

    fn read_response(&mut self, data: &[u8]) -> Result<Option<ClientOutcome>, HandshakeError> {
        let Some(head) = self.reader.receive(data)? else {
            return Ok(None);
        };
        let response = head.parse_response()?;
        match self.validate(&response) {
            Ok(negotiated) => Ok(Some(ClientOutcome {
                response,
                negotiated,
                leftover: self.reader.take_leftover(),
            })),
            Err(error) => {
                self.rejected = Some(response);
                Err(error)
            }
        }
    }

    /// Checks the response against RFC 6455 4.1 ("the client MUST validate the server's
    /// response as follows") and builds what was negotiated.
    fn validate(&self, response: &Response<()>) -> Result<Negotiated, HandshakeError> {
        // RFC 6455 4.1 item 1: any status other than 101 means the handshake did not happen.
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(HandshakeError::UnexpectedStatus(response.status()));
        }
        // RFC 6455 4.2.2: the server answers with an HTTP/1.1 status line.
        if response.version() != Version::HTTP_11 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        let headers = response.headers();
        // RFC 6455 4.1 item 2: no `Upgrade: websocket` (any case) MUST fail the connection.
        if !has_token(headers, UPGRADE, "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        // RFC 6455 4.1 item 3: no `Connection: Upgrade` (any case) MUST fail the connection.
        if !has_token(headers, CONNECTION, "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        // RFC 6455 4.1 item 4: a missing or wrong Sec-WebSocket-Accept MUST fail the connection.
        let mut accepts = headers.get_all(SEC_WEBSOCKET_ACCEPT).iter();
        match (accepts.next(), accepts.next()) {
            (Some(_), Some(_)) => {
                return Err(HandshakeError::DuplicateHeader("Sec-WebSocket-Accept"))
            }
            (Some(value), None)
                if trim_ows(value.as_bytes()) == self.expected_accept.as_bytes() => {}
            _ => return Err(HandshakeError::InvalidAccept),
        }
        let subprotocol = self.subprotocol(headers)?;
        let extension = self.extension(headers)?;
        Ok(Negotiated {
            subprotocol,
            extension,
        })
    }

    fn subprotocol(&self, headers: &HeaderMap) -> Result<Option<String>, HandshakeError> {
        const NAME: &str = "Sec-WebSocket-Protocol";
        let mut lines = headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter();
        let Some(value) = lines.next() else {
            return Ok(None);
        };
        // The server picks one subprotocol (RFC 6455 4.2.2 item 5.6): one line, one value.
        if lines.next().is_some() {
            return Err(HandshakeError::DuplicateHeader(NAME));
        }
        let value = value
            .to_str()
            .map_err(|_| HandshakeError::InvalidHeader(NAME))?;
        let value = value.trim_matches([' ', '\t']);
        if value.contains(',') {
            return Err(HandshakeError::InvalidHeader(NAME));
        }
        // RFC 6455 4.1 item 6: a subprotocol we did not offer MUST fail the connection.
        if !self.subprotocols.iter().any(|offered| offered == value) {
            return Err(HandshakeError::SubprotocolNotOffered);
        }
        Ok(Some(value.to_owned()))
    }

    fn extension(&self, headers: &HeaderMap) -> Result<Option<Box<dyn Extension>>, HandshakeError> {
        const NAME: &str = "Sec-WebSocket-Extensions";
        let mut accepted = None;
        for value in headers.get_all(SEC_WEBSOCKET_EXTENSIONS) {
            let value = value
                .to_str()
                .map_err(|_| HandshakeError::InvalidHeader(NAME))?;
            for element in parse_extensions(value)? {
                // RFC 6455 4.1 item 5: an extension we did not offer MUST fail the connection.
                let config = self
                    .extensions
                    .iter()
                    .find(|config| config.name().eq_ignore_ascii_case(&element.name))
                    .ok_or(HandshakeError::ExtensionNotOffered)?;
                // One extension, named once: the same one twice is meaningless (RFC 7692 5
                // forbids it for permessage-deflate), and the connection runs a single one.
                if accepted.is_some() {
                    return Err(HandshakeError::InvalidHeader(NAME));
                }
                accepted = Some(config.client_accept(&element)?);
            }
        }
        Ok(accepted)
    }
}

/// Parses a WebSocket URL, rejecting what `http::Uri` would silently drop or misread.
///
/// RFC 6455 3: fragment identifiers are meaningless in WebSocket URIs and MUST NOT be used
/// (`#` must be escaped as `%23`). Also checks the scheme, host and port as
/// [`ClientHandshake::new`] does.
pub fn parse_url(url: &str) -> Result<Uri, HandshakeError> {
    if url.contains('#') {
        return Err(HandshakeError::InvalidUrl("fragment in a WebSocket URL"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| HandshakeError::InvalidUrl("not a URL"))?;
    host_header(&uri)?;
    Ok(uri)
}

/// Writes `request` as an HTTP/1.1 request head.
///
/// The request line carries the URI's path (`/` if empty) and query (RFC 6455 4.1 item 3:
/// the resource name), whatever the URI's scheme and authority; `Host` comes from the headers.
pub fn encode_request(request: &Request<()>, dst: &mut BytesMut) {
    let uri = request.uri();
    let path = match uri.path() {
        "" => "/",
        path => path,
    };
    dst.put_slice(request.method().as_str().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(path.as_bytes());
    if let Some(query) = uri.query() {
        dst.put_u8(b'?');
        dst.put_slice(query.as_bytes());
    }
    dst.put_slice(b" HTTP/1.1\r\n");
    encode_headers(request.headers(), dst);
    dst.put_slice(b"\r\n");
}

/// The `Host` value for a WebSocket URL (RFC 6455 4.1 item 4, RFC 7230 5.4): the host, and the
/// port only when it is not the scheme's default. IPv6 literals keep their brackets.
fn host_header(url: &Uri) -> Result<HeaderValue, HandshakeError> {
    // RFC 6455 3: the scheme is ws (default port 80) or wss (default port 443).
    let default_port = match url.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("ws") => 80,
        Some(scheme) if scheme.eq_ignore_ascii_case("wss") => 443,
        _ => return Err(HandshakeError::InvalidUrl("the scheme must be ws or wss")),
    };
    let authority = url
        .authority()
        .ok_or(HandshakeError::InvalidUrl("missing host"))?;
    if authority.as_str().contains('@') {
        return Err(HandshakeError::InvalidUrl(
            "user info in the URL is not sent",
        ));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(HandshakeError::InvalidUrl("missing host"));
    }
    // `http::Uri` keeps a port it cannot read (`:99999`) in the authority but reports none.
    let port = match authority.as_str().get(host.len()..) {
        None | Some("" | ":") => None,
        Some(rest) => {
            let digits = rest
                .strip_prefix(':')
                .ok_or(HandshakeError::InvalidUrl("invalid host"))?;
            Some(
                digits
                    .parse::<u16>()
                    .map_err(|_| HandshakeError::InvalidUrl("invalid port"))?,
            )
        }
    };
    let value = match port {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    HeaderValue::try_from(value).map_err(|_| HandshakeError::InvalidUrl("invalid host"))
}

fn header_value(value: &str, name: &'static str) -> Result<HeaderValue, HandshakeError> {
    HeaderValue::from_str(value).map_err(|_| HandshakeError::InvalidHeader(name))
}

/// RFC 6455 4.1 item 10: each subprotocol is a token, and no two are the same.
fn check_subprotocols(subprotocols: &[String]) -> Result<(), HandshakeError> {
    for (i, name) in subprotocols.iter().enumerate() {
        let repeated = subprotocols
            .get(..i)
            .is_some_and(|before| before.contains(name));
        if !is_token(name) || repeated {
            return Err(HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"));
        }
    }
    Ok(())
}

// The tests take this file past the 600-line soft cap: one file keeps each RFC 6455 4.1 check
// next to the code that enforces it.
#[cfg(test)]
mod rfc6455_4_1_client {
    use super::*;
    use crate::extension::{ExtensionOffer, RSV1};
    use crate::handshake::test_extension::TestConfig;

    /// Entropy that yields the RFC 6455 section 1.3 nonce, so the key is the RFC's example key.
    fn sample_nonce(dest: &mut [u8]) {
        for (byte, sample) in dest.iter_mut().zip(b"the sample nonce".iter().cycle()) {
            *byte = *sample;
        }
    }

    fn handshake(url: &str, options: ClientOptions) -> Result<ClientHandshake, HandshakeError> {
        ClientHandshake::new(&url.parse().unwrap(), options, &mut sample_nonce)
    }

    fn client() -> ClientHandshake {
        handshake("ws://server.example.com/chat", ClientOptions::default()).unwrap()
    }

    fn request_text(client: &ClientHandshake) -> &str {
        std::str::from_utf8(client.request_bytes()).unwrap()
    }

    const RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

    /// The standard response plus `extra` header lines, and the blank line.
    fn response(extra: &str) -> Vec<u8> {
        format!("{RESPONSE}{extra}\r\n").into_bytes()
    }

    fn fails_with(client: &mut ClientHandshake, response: &[u8]) -> HandshakeError {
        client.receive_bytes(response).unwrap_err()
    }

    #[test]
    fn rfc_section_1_2_example_request_byte_for_byte() {
        let options = ClientOptions {
            origin: Some("http://example.com".into()),
            subprotocols: vec!["chat".into(), "superchat".into()],
            ..ClientOptions::default()
        };
        let client = handshake("ws://server.example.com/chat", options).unwrap();
        assert_eq!(
            request_text(&client),
            "GET /chat HTTP/1.1\r\n\
             Host: server.example.com\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Origin: http://example.com\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             Sec-WebSocket-Version: 13\r\n\
             \r\n"
        );
        assert_eq!(client.request().method(), Method::GET);
        assert_eq!(client.request().uri(), "ws://server.example.com/chat");
    }

    #[test]
    fn rfc_section_1_2_example_response_is_accepted() {
        let options = ClientOptions {
            subprotocols: vec!["chat".into(), "superchat".into()],
            ..ClientOptions::default()
        };
        let mut client = handshake("ws://server.example.com/chat", options).unwrap();
        let outcome = client
            .receive_bytes(&response("Sec-WebSocket-Protocol: chat\r\n"))
            .unwrap()
            .unwrap();
        assert_eq!(outcome.response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(outcome.negotiated.subprotocol.as_deref(), Some("chat"));
        assert!(outcome.negotiated.extension.is_none());
        assert!(outcome.leftover.is_empty());
    }

    #[test]
    fn frame_after_the_response_in_the_same_read_is_leftover() {
        let mut client = client();
        let mut data = response("");
        data.extend_from_slice(b"\x81\x05Hello\x88\x00");
        let outcome = client.receive_bytes(&data).unwrap().unwrap();
        assert_eq!(&outcome.leftover[..], b"\x81\x05Hello\x88\x00");
    }

    #[test]
    fn response_fed_byte_by_byte() {
        let mut client = client();
        let data = response("");
        let (last, rest) = data.split_last().unwrap();
        for byte in rest {
            assert!(client.receive_bytes(&[*byte]).unwrap().is_none());
        }
        assert!(client.receive_bytes(&[*last]).unwrap().is_some());
    }

    #[test]
    fn host_has_the_port_only_when_not_the_default() {
        for (url, host) in [
            ("ws://example.com/", "example.com"),
            ("ws://example.com:80/", "example.com"),
            ("ws://example.com:443/", "example.com:443"),
            ("wss://example.com:443/", "example.com"),
            ("wss://example.com:80/", "example.com:80"),
            ("WSS://example.com:9001/", "example.com:9001"),
            ("ws://example.com:/", "example.com"),
            ("ws://[::1]:9001/", "[::1]:9001"),
            ("ws://[::1]:80/", "[::1]"),
            ("wss://[2001:db8::1]/", "[2001:db8::1]"),
            ("ws://127.0.0.1:8080/", "127.0.0.1:8080"),
        ] {
            let client = handshake(url, ClientOptions::default()).unwrap();
            assert_eq!(client.request().headers()[HOST], host, "{url}");
            let line = format!("\r\nHost: {host}\r\n");
            assert!(request_text(&client).contains(&line), "{url}");
        }
    }

    #[test]
    fn request_line_has_the_path_and_query() {
        for (url, line) in [
            ("ws://h", "GET / HTTP/1.1\r\n"),
            ("ws://h?x=1", "GET /?x=1 HTTP/1.1\r\n"),
            ("ws://h/a/b?c=d&e", "GET /a/b?c=d&e HTTP/1.1\r\n"),
            ("wss://h:1/a%20b", "GET /a%20b HTTP/1.1\r\n"),
        ] {
            let client = handshake(url, ClientOptions::default()).unwrap();
            assert!(request_text(&client).starts_with(line), "{url}");
        }
    }

    #[test]
    fn urls_that_are_not_websocket_urls_are_rejected() {
        for url in [
            "http://h/",
            "https://h/",
            "/chat",
            "ws://u:p@h/",
            "ws://h:99999/",
        ] {
            let err = handshake(url, ClientOptions::default()).unwrap_err();
            assert!(
                matches!(err, HandshakeError::InvalidUrl(_)),
                "{url}: {err:?}"
            );
        }
        for url in [
            "ws://h/#frag",
            "ws://h/a#",
            "ftp://h/",
            "ws:/x",
            "not a url",
        ] {
            assert!(
                matches!(parse_url(url), Err(HandshakeError::InvalidUrl(_))),
                "{url}"
            );
        }
        assert_eq!(parse_url("wss://h/a?b").unwrap(), "wss://h/a?b");
    }

    #[test]
    fn extra_headers_follow_the_handshake_headers() {
        let mut options = ClientOptions::default();
        options
            .headers
            .insert("authorization", "Bearer t".parse().unwrap());
        options.headers.append("x-trace", "1".parse().unwrap());
        options.headers.append("x-trace", "2".parse().unwrap());
        let client = handshake("ws://h/", options).unwrap();
        assert!(request_text(&client).ends_with(
            "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer t\r\nX-Trace: 1\r\nX-Trace: 2\r\n\r\n"
        ));
    }

    #[test]
    fn extra_headers_cannot_override_the_handshake() {
        for (name, label) in [
            ("host", "Host"),
            ("upgrade", "Upgrade"),
            ("connection", "Connection"),
            ("origin", "Origin"),
            ("content-length", "Content-Length"),
            ("sec-websocket-key", "Sec-WebSocket-Key"),
            ("sec-websocket-protocol", "Sec-WebSocket-Protocol"),
            ("sec-websocket-foo", "Sec-WebSocket-*"),
        ] {
            let mut options = ClientOptions::default();
            options.headers.insert(name, "x".parse().unwrap());
            let err = handshake("ws://h/", options).unwrap_err();
            assert_eq!(err, HandshakeError::InvalidHeader(label));
        }
    }

    #[test]
    fn subprotocols_must_be_unique_tokens() {
        for bad in [
            vec!["".to_owned()],
            vec!["a b".into()],
            vec!["a".into(), "a".into()],
        ] {
            let options = ClientOptions {
                subprotocols: bad,
                ..ClientOptions::default()
            };
            let err = handshake("ws://h/", options).unwrap_err();
            assert_eq!(err, HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"));
        }
        let options = ClientOptions {
            origin: Some("http://bad\norigin".into()),
            ..ClientOptions::default()
        };
        assert_eq!(
            handshake("ws://h/", options).unwrap_err(),
            HandshakeError::InvalidHeader("Origin")
        );
    }

    #[test]
    fn extension_offers_are_comma_joined_in_order() {
        let mut deflate = TestConfig::new("x-one", RSV1);
        deflate.offers = vec![
            ExtensionOffer::new("x-one").with_param("a", Some("1".into())),
            ExtensionOffer::new("x-one"),
        ];
        let mut silent = TestConfig::new("x-silent", 0);
        silent.offers.clear();
        let options = ClientOptions {
            extensions: vec![
                Arc::new(deflate),
                Arc::new(silent),
                Arc::new(TestConfig::new("x-two", 0)),
            ],
            ..ClientOptions::default()
        };
        let mut client = handshake("ws://h/", options).unwrap();
        assert!(request_text(&client)
            .contains("\r\nSec-WebSocket-Extensions: x-one; a=1, x-one, x-two\r\n"));
        // A config that offered nothing was not offered.
        let err = fails_with(
            &mut client,
            &response("Sec-WebSocket-Extensions: x-silent\r\n"),
        );
        assert_eq!(err, HandshakeError::ExtensionNotOffered);
    }

    #[test]
    fn accepted_extension_goes_through_its_config() {
        let options = ClientOptions {
            extensions: vec![Arc::new(TestConfig::new("x-one", RSV1))],
            ..ClientOptions::default()
        };
        let mut client = handshake("ws://h/", options.clone()).unwrap();
        let outcome = client
            .receive_bytes(&response("Sec-WebSocket-Extensions: X-One; a=1\r\n"))
            .unwrap()
            .unwrap();
        let extension = outcome.negotiated.extension.unwrap();
        assert_eq!(
            (extension.name(), extension.reserved_bits()),
            ("x-one", RSV1)
        );
        // The config refuses the parameters.
        let mut client = handshake("ws://h/", options).unwrap();
        let err = fails_with(
            &mut client,
            &response("Sec-WebSocket-Extensions: x-one; bad\r\n"),
        );
        assert_eq!(err, HandshakeError::ExtensionNotOffered);
    }

    #[test]
    fn extension_rejections() {
        let options = ClientOptions {
            extensions: vec![
                Arc::new(TestConfig::new("x-one", RSV1)),
                Arc::new(TestConfig::new("x-two", 0)),
            ],
            ..ClientOptions::default()
        };
        for (lines, err) in [
            (
                "Sec-WebSocket-Extensions: x-other\r\n",
                HandshakeError::ExtensionNotOffered,
            ),
            (
                "Sec-WebSocket-Extensions: x-one, x-one\r\n",
                HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"),
            ),
            (
                "Sec-WebSocket-Extensions: x-one\r\nSec-WebSocket-Extensions: x-two\r\n",
                HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"),
            ),
            (
                "Sec-WebSocket-Extensions: x-one;\r\n",
                HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"),
            ),
        ] {
            let mut client = handshake("ws://h/", options.clone()).unwrap();
            let mut data = RESPONSE.as_bytes().to_vec();
            data.extend_from_slice(lines.as_bytes());
            data.extend_from_slice(b"\r\n");
            assert_eq!(fails_with(&mut client, &data), err, "{lines:?}");
        }
    }

    #[test]
    fn non_utf8_header_values_fail_cleanly() {
        let options = ClientOptions {
            subprotocols: vec!["chat".into()],
            ..ClientOptions::default()
        };
        let mut client = handshake("ws://h/", options).unwrap();
        let mut data = RESPONSE.as_bytes().to_vec();
        data.extend_from_slice(b"Sec-WebSocket-Protocol: ch\xffat\r\n\r\n");
        let err = fails_with(&mut client, &data);
        assert_eq!(err, HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"));
        let options = ClientOptions {
            extensions: vec![Arc::new(TestConfig::new("x-one", RSV1))],
            ..ClientOptions::default()
        };
        let mut client = handshake("ws://h/", options).unwrap();
        let mut data = RESPONSE.as_bytes().to_vec();
        data.extend_from_slice(b"Sec-WebSocket-Extensions: x-one; a=\xff\r\n\r\n");
        let err = fails_with(&mut client, &data);
        assert_eq!(
            err,
            HandshakeError::InvalidHeader("Sec-WebSocket-Extensions")
        );
    }

    #[test]
    fn subprotocol_rejections() {
        let options = ClientOptions {
            subprotocols: vec!["chat".into(), "superchat".into()],
            ..ClientOptions::default()
        };
        for (lines, err) in [
            (
                "Sec-WebSocket-Protocol: other\r\n",
                HandshakeError::SubprotocolNotOffered,
            ),
            (
                "Sec-WebSocket-Protocol: CHAT\r\n",
                HandshakeError::SubprotocolNotOffered,
            ),
            (
                "Sec-WebSocket-Protocol:\r\n",
                HandshakeError::SubprotocolNotOffered,
            ),
            (
                "Sec-WebSocket-Protocol: chat, superchat\r\n",
                HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"),
            ),
            (
                "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n",
                HandshakeError::DuplicateHeader("Sec-WebSocket-Protocol"),
            ),
        ] {
            let mut client = handshake("ws://h/", options.clone()).unwrap();
            assert_eq!(fails_with(&mut client, &response(lines)), err, "{lines:?}");
        }
        // Nothing offered, something chosen.
        let err = fails_with(&mut client(), &response("Sec-WebSocket-Protocol: chat\r\n"));
        assert_eq!(err, HandshakeError::SubprotocolNotOffered);
    }

    #[test]
    fn non_101_status_fails_and_keeps_the_response() {
        let mut client = client();
        let data = b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\nContent-Length: 0\r\n\r\n";
        let err = fails_with(&mut client, data);
        assert_eq!(err, HandshakeError::UnexpectedStatus(StatusCode::FOUND));
        assert_eq!(
            client.rejected_response().unwrap().headers()["location"],
            "ws://elsewhere/"
        );
        let err = fails_with(&mut self::client(), b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(err, HandshakeError::UnexpectedStatus(StatusCode::OK));
    }

    #[test]
    fn response_rejections() {
        let accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        let up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
        for (data, err) in [
            (
                format!("HTTP/1.0 101 Switching Protocols\r\n{up}{accept}\r\n"),
                HandshakeError::UnsupportedHttpVersion,
            ),
            (
                format!("HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n{accept}\r\n"),
                HandshakeError::MissingUpgrade,
            ),
            (
                format!(
                    "HTTP/1.1 101 OK\r\nUpgrade: websocketx\r\nConnection: Upgrade\r\n{accept}\r\n"
                ),
                HandshakeError::MissingUpgrade,
            ),
            (
                format!("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n{accept}\r\n"),
                HandshakeError::MissingConnectionUpgrade,
            ),
            (
                format!(
                    "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: close\r\n{accept}\r\n"
                ),
                HandshakeError::MissingConnectionUpgrade,
            ),
            (
                format!("HTTP/1.1 101 OK\r\n{up}\r\n"),
                HandshakeError::InvalidAccept,
            ),
            (
                format!(
                    "HTTP/1.1 101 OK\r\n{up}Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                ),
                HandshakeError::InvalidAccept,
            ),
            (
                format!("HTTP/1.1 101 OK\r\n{up}{accept}{accept}\r\n"),
                HandshakeError::DuplicateHeader("Sec-WebSocket-Accept"),
            ),
            (
                "HTTP/1.1 abc\r\n\r\n".to_owned(),
                HandshakeError::MalformedHead("invalid status"),
            ),
        ] {
            assert_eq!(fails_with(&mut client(), data.as_bytes()), err, "{data:?}");
        }
    }

    #[test]
    fn tokens_are_case_insensitive_comma_lists_over_several_lines() {
        let data = "HTTP/1.1 101 Switching Protocols\r\n\
            upgrade: WebSocket\r\n\
            CONNECTION: keep-alive\r\n\
            Connection: foo, UPGRADE\r\n\
            sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(client().receive_bytes(data.as_bytes()).unwrap().is_some());
    }

    #[test]
    fn errors_are_sticky_and_success_is_final() {
        let mut client = client();
        let err = fails_with(&mut client, b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(fails_with(&mut client, &response("")), err);
        let mut client = self::client();
        assert!(client.receive_bytes(&response("")).unwrap().is_some());
        assert_eq!(
            fails_with(&mut client, b"\x81\x00"),
            HandshakeError::AlreadyComplete
        );
    }

    #[test]
    fn response_head_limits() {
        let mut options = ClientOptions::default();
        options.limits.max_head_size = 64;
        let mut client = handshake("ws://h/", options).unwrap();
        assert!(client
            .receive_bytes(b"HTTP/1.1 101 Switching Protocols\r\n")
            .unwrap()
            .is_none());
        let err = fails_with(&mut client, &[b'x'; 64]);
        assert_eq!(err, HandshakeError::HeadTooLarge { limit: 64 });
        let mut options = ClientOptions::default();
        options.limits.max_headers = 3;
        let mut client = handshake("ws://h/", options).unwrap();
        let err = fails_with(&mut client, &response("X-Extra: 1\r\n"));
        assert_eq!(err, HandshakeError::TooManyHeaders { limit: 3 });
    }
}
