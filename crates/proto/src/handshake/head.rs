//! Bounded HTTP/1.1 head reading and parsing, shared by both roles.
//!
//! [`HeadReader`] buffers bytes until the blank line that ends the head, enforcing the
//! handshake limits as bytes arrive: a peer that streams an endless header, an endless line or
//! endless header fields fails as soon as it crosses a limit, not when (if ever) the head ends.
//! The search resumes where the previous feed stopped, so a head fed one byte at a time costs
//! linear time. Bytes after the head stay in the reader: they are framing bytes and are handed
//! back to the caller, never dropped.
//!
//! Only CRLF line endings are accepted. RFC 7230 3.5 lets a recipient also accept a bare LF,
//! but no WebSocket client or server sends one, and refusing them keeps our idea of where the
//! head ends identical to httparse's.

use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};

use crate::config::Limits;
use crate::error::HandshakeError;

/// Buffers an HTTP head as it arrives, within [`Limits`].
#[derive(Debug)]
pub(crate) struct HeadReader {
    buf: BytesMut,
    /// How much of `buf` has been searched for the end of the head.
    scanned: usize,
    /// Where the line being scanned starts.
    line_start: usize,
    /// Complete lines seen so far, the start line included.
    lines: usize,
    max_head_size: usize,
    max_headers: usize,
    max_line_length: usize,
}

/// A complete head, cut from the front of the reader's buffer.
#[derive(Debug)]
pub(crate) struct Head {
    bytes: BytesMut,
    /// Number of header fields (lines after the start line).
    headers: usize,
    max_headers: usize,
}

impl HeadReader {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            buf: BytesMut::new(),
            scanned: 0,
            line_start: 0,
            lines: 0,
            max_head_size: limits.max_head_size,
            max_headers: limits.max_headers,
            max_line_length: limits.max_line_length,
        }
    }

    /// Appends `data` and looks for the end of the head in the bytes not yet searched.
    ///
    /// Returns the head once its blank line has arrived; the bytes after it stay in the buffer
    /// (see [`take_leftover`](Self::take_leftover)).
    pub(crate) fn receive(&mut self, data: &[u8]) -> Result<Option<Head>, HandshakeError> {
        self.buf.extend_from_slice(data);
        // A head longer than the limit fails whether or not its end is in the buffer, so
        // bytes past the limit are never searched: they can only be framing bytes after a
        // head that ended in time.
        let limit = self.buf.len().min(self.max_head_size);
        let mut line_start = self.line_start;
        let mut lines = self.lines;
        let mut end = None;
        let window = self.buf.get(self.scanned..limit).unwrap_or_default();
        for (offset, &byte) in window.iter().enumerate() {
            let at = self.scanned + offset;
            if byte != b'\n' {
                // `at - line_start` bytes of this line came before `byte`; `byte` is content
                // too unless it is the CR of the line's CRLF.
                let before = at - line_start;
                let content = if byte == b'\r' { before } else { before + 1 };
                if content > self.max_line_length {
                    return Err(HandshakeError::LineTooLong {
                        limit: self.max_line_length,
                    });
                }
                continue;
            }
            let cr = at.checked_sub(1).and_then(|i| self.buf.get(i));
            if cr != Some(&b'\r') {
                return Err(HandshakeError::MalformedHead("line not ended by CRLF"));
            }
            if at - 1 == line_start {
                if lines == 0 {
                    return Err(HandshakeError::MalformedHead(
                        "empty line before the start line",
                    ));
                }
                end = Some(at + 1);
                break;
            }
            lines += 1;
            // The start line is not a header field.
            if lines - 1 > self.max_headers {
                return Err(HandshakeError::TooManyHeaders {
                    limit: self.max_headers,
                });
            }
            line_start = at + 1;
        }
        self.line_start = line_start;
        self.lines = lines;
        self.scanned = limit;
        match end {
            Some(end) => Ok(Some(Head {
                bytes: self.buf.split_to(end),
                headers: lines.saturating_sub(1),
                max_headers: self.max_headers,
            })),
            None if self.buf.len() >= self.max_head_size => Err(HandshakeError::HeadTooLarge {
                limit: self.max_head_size,
            }),
            None => Ok(None),
        }
    }

    /// The bytes received after the head (after [`receive`](Self::receive) returned it).
    pub(crate) fn take_leftover(&mut self) -> BytesMut {
        std::mem::take(&mut self.buf)
    }
}

impl Head {
    /// The raw head, blank line included.
    #[cfg(test)]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Parses the head as a request.
    pub(crate) fn parse_request(&self) -> Result<Request<()>, HandshakeError> {
        let mut fields = vec![httparse::EMPTY_HEADER; self.headers];
        let mut parsed = httparse::Request::new(&mut fields);
        let status = parsed.parse(&self.bytes).map_err(httparse_error)?;
        self.check_complete(status)?;
        let method = parsed.method.unwrap_or_default();
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| HandshakeError::MalformedHead("invalid method"))?;
        let target = parsed.path.unwrap_or_default();
        let uri = Uri::try_from(target)
            .map_err(|_| HandshakeError::InvalidUrl("invalid request target"))?;
        let mut request = Request::new(());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.version_mut() = version(parsed.version);
        *request.headers_mut() = self.header_map(parsed.headers)?;
        Ok(request)
    }

    /// Parses the head as a response.
    pub(crate) fn parse_response(&self) -> Result<Response<()>, HandshakeError> {
        let mut fields = vec![httparse::EMPTY_HEADER; self.headers];
        let mut parsed = httparse::Response::new(&mut fields);
        let status = parsed.parse(&self.bytes).map_err(httparse_error)?;
        self.check_complete(status)?;
        let code = StatusCode::from_u16(parsed.code.unwrap_or_default())
            .map_err(|_| HandshakeError::MalformedHead("invalid status code"))?;
        let mut response = Response::new(());
        *response.status_mut() = code;
        *response.version_mut() = version(parsed.version);
        *response.headers_mut() = self.header_map(parsed.headers)?;
        Ok(response)
    }

    fn check_complete(&self, status: httparse::Status<usize>) -> Result<(), HandshakeError> {
        match status {
            httparse::Status::Complete(len) if len == self.bytes.len() => Ok(()),
            // Unreachable in practice: the reader cut the head at its blank line.
            _ => Err(HandshakeError::MalformedHead(
                "head does not end at its blank line",
            )),
        }
    }

    fn header_map(&self, fields: &[httparse::Header<'_>]) -> Result<HeaderMap, HandshakeError> {
        let too_many = HandshakeError::TooManyHeaders {
            limit: self.max_headers,
        };
        let mut map = HeaderMap::try_with_capacity(fields.len()).map_err(|_| too_many.clone())?;
        for field in fields {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| HandshakeError::MalformedHead("invalid header name"))?;
            let value = HeaderValue::from_bytes(field.value)
                .map_err(|_| HandshakeError::MalformedHead("invalid header value"))?;
            map.try_append(name, value).map_err(|_| too_many.clone())?;
        }
        Ok(map)
    }
}

/// httparse reports `HTTP/1.0` as 0 and `HTTP/1.1` as 1; any other version is an error.
fn version(minor: Option<u8>) -> Version {
    match minor {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    }
}

fn httparse_error(error: httparse::Error) -> HandshakeError {
    match error {
        // httparse only parses HTTP/1.0 and HTTP/1.1 heads; `HTTP/2.0` in a start line is
        // a version we do not support rather than garbage.
        httparse::Error::Version => HandshakeError::UnsupportedHttpVersion,
        httparse::Error::HeaderName => HandshakeError::MalformedHead("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::MalformedHead("invalid header value"),
        httparse::Error::NewLine => HandshakeError::MalformedHead("invalid line ending"),
        httparse::Error::Status => HandshakeError::MalformedHead("invalid status"),
        httparse::Error::Token => HandshakeError::MalformedHead("invalid token"),
        httparse::Error::TooManyHeaders => HandshakeError::MalformedHead("too many headers"),
    }
}

#[cfg(test)]
mod rfc7230_3_head {
    use super::*;

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nX: 1\r\n\r\n";

    fn limits(head: usize, headers: usize, line: usize) -> Limits {
        Limits {
            max_head_size: head,
            max_headers: headers,
            max_line_length: line,
            ..Limits::default()
        }
    }

    #[test]
    fn head_in_one_feed_keeps_the_bytes_after_it() {
        let mut reader = HeadReader::new(&Limits::default());
        let mut data = REQUEST.to_vec();
        data.extend_from_slice(b"\x81\x00rest");
        let head = reader.receive(&data).unwrap().unwrap();
        assert_eq!(head.as_bytes(), REQUEST);
        assert_eq!(&reader.take_leftover()[..], b"\x81\x00rest");
        let request = head.parse_request().unwrap();
        assert_eq!(request.uri().path(), "/chat");
        assert_eq!(request.headers()["host"], "example.com");
    }

    #[test]
    fn head_fed_byte_by_byte() {
        let mut reader = HeadReader::new(&Limits::default());
        let (last, rest) = REQUEST.split_last().unwrap();
        for byte in rest {
            assert!(reader.receive(&[*byte]).unwrap().is_none());
        }
        let head = reader.receive(&[*last]).unwrap().unwrap();
        assert_eq!(head.as_bytes(), REQUEST);
        assert!(reader.take_leftover().is_empty());
    }

    #[test]
    fn the_search_resumes_where_it_stopped() {
        let mut reader = HeadReader::new(&Limits::default());
        assert!(reader.receive(&REQUEST[..20]).unwrap().is_none());
        assert_eq!(reader.scanned, 20);
        assert_eq!(reader.lines, 1);
        assert!(reader.receive(&REQUEST[20..]).unwrap().is_some());
    }

    #[test]
    fn head_too_large_fails_before_the_end_arrives() {
        let mut reader = HeadReader::new(&limits(32, 64, 1000));
        assert!(reader.receive(b"GET / HTTP/1.1\r\nX: ").unwrap().is_none());
        let err = reader.receive(&[b'a'; 100]).unwrap_err();
        assert_eq!(err, HandshakeError::HeadTooLarge { limit: 32 });
    }

    #[test]
    fn head_of_exactly_the_limit_is_accepted_with_leftover_beyond_it() {
        let mut reader = HeadReader::new(&limits(REQUEST.len(), 64, 1000));
        let mut data = REQUEST.to_vec();
        data.extend_from_slice(&[0x82; 100]);
        assert!(reader.receive(&data).unwrap().is_some());
        assert_eq!(reader.take_leftover().len(), 100);
        let mut reader = HeadReader::new(&limits(REQUEST.len() - 1, 64, 1000));
        assert!(reader.receive(REQUEST).is_err());
    }

    #[test]
    fn too_many_headers_fails_early() {
        let mut reader = HeadReader::new(&limits(1 << 20, 2, 1000));
        assert!(reader
            .receive(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n")
            .unwrap()
            .is_none());
        let err = reader.receive(b"C: 3\r\n").unwrap_err();
        assert_eq!(err, HandshakeError::TooManyHeaders { limit: 2 });
    }

    #[test]
    fn exactly_max_headers_is_accepted() {
        let mut reader = HeadReader::new(&limits(1 << 20, 2, 1000));
        let head = reader
            .receive(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.parse_request().unwrap().headers().len(), 2);
    }

    #[test]
    fn line_too_long_fails_before_the_line_ends() {
        let mut reader = HeadReader::new(&limits(1 << 20, 64, 16));
        assert!(reader.receive(b"GET / HTTP/1.1\r\nX: ").unwrap().is_none());
        // The 17th byte of the line fails, before any line end arrives.
        assert!(reader.receive(&[b'a'; 13]).unwrap().is_none());
        let err = reader.receive(b"a").unwrap_err();
        assert_eq!(err, HandshakeError::LineTooLong { limit: 16 });
        // A line of exactly the limit (CRLF not counted) is fine.
        let mut reader = HeadReader::new(&limits(1 << 20, 64, 16));
        assert!(reader
            .receive(b"GET / HTTP/1.1\r\nX: 0123456789abc\r\n\r\n")
            .unwrap()
            .is_some());
    }

    #[test]
    fn bare_lf_and_leading_blank_lines_are_malformed() {
        for bad in [
            &b"GET / HTTP/1.1\nHost: a\n\n"[..],
            b"\r\nGET / HTTP/1.1\r\n\r\n",
            b"\n",
        ] {
            let mut reader = HeadReader::new(&Limits::default());
            assert!(matches!(
                reader.receive(bad),
                Err(HandshakeError::MalformedHead(_))
            ));
        }
    }

    #[test]
    fn httparse_errors_map_to_malformed_head() {
        for bad in [
            &b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"GET\x01 / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        ] {
            let mut reader = HeadReader::new(&Limits::default());
            let head = reader.receive(bad).unwrap().unwrap();
            let err = head.parse_request().unwrap_err();
            assert!(matches!(err, HandshakeError::MalformedHead(_)), "{err:?}");
        }
    }

    #[test]
    fn other_http_versions_are_unsupported() {
        for bad in [&b"GET / HTTP/2.0\r\n\r\n"[..], b"GET / HTTP/1.2\r\n\r\n"] {
            let mut reader = HeadReader::new(&Limits::default());
            let head = reader.receive(bad).unwrap().unwrap();
            assert_eq!(
                head.parse_request().unwrap_err(),
                HandshakeError::UnsupportedHttpVersion
            );
        }
        let mut reader = HeadReader::new(&Limits::default());
        let head = reader.receive(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(head.parse_request().unwrap().version(), Version::HTTP_10);
    }

    #[test]
    fn non_utf8_header_values_parse_without_panicking() {
        let mut reader = HeadReader::new(&Limits::default());
        let head = reader
            .receive(b"GET / HTTP/1.1\r\nX: \xff\xfe\r\n\r\n")
            .unwrap()
            .unwrap();
        let request = head.parse_request().unwrap();
        assert!(request.headers()["x"].to_str().is_err());
    }

    #[test]
    fn responses_parse() {
        let mut reader = HeadReader::new(&Limits::default());
        let head = reader
            .receive(b"HTTP/1.1 101 Switching Protocols\r\nA: b\r\n\r\n")
            .unwrap();
        let response = head.unwrap().parse_response().unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()["a"], "b");
        let mut reader = HeadReader::new(&Limits::default());
        let head = reader
            .receive(b"HTTP/1.1 1x1 Nope\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(
            head.parse_response(),
            Err(HandshakeError::MalformedHead(_))
        ));
    }
}
