//! The server side of the opening handshake (RFC 6455 4.2).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE,
    HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, TRANSFER_ENCODING, UPGRADE,
};
use http::{Method, Request, Response, StatusCode, Uri, Version};

use super::head::HeadReader;
use super::key::{accept_key, is_valid_key};
use super::{encode_headers, handshake_header, has_token, is_token, trim_ows, Negotiated, VERSION};
use crate::config::Limits;
use crate::error::HandshakeError;
use crate::extension::{parse_extensions, ExtensionConfig, ExtensionOffer};

/// The server side of one opening handshake. It owns the receive buffer, so the bytes that
/// follow the request head come back from [`accept`](Self::accept) instead of being lost.
#[derive(Debug)]
pub struct ServerHandshake {
    reader: HeadReader,
    state: State,
}

#[derive(Debug)]
enum State {
    Reading,
    Complete,
    Failed(HandshakeError),
}

impl ServerHandshake {
    /// A handshake that reads the request head within `limits` (`max_head_size`,
    /// `max_headers`, `max_line_length`).
    pub fn new(limits: &Limits) -> Self {
        Self {
            reader: HeadReader::new(limits),
            state: State::Reading,
        }
    }

    /// Feeds bytes read from the client.
    ///
    /// Returns `Ok(None)` while the request head is incomplete: read more and call again.
    /// Returns the request once a complete, valid upgrade request has arrived: decide, then
    /// call [`accept`](Self::accept), or write [`reject_response`] and close. On error, write
    /// [`error_response`] and close. Errors are sticky: after one, every call returns it again.
    /// Calling again after a request was returned fails with
    /// [`HandshakeError::AlreadyComplete`].
    pub fn receive_bytes(&mut self, data: &[u8]) -> Result<Option<UpgradeRequest>, HandshakeError> {
        match &self.state {
            State::Reading => {}
            State::Complete => return Err(HandshakeError::AlreadyComplete),
            State::Failed(error) => return Err(error.clone()),
        }
        let result = match self.reader.receive(data) {
            Ok(Some(head)) => head
                .parse_request()
                .and_then(UpgradeRequest::validate)
                .map(Some),
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        match &result {
            Ok(Some(_)) => self.state = State::Complete,
            Ok(None) => {}
            Err(error) => self.state = State::Failed(error.clone()),
        }
        result
    }

    /// Accepts `request` (the one [`receive_bytes`](Self::receive_bytes) returned): returns the
    /// 101 response to write, what was negotiated (see [`accept_response`]), and the bytes that
    /// followed the request head, which belong to the connection's frame decoder.
    pub fn accept(
        mut self,
        request: &UpgradeRequest,
        accept: Accept,
        extensions: &[Arc<dyn ExtensionConfig>],
    ) -> (Bytes, Negotiated, BytesMut) {
        let (response, negotiated) = accept_response(request, accept, extensions);
        let mut encoded = BytesMut::new();
        encode_response(&response, &mut encoded);
        (encoded.freeze(), negotiated, self.reader.take_leftover())
    }
}

/// A valid WebSocket upgrade request (RFC 6455 4.2.1), with what it offers already parsed.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    request: Request<()>,
    key: String,
    origin: Option<String>,
    subprotocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
}

impl UpgradeRequest {
    /// Validates a request parsed elsewhere (by hyper, say) as a WebSocket upgrade.
    ///
    /// The error's [`http_status`](HandshakeError::http_status) is the status to answer with;
    /// [`error_response`] builds the whole answer.
    pub fn from_request(request: &Request<()>) -> Result<Self, HandshakeError> {
        Self::validate(request.clone())
    }

    /// RFC 6455 4.2.1: what the server reads from the client's handshake, in the RFC's order.
    fn validate(request: Request<()>) -> Result<Self, HandshakeError> {
        // RFC 6455 4.2.1 item 1: the request MUST be a GET ...
        if request.method() != Method::GET {
            return Err(HandshakeError::MethodNotGet);
        }
        // ... of HTTP/1.1 or higher.
        if request.version() < Version::HTTP_11 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        // RFC 6455 4.1 item 3: the Request-URI is the resource name, a path (or absolute URI).
        if !request.uri().path().starts_with('/') {
            return Err(HandshakeError::InvalidUrl(
                "the request target must be a path",
            ));
        }
        let headers = request.headers();
        // RFC 6455 4.2.1 item 2: a Host header field; RFC 7230 5.4: exactly one, or 400.
        single(headers, HOST, "Host")?.ok_or(HandshakeError::MissingHost)?;
        // RFC 6455 4.2.1 item 3: Upgrade containing "websocket", case-insensitively.
        if !has_token(headers, UPGRADE, "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        // RFC 6455 4.2.1 item 4: Connection containing "Upgrade", case-insensitively.
        if !has_token(headers, CONNECTION, "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        // RFC 6455 4.2.1 item 5: Sec-WebSocket-Key, base64 of 16 bytes.
        let key = single(headers, SEC_WEBSOCKET_KEY, "Sec-WebSocket-Key")?
            .map(|value| trim_ows(value.as_bytes()))
            .filter(|key| is_valid_key(key))
            .and_then(|key| std::str::from_utf8(key).ok())
            .ok_or(HandshakeError::InvalidKey)?
            .to_owned();
        // RFC 6455 4.2.1 item 6: Sec-WebSocket-Version 13; 4.4: otherwise 426 with the
        // versions we speak. A repeated header is not "13" either.
        let mut versions = headers.get_all(SEC_WEBSOCKET_VERSION).iter();
        match (versions.next(), versions.next()) {
            (Some(value), None) if trim_ows(value.as_bytes()) == VERSION.as_bytes() => {}
            _ => return Err(HandshakeError::UnsupportedVersion),
        }
        // RFC 6455 4.2.1 item 7: an optional Origin (RFC 6454: one ASCII serialization).
        let origin = single(headers, ORIGIN, "Origin")?
            .map(|value| value.to_str().map(str::to_owned))
            .transpose()
            .map_err(|_| HandshakeError::InvalidHeader("Origin"))?;
        // RFC 6455 4.2.1 items 8 and 9: optional subprotocol and extension lists.
        let subprotocols = offered_subprotocols(headers)?;
        let mut extensions = Vec::new();
        for value in headers.get_all(SEC_WEBSOCKET_EXTENSIONS) {
            let value = value
                .to_str()
                .map_err(|_| HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"))?;
            extensions.extend(parse_extensions(value)?);
        }
        Ok(Self {
            request,
            key,
            origin,
            subprotocols,
            extensions,
        })
    }

    /// The whole request.
    pub fn request(&self) -> &Request<()> {
        &self.request
    }

    /// Takes the request apart from its parsed offers.
    pub fn into_request(self) -> Request<()> {
        self.request
    }

    /// The request target.
    pub fn uri(&self) -> &Uri {
        self.request.uri()
    }

    /// The path of the request target, such as `/chat`.
    pub fn path(&self) -> &str {
        self.request.uri().path()
    }

    /// The query of the request target, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.request.uri().query()
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The `Host` header, if it is visible ASCII.
    pub fn host(&self) -> Option<&str> {
        self.headers()
            .get(HOST)
            .and_then(|value| value.to_str().ok())
    }

    /// The `Origin` header, if sent. Browsers always send it: check it against an allow list
    /// to stop other sites' pages from connecting with the user's cookies (RFC 6455 10.2).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The cookies sent in `Cookie` headers, as `(name, value)` pairs in order. Header lines
    /// that are not visible ASCII and pairs without `=` are skipped; the raw lines are in
    /// [`headers`](Self::headers).
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
    }

    /// The value of the first cookie called `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// The `Sec-WebSocket-Key`, as sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The extension offers, in the client's order of preference.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }
}

/// All `Sec-WebSocket-Protocol` lines, split at commas and trimmed (RFC 6455 4.2.1 item 8).
fn offered_subprotocols(headers: &HeaderMap) -> Result<Vec<String>, HandshakeError> {
    let invalid = || HandshakeError::InvalidHeader("Sec-WebSocket-Protocol");
    let mut offered = Vec::new();
    for value in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        for name in value.to_str().map_err(|_| invalid())?.split(',') {
            let name = name.trim_matches([' ', '\t']);
            // Empty list elements are allowed by the #rule (RFC 7230 7).
            if name.is_empty() {
                continue;
            }
            // RFC 6455 4.1 item 10: each element is a token.
            if !is_token(name) {
                return Err(invalid());
            }
            offered.push(name.to_owned());
        }
    }
    Ok(offered)
}

/// The value of a header that may appear at most once.
fn single<'a>(
    headers: &'a HeaderMap,
    name: HeaderName,
    label: &'static str,
) -> Result<Option<&'a HeaderValue>, HandshakeError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (_, Some(_)) => Err(HandshakeError::DuplicateHeader(label)),
        (value, None) => Ok(value),
    }
}

/// How the application answers an [`UpgradeRequest`] it accepts.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct Accept {
    /// The subprotocol to use. It must be one of [`UpgradeRequest::subprotocols`]; any other
    /// value is not sent (RFC 6455 4.2.2 item 5.6: the server MUST pick one the client
    /// offered), and [`Negotiated::subprotocol`] is `None` so the application can see that.
    pub subprotocol: Option<String>,
    /// Extra response headers, such as `Set-Cookie`. Handshake headers (`Upgrade`,
    /// `Connection`, `Sec-WebSocket-*`) and body headers (`Content-Length`,
    /// `Transfer-Encoding`) are skipped: the handshake decides those.
    pub headers: HeaderMap,
}

impl Accept {
    /// Accepts with `subprotocol`.
    pub fn with_subprotocol(subprotocol: impl Into<String>) -> Self {
        Self {
            subprotocol: Some(subprotocol.into()),
            headers: HeaderMap::new(),
        }
    }
}

/// Builds the 101 response that accepts `request`, and what it negotiates.
///
/// Extensions: for each config in `extensions`, in order, the client's offers with that name
/// go to [`ExtensionConfig::server_accept`]; the first config that accepts one wins, and its
/// answer goes in `Sec-WebSocket-Extensions`. Only one extension is negotiated because the
/// connection runs a single per-message transform; this also means no two negotiated
/// extensions can claim the same RSV bit.
pub fn accept_response(
    request: &UpgradeRequest,
    accept: Accept,
    extensions: &[Arc<dyn ExtensionConfig>],
) -> (Response<()>, Negotiated) {
    let mut headers = HeaderMap::new();
    // RFC 6455 4.2.2 items 5.2 and 5.3: Upgrade: websocket and Connection: Upgrade.
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    // RFC 6455 4.2.2 item 5.4: Sec-WebSocket-Accept from the client's key. Base64 is always a
    // valid header value, so the error arm is unreachable.
    if let Ok(value) = HeaderValue::try_from(accept_key(request.key.as_bytes())) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    // RFC 6455 4.2.2 item 5.6: only a subprotocol the client offered. Offers are tokens, so
    // the value is a valid header value.
    let subprotocol = accept
        .subprotocol
        .filter(|chosen| request.subprotocols.contains(chosen))
        .and_then(|chosen| Some((HeaderValue::from_str(&chosen).ok()?, chosen)));
    let subprotocol = subprotocol.map(|(value, chosen)| {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
        chosen
    });
    let mut extension = None;
    for config in extensions {
        let offers: Vec<ExtensionOffer> = request
            .extensions
            .iter()
            .filter(|offer| offer.name.eq_ignore_ascii_case(config.name()))
            .cloned()
            .collect();
        if offers.is_empty() {
            continue;
        }
        let Some((answer, accepted)) = config.server_accept(&offers) else {
            continue;
        };
        // RFC 6455 4.2.2 item 5.5: the answer must be sent for the extension to be in use; an
        // answer that is not a valid header value cannot be, so the extension is declined.
        if let Ok(value) = HeaderValue::try_from(answer.to_string()) {
            headers.insert(SEC_WEBSOCKET_EXTENSIONS, value);
            extension = Some(accepted);
            break;
        }
    }
    for (name, value) in &accept.headers {
        if handshake_header(name).is_none() {
            // Only fails past http's 32 768 distinct names; such headers are dropped.
            let _ = headers.try_append(name, value.clone());
        }
    }
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.version_mut() = Version::HTTP_11;
    *response.headers_mut() = headers;
    (
        response,
        Negotiated {
            subprotocol,
            extension,
        },
    )
}

/// Writes `response` as an HTTP/1.1 response head (status line, headers, blank line). The
/// version written is always HTTP/1.1, the only one the handshake speaks.
pub fn encode_response(response: &Response<()>, dst: &mut BytesMut) {
    put_status_line(response.status(), dst);
    encode_headers(response.headers(), dst);
    dst.put_slice(b"\r\n");
}

/// A complete HTTP/1.1 response that refuses the upgrade: `status`, `headers`, then
/// `Content-Length` and `Connection: close` (the caller closes after writing it), then `body`.
/// `Content-Length`, `Connection` and `Transfer-Encoding` in `headers` are replaced by these.
pub fn reject_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Bytes {
    let mut dst = BytesMut::with_capacity(128 + body.len());
    put_status_line(status, &mut dst);
    let mut kept = HeaderMap::new();
    for (name, value) in headers {
        if ![CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING].contains(name) {
            // Only fails past http's 32 768 distinct names; such headers are dropped.
            let _ = kept.try_append(name, value.clone());
        }
    }
    encode_headers(&kept, &mut dst);
    dst.put_slice(b"Content-Length: ");
    dst.put_slice(body.len().to_string().as_bytes());
    dst.put_slice(b"\r\nConnection: close\r\n\r\n");
    dst.put_slice(body);
    dst.freeze()
}

/// The response a server writes for a failed handshake: the error's
/// [`http_status`](HandshakeError::http_status), the headers that status calls for, and the
/// error's text as a short plain-text body.
pub fn error_response(error: &HandshakeError) -> Bytes {
    let status = error.http_status();
    let mut headers = HeaderMap::new();
    if status == StatusCode::UPGRADE_REQUIRED {
        // RFC 7231 6.5.15: a 426 response MUST send Upgrade with the protocols to switch to.
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    }
    if *error == HandshakeError::UnsupportedVersion {
        // RFC 6455 4.4: answer an unsupported version with the versions we support.
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        // RFC 7231 6.5.5: a 405 response MUST list the allowed methods.
        headers.insert(ALLOW, HeaderValue::from_static("GET"));
    }
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reject_response(status, &headers, format!("{error}\n").as_bytes())
}

fn put_status_line(status: StatusCode, dst: &mut BytesMut) {
    dst.put_slice(b"HTTP/1.1 ");
    dst.put_slice(status.as_str().as_bytes());
    dst.put_u8(b' ');
    // The reason phrase may be empty, but the space before it may not (RFC 7230 3.1.2).
    dst.put_slice(status.canonical_reason().unwrap_or_default().as_bytes());
    dst.put_slice(b"\r\n");
}

// The tests take this file past the 600-line soft cap: one file keeps each RFC 6455 4.2 check
// next to the code that enforces it.
#[cfg(test)]
mod rfc6455_4_2_server {
    use super::*;
    use crate::extension::{RSV1, RSV2};
    use crate::handshake::test_extension::TestConfig;

    /// The RFC 6455 section 1.2 example request.
    const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\
        \r\n";

    const BASE: &str = "Host: h\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n";

    /// `GET /` with the required headers plus `extra` header lines.
    fn request(extra: &str) -> Vec<u8> {
        format!("GET / HTTP/1.1\r\n{BASE}{extra}\r\n").into_bytes()
    }

    fn receive(data: &[u8]) -> Result<UpgradeRequest, HandshakeError> {
        let mut server = ServerHandshake::new(&Limits::default());
        server.receive_bytes(data).map(|request| request.unwrap())
    }

    fn accept_with(
        data: &[u8],
        accept: Accept,
        extensions: &[Arc<dyn ExtensionConfig>],
    ) -> (String, Negotiated) {
        let request = receive(data).unwrap();
        let (response, negotiated) = accept_response(&request, accept, extensions);
        let mut encoded = BytesMut::new();
        encode_response(&response, &mut encoded);
        (String::from_utf8(encoded.to_vec()).unwrap(), negotiated)
    }

    #[test]
    fn rfc_section_1_2_example_byte_for_byte() {
        let mut server = ServerHandshake::new(&Limits::default());
        let request = server
            .receive_bytes(RFC_REQUEST.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.query(), None);
        assert_eq!(request.host(), Some("server.example.com"));
        assert_eq!(request.origin(), Some("http://example.com"));
        assert_eq!(request.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(request.subprotocols(), ["chat", "superchat"]);
        assert!(request.extensions().is_empty());
        let (response, negotiated, leftover) =
            server.accept(&request, Accept::with_subprotocol("chat"), &[]);
        assert_eq!(
            &response[..],
            b"HTTP/1.1 101 Switching Protocols\r\n\
              Upgrade: websocket\r\n\
              Connection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Protocol: chat\r\n\
              \r\n"
        );
        assert_eq!(negotiated.subprotocol.as_deref(), Some("chat"));
        assert!(leftover.is_empty());
    }

    #[test]
    fn frame_after_the_request_in_the_same_read_is_leftover() {
        let mut server = ServerHandshake::new(&Limits::default());
        let mut data = request("");
        data.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        let request = server.receive_bytes(&data).unwrap().unwrap();
        let (_, _, leftover) = server.accept(&request, Accept::default(), &[]);
        assert_eq!(
            &leftover[..],
            b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
        );
    }

    #[test]
    fn request_fed_byte_by_byte() {
        let mut server = ServerHandshake::new(&Limits::default());
        let (last, rest) = RFC_REQUEST.as_bytes().split_last().unwrap();
        for byte in rest {
            assert!(server.receive_bytes(&[*byte]).unwrap().is_none());
        }
        assert!(server.receive_bytes(&[*last]).unwrap().is_some());
    }

    #[test]
    fn every_rejection_with_its_status() {
        let without = |name: &str| {
            let base: String = BASE
                .lines()
                .filter(|l| !l.starts_with(name))
                .map(|l| format!("{l}\r\n"))
                .collect();
            format!("GET / HTTP/1.1\r\n{base}\r\n").into_bytes()
        };
        let cases: Vec<(Vec<u8>, HandshakeError, u16)> = vec![
            (
                format!("POST / HTTP/1.1\r\n{BASE}\r\n").into_bytes(),
                HandshakeError::MethodNotGet,
                405,
            ),
            (
                format!("GET / HTTP/1.0\r\n{BASE}\r\n").into_bytes(),
                HandshakeError::UnsupportedHttpVersion,
                505,
            ),
            (
                format!("GET / HTTP/2.0\r\n{BASE}\r\n").into_bytes(),
                HandshakeError::UnsupportedHttpVersion,
                505,
            ),
            (
                format!("GET * HTTP/1.1\r\n{BASE}\r\n").into_bytes(),
                HandshakeError::InvalidUrl("the request target must be a path"),
                400,
            ),
            (without("Host"), HandshakeError::MissingHost, 400),
            (
                request("Host: other\r\n"),
                HandshakeError::DuplicateHeader("Host"),
                400,
            ),
            (without("Upgrade"), HandshakeError::MissingUpgrade, 426),
            (
                without("Connection"),
                HandshakeError::MissingConnectionUpgrade,
                426,
            ),
            (
                without("Sec-WebSocket-Key"),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                request("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
                HandshakeError::DuplicateHeader("Sec-WebSocket-Key"),
                400,
            ),
            (
                without("Sec-WebSocket-Version"),
                HandshakeError::UnsupportedVersion,
                426,
            ),
            (
                request("Sec-WebSocket-Version: 13\r\n"),
                HandshakeError::UnsupportedVersion,
                426,
            ),
            (
                request("Origin: a\r\nOrigin: b\r\n"),
                HandshakeError::DuplicateHeader("Origin"),
                400,
            ),
            (
                request("Sec-WebSocket-Protocol: a b\r\n"),
                HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"),
                400,
            ),
            (
                request("Sec-WebSocket-Extensions: x;\r\n"),
                HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"),
                400,
            ),
            (
                b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n".to_vec(),
                HandshakeError::MalformedHead("invalid header name"),
                400,
            ),
        ];
        for (data, expected, status) in cases {
            let err = receive(&data).unwrap_err();
            assert_eq!(err, expected, "{}", String::from_utf8_lossy(&data));
            assert_eq!(err.http_status().as_u16(), status, "{err:?}");
        }
        for key in [
            "dGhlIHNhbXBsZSBub25jZQ",
            "AAECAwQFBgcICQoLDA0ODxA=",
            "dGhlIHNhbXBsZSBub25jZQ==, x",
        ] {
            let data = format!(
                "GET / HTTP/1.1\r\n{}Sec-WebSocket-Key: {key}\r\n\r\n",
                BASE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
            );
            assert_eq!(
                receive(data.as_bytes()).unwrap_err(),
                HandshakeError::InvalidKey,
                "{key}"
            );
        }
        for version in ["8", "13, 8", "14", ""] {
            let data = format!(
                "GET / HTTP/1.1\r\n{}Sec-WebSocket-Version: {version}\r\n\r\n",
                BASE.replace("Sec-WebSocket-Version: 13\r\n", "")
            );
            assert_eq!(
                receive(data.as_bytes()).unwrap_err(),
                HandshakeError::UnsupportedVersion,
                "{version}"
            );
        }
    }

    #[test]
    fn non_utf8_values_are_rejected_without_panicking() {
        for (line, name) in [
            (
                &b"Sec-WebSocket-Protocol: \xff\r\n"[..],
                "Sec-WebSocket-Protocol",
            ),
            (
                b"Sec-WebSocket-Extensions: x; a=\xff\r\n",
                "Sec-WebSocket-Extensions",
            ),
            (b"Origin: http://\xc3\xa9.example\r\n", "Origin"),
        ] {
            let mut data = format!("GET / HTTP/1.1\r\n{BASE}").into_bytes();
            data.extend_from_slice(line);
            data.extend_from_slice(b"\r\n");
            assert_eq!(
                receive(&data).unwrap_err(),
                HandshakeError::InvalidHeader(name)
            );
        }
        // Values nobody validates stay bytes; the getters skip them.
        let mut data = format!("GET / HTTP/1.1\r\n{BASE}").into_bytes();
        data.extend_from_slice(b"Cookie: a=\xff\r\nCookie: b=2\r\n\r\n");
        assert_eq!(
            receive(&data).unwrap().cookies().collect::<Vec<_>>(),
            [("b", "2")]
        );
    }

    #[test]
    fn error_responses_byte_for_byte() {
        assert_eq!(
            &error_response(&HandshakeError::UnsupportedVersion)[..],
            &b"HTTP/1.1 426 Upgrade Required\r\n\
               Upgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\
               Content-Length: 44\r\n\
               Connection: close\r\n\
               \r\n\
               unsupported Sec-WebSocket-Version (need 13)\n"[..]
        );
        let missing = error_response(&HandshakeError::MissingUpgrade);
        assert!(missing.starts_with(b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n"));
        let method = error_response(&HandshakeError::MethodNotGet);
        assert!(method.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"));
        let large = error_response(&HandshakeError::HeadTooLarge { limit: 1 });
        assert!(large.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        let bad = error_response(&HandshakeError::InvalidKey);
        assert!(bad.starts_with(b"HTTP/1.1 400 Bad Request\r\nContent-Type"));
        assert!(!bad.windows(7).any(|w| w == b"Upgrade"));
    }

    #[test]
    fn reject_response_byte_for_byte() {
        let mut headers = HeaderMap::new();
        headers.insert("www-authenticate", "Bearer".parse().unwrap());
        headers.insert("content-length", "999".parse().unwrap());
        headers.insert("connection", "keep-alive".parse().unwrap());
        assert_eq!(
            &reject_response(StatusCode::UNAUTHORIZED, &headers, b"no")[..],
            &b"HTTP/1.1 401 Unauthorized\r\n\
               WWW-Authenticate: Bearer\r\n\
               Content-Length: 2\r\n\
               Connection: close\r\n\
               \r\n\
               no"[..]
        );
        let odd = reject_response(StatusCode::from_u16(599).unwrap(), &HeaderMap::new(), b"");
        assert!(odd.starts_with(b"HTTP/1.1 599 \r\n"));
    }

    #[test]
    fn tokens_are_case_insensitive_comma_lists_over_several_lines() {
        let data = "GET / HTTP/1.1\r\n\
            host: h\r\n\
            UPGRADE: WebSocket\r\n\
            Connection: keep-alive\r\n\
            connection: foo,Upgrade\r\n\
            sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            SEC-WEBSOCKET-VERSION: 13\r\n\r\n";
        assert!(receive(data.as_bytes()).is_ok());
        // Firefox's Connection header.
        let data = request("").into_iter().collect::<Vec<u8>>();
        let data = String::from_utf8(data)
            .unwrap()
            .replace("Connection: Upgrade", "Connection: keep-alive, Upgrade");
        assert!(receive(data.as_bytes()).is_ok());
    }

    #[test]
    fn subprotocols_come_from_every_line_trimmed_in_order() {
        let data = request("Sec-WebSocket-Protocol: a , b\r\nSec-WebSocket-Protocol: ,c,\t d\r\n");
        let request = receive(&data).unwrap();
        assert_eq!(request.subprotocols(), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_subprotocol_not_offered_is_not_sent() {
        let data = request("Sec-WebSocket-Protocol: chat\r\n");
        let (text, negotiated) = accept_with(&data, Accept::with_subprotocol("other"), &[]);
        assert!(!text.contains("Sec-WebSocket-Protocol"));
        assert_eq!(negotiated.subprotocol, None);
        let (text, negotiated) = accept_with(&data, Accept::with_subprotocol("chat"), &[]);
        assert!(text.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
        assert_eq!(negotiated.subprotocol.as_deref(), Some("chat"));
    }

    #[test]
    fn extension_offers_come_from_every_line() {
        let data = request(
            "Sec-WebSocket-Extensions: x-one; a=1, x-two\r\nSec-WebSocket-Extensions: x-one\r\n",
        );
        let request = receive(&data).unwrap();
        let names: Vec<_> = request
            .extensions()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["x-one", "x-two", "x-one"]);
    }

    #[test]
    fn extension_negotiation_takes_the_first_acceptable_offer() {
        let data = request(
            "Sec-WebSocket-Extensions: x-one; decline, x-two, X-One; a=2\r\n\
             Sec-WebSocket-Extensions: x-one; a=3\r\n",
        );
        let configs: Vec<Arc<dyn ExtensionConfig>> = vec![
            Arc::new(TestConfig::new("x-one", RSV1)),
            Arc::new(TestConfig::new("x-two", RSV2)),
        ];
        let (text, negotiated) = accept_with(&data, Accept::default(), &configs);
        assert!(
            text.contains("\r\nSec-WebSocket-Extensions: X-One; a=2\r\n"),
            "{text}"
        );
        assert!(!text.contains("x-two"), "{text}");
        let extension = negotiated.extension.unwrap();
        assert_eq!(
            (extension.name(), extension.reserved_bits()),
            ("x-one", RSV1)
        );
    }

    #[test]
    fn a_declined_extension_leaves_the_next_config_its_turn() {
        let data = request("Sec-WebSocket-Extensions: x-one; decline, x-two\r\n");
        let configs: Vec<Arc<dyn ExtensionConfig>> = vec![
            Arc::new(TestConfig::new("x-one", RSV1)),
            Arc::new(TestConfig::new("x-two", RSV1)),
        ];
        let (text, negotiated) = accept_with(&data, Accept::default(), &configs);
        assert!(
            text.contains("\r\nSec-WebSocket-Extensions: x-two\r\n"),
            "{text}"
        );
        assert_eq!(negotiated.extension.unwrap().name(), "x-two");
        // Nothing acceptable: no header, no extension.
        let data = request("Sec-WebSocket-Extensions: x-one; decline, x-three\r\n");
        let (text, negotiated) = accept_with(&data, Accept::default(), &configs[..1]);
        assert!(!text.contains("Sec-WebSocket-Extensions"));
        assert!(negotiated.extension.is_none());
    }

    #[test]
    fn extra_response_headers_cannot_override_the_handshake() {
        let data = request("Sec-WebSocket-Protocol: chat\r\n");
        let mut accept = Accept::with_subprotocol("chat");
        accept.headers.insert("set-cookie", "id=1".parse().unwrap());
        accept
            .headers
            .insert("sec-websocket-protocol", "evil".parse().unwrap());
        accept
            .headers
            .insert("sec-websocket-accept", "evil".parse().unwrap());
        accept.headers.insert("upgrade", "h2c".parse().unwrap());
        accept
            .headers
            .insert("content-length", "0".parse().unwrap());
        let (text, _) = accept_with(&data, accept, &[]);
        assert!(
            text.ends_with("Sec-WebSocket-Protocol: chat\r\nSet-Cookie: id=1\r\n\r\n"),
            "{text}"
        );
        assert!(
            !text.contains("evil") && !text.contains("h2c") && !text.contains("Content-Length")
        );
    }

    #[test]
    fn getters_show_the_request() {
        let data = "GET /room/1?token=abc&x HTTP/1.1\r\n\
            Host: example.com:8080\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Origin: https://example.com\r\n\
            Cookie: session=s1; theme=dark\r\n\
            Cookie: bad; other=2\r\n\r\n";
        let request = receive(data.as_bytes()).unwrap();
        assert_eq!(request.path(), "/room/1");
        assert_eq!(request.query(), Some("token=abc&x"));
        assert_eq!(request.host(), Some("example.com:8080"));
        assert_eq!(request.origin(), Some("https://example.com"));
        assert_eq!(request.cookie("theme"), Some("dark"));
        assert_eq!(request.cookie("missing"), None);
        let cookies: Vec<_> = request.cookies().collect();
        assert_eq!(
            cookies,
            [("session", "s1"), ("theme", "dark"), ("other", "2")]
        );
        assert_eq!(request.headers()["cookie"], "session=s1; theme=dark");
        assert!(request.subprotocols().is_empty());
        assert_eq!(request.uri(), "/room/1?token=abc&x");
        assert_eq!(request.request().method(), Method::GET);
        assert_eq!(request.clone().into_request().version(), Version::HTTP_11);
    }

    #[test]
    fn from_request_validates_a_request_parsed_elsewhere() {
        let request = Request::builder()
            .uri("http://example.com/chat")
            .header("host", "example.com")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        let upgrade = UpgradeRequest::from_request(&request).unwrap();
        assert_eq!(upgrade.path(), "/chat");
        let (response, _) = accept_response(&upgrade, Accept::default(), &[]);
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            response.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let mut post = request.clone();
        *post.method_mut() = Method::POST;
        assert_eq!(
            UpgradeRequest::from_request(&post).unwrap_err(),
            HandshakeError::MethodNotGet
        );
        let mut http2 = request;
        *http2.version_mut() = Version::HTTP_2;
        assert!(UpgradeRequest::from_request(&http2).is_ok());
    }

    #[test]
    fn head_limits_fail_early_with_431() {
        let limits = Limits {
            max_head_size: 256,
            max_headers: 6,
            max_line_length: 64,
            ..Limits::default()
        };
        let mut server = ServerHandshake::new(&limits);
        assert!(server
            .receive_bytes(b"GET / HTTP/1.1\r\n")
            .unwrap()
            .is_none());
        let err = server.receive_bytes(&[b'X'; 65]).unwrap_err();
        assert_eq!(err, HandshakeError::LineTooLong { limit: 64 });
        let mut server = ServerHandshake::new(&limits);
        let err = server
            .receive_bytes(&request("A: 1\r\nB: 2\r\n"))
            .unwrap_err();
        assert_eq!(err, HandshakeError::TooManyHeaders { limit: 6 });
        let mut server = ServerHandshake::new(&limits);
        let mut streaming = Ok(None);
        for _ in 0..20 {
            streaming = server.receive_bytes(b"X-Filler: 0123456789\r\n");
            if streaming.is_err() {
                break;
            }
        }
        // The header count trips first here; with more headers allowed, the head size would.
        assert!(matches!(
            streaming,
            Err(HandshakeError::TooManyHeaders { .. })
        ));
        let mut server = ServerHandshake::new(&Limits {
            max_headers: 100,
            ..limits
        });
        let err = (0..20)
            .find_map(|_| server.receive_bytes(b"X-Filler: 0123456789\r\n").err())
            .unwrap();
        assert_eq!(err, HandshakeError::HeadTooLarge { limit: 256 });
        for err in [
            HandshakeError::LineTooLong { limit: 0 },
            HandshakeError::TooManyHeaders { limit: 0 },
            HandshakeError::HeadTooLarge { limit: 0 },
        ] {
            assert_eq!(
                err.http_status(),
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            );
        }
    }

    #[test]
    fn errors_are_sticky_and_success_is_final() {
        let mut server = ServerHandshake::new(&Limits::default());
        let err = server
            .receive_bytes(b"POST / HTTP/1.1\r\n\r\n")
            .unwrap_err();
        assert_eq!(server.receive_bytes(&request("")).unwrap_err(), err);
        let mut server = ServerHandshake::new(&Limits::default());
        assert!(server.receive_bytes(&request("")).unwrap().is_some());
        let err = server.receive_bytes(b"\x81\x80").unwrap_err();
        assert_eq!(err, HandshakeError::AlreadyComplete);
        assert_eq!(err.http_status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

/// Arbitrary input: never a panic, and how the bytes are split across reads never matters.
#[cfg(test)]
mod rfc6455_4_2_arbitrary_input {
    use proptest::prelude::*;

    use super::*;
    use crate::handshake::{ClientHandshake, ClientOptions};

    const PREFIXES: [&[u8]; 4] = [
        b"",
        b"GET / HTTP/1.1\r\n",
        b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    ];

    fn limits() -> Limits {
        Limits {
            max_head_size: 256,
            max_headers: 8,
            max_line_length: 60,
            ..Limits::default()
        }
    }

    /// Feeds `data` in two reads split at `split`, stopping once the handshake answers.
    fn server_in_two_reads(data: &[u8], split: usize) -> String {
        let (first, second) = data.split_at(split.min(data.len()));
        let mut server = ServerHandshake::new(&limits());
        let answer = match server.receive_bytes(first) {
            Ok(None) => server.receive_bytes(second),
            answer => answer,
        };
        format!("{answer:?}")
    }

    proptest! {
        #[test]
        fn server_answer_does_not_depend_on_the_split(
            prefix in 0..PREFIXES.len(),
            tail in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b':'), Just(b',')],
                0..300,
            ),
            split in 0usize..600,
        ) {
            let mut data = PREFIXES[prefix].to_vec();
            data.extend_from_slice(&tail);
            let whole = server_in_two_reads(&data, data.len());
            prop_assert_eq!(whole, server_in_two_reads(&data, split));
        }

        #[test]
        fn client_never_panics(
            prefix in 0..PREFIXES.len(),
            tail in proptest::collection::vec(any::<u8>(), 0..300),
            split in 0usize..600,
        ) {
            let mut data = PREFIXES[prefix].to_vec();
            data.extend_from_slice(&tail);
            let options = ClientOptions { limits: limits(), ..ClientOptions::default() };
            let url = "ws://h/".parse().unwrap();
            let mut client = ClientHandshake::new(&url, options, &mut |d: &mut [u8]| d.fill(1)).unwrap();
            let (first, second) = data.split_at(split.min(data.len()));
            if let Ok(None) = client.receive_bytes(first) {
                let _ = client.receive_bytes(second);
            }
        }
    }
}

/// Both roles against each other.
#[cfg(test)]
mod rfc6455_4_round_trip {
    use super::*;
    use crate::extension::RSV1;
    use crate::handshake::test_extension::TestConfig;
    use crate::handshake::{ClientHandshake, ClientOptions};

    #[test]
    fn client_and_server_agree_and_keep_each_others_frames() {
        let options = ClientOptions {
            subprotocols: vec!["v2".into(), "v1".into()],
            extensions: vec![Arc::new(TestConfig::new("x-one", RSV1))],
            origin: Some("https://app.example".into()),
            ..ClientOptions::default()
        };
        let url = "wss://[::1]:9001/live?room=7".parse().unwrap();
        let mut client =
            ClientHandshake::new(&url, options, &mut |d: &mut [u8]| d.fill(0x5a)).unwrap();

        let mut server = ServerHandshake::new(&Limits::default());
        // The head in small reads, the last of which also brings the client's first frame.
        let (head, tail) = client
            .request_bytes()
            .split_at(client.request_bytes().len() - 3);
        for chunk in head.chunks(7) {
            assert!(server.receive_bytes(chunk).unwrap().is_none());
        }
        let mut last = tail.to_vec();
        last.extend_from_slice(b"\x82\x80\x00\x00\x00\x00");
        let request = server.receive_bytes(&last).unwrap().unwrap();
        assert_eq!(request.host(), Some("[::1]:9001"));
        assert_eq!(request.query(), Some("room=7"));
        assert_eq!(request.origin(), Some("https://app.example"));
        let configs: Vec<Arc<dyn ExtensionConfig>> = vec![Arc::new(TestConfig::new("x-one", RSV1))];
        let (response, server_side, leftover) =
            server.accept(&request, Accept::with_subprotocol("v1"), &configs);
        assert_eq!(&leftover[..], b"\x82\x80\x00\x00\x00\x00");
        assert_eq!(server_side.subprotocol.as_deref(), Some("v1"));

        let mut wire = response.to_vec();
        wire.extend_from_slice(b"\x81\x00");
        let outcome = client.receive_bytes(&wire).unwrap().unwrap();
        assert_eq!(&outcome.leftover[..], b"\x81\x00");
        assert_eq!(outcome.negotiated.subprotocol.as_deref(), Some("v1"));
        assert_eq!(outcome.negotiated.extension.unwrap().name(), "x-one");
        assert_eq!(server_side.extension.unwrap().name(), "x-one");
    }
}
