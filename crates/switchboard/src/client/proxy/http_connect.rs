//! The HTTP `CONNECT` method (RFC 9110 9.3.6): ask an HTTP proxy for a byte tunnel.

use base64::Engine;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{authority, Credentials, ProxyError};
use crate::error::{Error, Result};

/// The largest proxy response head read. Proxies answer `CONNECT` with a status line and a
/// few headers; a 407 page may add a body, which is never read. 16 KiB bounds memory against
/// a broken or hostile proxy while leaving room for long `Proxy-Authenticate` challenges.
const MAX_HEAD_SIZE: usize = 16 << 10;

/// Most response headers parsed.
const MAX_HEADERS: usize = 64;

/// Asks the proxy on `io` for a tunnel to `host:port`. On success every later byte on `io`
/// belongs to the tunnel.
pub(super) async fn connect<S>(
    io: &mut S,
    host: &str,
    port: u16,
    credentials: Option<&Credentials>,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(&request(host, port, credentials)).await?;
    io.flush().await?;
    let (status, head_len, buffered) = read_head(io).await?;
    if status.is_success() {
        // RFC 9110 9.3.6: after a 2xx answer the connection is the tunnel. The server inside
        // has not been spoken to yet, so nothing can follow the head; a proxy that sends
        // something anyway would have us hand its bytes to TLS or the WebSocket handshake.
        if buffered > head_len {
            return Err(ProxyError::Malformed("data after the 2xx response to CONNECT").into());
        }
        return Ok(());
    }
    Err(match (status, credentials) {
        (StatusCode::PROXY_AUTHENTICATION_REQUIRED, None) => ProxyError::AuthenticationRequired,
        (StatusCode::PROXY_AUTHENTICATION_REQUIRED, Some(_)) => ProxyError::AuthenticationFailed,
        (status, _) => ProxyError::Status(status),
    }
    .into())
}

/// `CONNECT host:port HTTP/1.1` with the authority-form target (RFC 9110 9.3.6: the request
/// target is the host and port; `Host` carries the same).
fn request(host: &str, port: u16, credentials: Option<&Credentials>) -> Vec<u8> {
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = credentials {
        // RFC 7617 2: the user-id and password joined by a colon, then base64.
        let pair = format!("{}:{}", credentials.username(), credentials.password());
        let token = base64::engine::general_purpose::STANDARD.encode(pair);
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Reads the response head; returns its status, its length and how many bytes were read.
async fn read_head<S: AsyncRead + Unpin>(io: &mut S) -> Result<(StatusCode, usize, usize)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        // Never read past the limit, so the buffer is bounded by MAX_HEAD_SIZE.
        let room = MAX_HEAD_SIZE.saturating_sub(buf.len()).min(chunk.len());
        if room == 0 {
            return Err(ProxyError::HeadTooLarge {
                limit: MAX_HEAD_SIZE,
            }
            .into());
        }
        let n = io.read(chunk.get_mut(..room).unwrap_or_default()).await?;
        if n == 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection before answering CONNECT",
            )));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some((status, head_len)) = parse_head(&buf)? {
            return Ok((status, head_len, buf.len()));
        }
    }
}

/// Parses a complete response head, or returns `None` if more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<(StatusCode, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProxyError::Malformed("too many headers").into())
        }
        Err(_) => return Err(ProxyError::Malformed("not an HTTP/1.x response").into()),
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ProxyError::Malformed("invalid status code"))?;
    Ok(Some((status, head_len)))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Runs `connect` against a scripted proxy that answers `answer` and returns what the
    /// client wrote.
    async fn exchange(
        answer: &'static [u8],
        credentials: Option<Credentials>,
    ) -> (Result<()>, String) {
        let (mut client, mut proxy) = tokio::io::duplex(64 << 10);
        let task = tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = proxy.read(&mut buf).await.unwrap();
                assert!(n > 0);
                request.extend_from_slice(&buf[..n]);
            }
            proxy.write_all(answer).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let result = connect(&mut client, "::1", 9001, credentials.as_ref()).await;
        (result, task.await.unwrap())
    }

    fn proxy_error(result: Result<()>) -> ProxyError {
        match result {
            Err(error) => error
                .proxy_error()
                .cloned()
                .unwrap_or_else(|| panic!("{error:?}")),
            Ok(()) => panic!("expected a proxy error"),
        }
    }

    #[tokio::test]
    async fn request_has_the_authority_form_and_basic_credentials() {
        let credentials = Credentials::new("Aladdin", "open sesame");
        let (result, request) = exchange(
            b"HTTP/1.1 200 Connection established\r\n\r\n",
            Some(credentials),
        )
        .await;
        result.unwrap();
        assert_eq!(
            request,
            "CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n\
             Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
        let (result, request) = exchange(b"HTTP/1.0 204 OK\r\nVia: x\r\n\r\n", None).await;
        result.unwrap();
        assert!(!request.contains("Proxy-Authorization"));
    }

    #[tokio::test]
    async fn refusals_are_typed() {
        let answer = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
            Proxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 3\r\n\r\nno!";
        let (result, _) = exchange(answer, None).await;
        assert_eq!(proxy_error(result), ProxyError::AuthenticationRequired);
        let (result, _) = exchange(answer, Some(Credentials::new("u", "bad"))).await;
        assert_eq!(proxy_error(result), ProxyError::AuthenticationFailed);
        let (result, _) = exchange(b"HTTP/1.1 502 Bad Gateway\r\n\r\n", None).await;
        let error = proxy_error(result);
        assert_eq!(error, ProxyError::Status(StatusCode::BAD_GATEWAY));
        assert!(error.is_transient());
        let (result, _) = exchange(b"HTTP/1.1 403 Forbidden\r\n\r\n", None).await;
        assert!(!proxy_error(result).is_transient());
    }

    #[tokio::test]
    async fn broken_answers_are_malformed() {
        for answer in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\nextra",
            b"HTTP/1.1 20 OK\r\n\r\n",
        ] {
            let (result, _) = exchange(answer, None).await;
            assert!(
                matches!(proxy_error(result), ProxyError::Malformed(_)),
                "{answer:?}"
            );
        }
    }

    #[tokio::test]
    async fn head_size_is_bounded() {
        let (mut client, mut proxy) = tokio::io::duplex(64 << 10);
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = proxy.read(&mut buf).await;
            let _ = proxy.write_all(b"HTTP/1.1 200 OK\r\n").await;
            let line = [b'x'; 1000];
            while proxy.write_all(&line).await.is_ok() {}
        });
        let result = connect(&mut client, "h", 1, None).await;
        assert_eq!(
            proxy_error(result),
            ProxyError::HeadTooLarge {
                limit: MAX_HEAD_SIZE
            }
        );
    }

    #[tokio::test]
    async fn eof_before_the_answer_is_an_io_error() {
        let (mut client, mut proxy) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = proxy.read(&mut buf).await;
            let _ = proxy.write_all(b"HTTP/1.1 200").await;
        });
        let result = connect(&mut client, "h", 1, None).await;
        assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
    }
}
