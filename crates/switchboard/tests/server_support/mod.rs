//! Helpers shared by the server tests: a bound on every wait, raw HTTP over TCP, and
//! upgrade requests written by hand.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use switchboard::{CloseCode, Message, WebSocket};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// No test waits longer than this for anything.
pub const BOUND: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`BOUND`].
pub async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("the test took too long")
}

/// Sends each message to an echo server, checks that it comes back unchanged, then closes
/// normally.
pub async fn assert_echoes<S>(client: &mut WebSocket<S>, messages: &[Message])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for message in messages {
        client.send(message.clone()).await.unwrap();
        assert_eq!(&bounded(client.recv()).await.unwrap().unwrap(), message);
    }
    bounded(client.close(CloseCode::NORMAL_CLOSURE, ""))
        .await
        .unwrap();
}

/// A valid upgrade request for `path` with `extra` header lines (each ending in `\r\n`).
pub fn upgrade_request(path: &str, host: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\
         {extra}\r\n"
    )
}

/// Writes `request` and reads the whole answer, until the server closes.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    bounded(async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
}

/// Writes `request` and reads one response: the head and, if it has a `Content-Length`, the
/// body; for servers that keep the connection open.
pub async fn response_head(addr: SocketAddr, request: &[u8]) -> String {
    bounded(async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let (head, mut body) = read_head_and_rest(&mut stream).await;
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, value)| value.trim().parse::<usize>().unwrap());
        let mut chunk = [0u8; 1024];
        while body.len() < length {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the end of the body");
            body.extend_from_slice(&chunk[..n]);
        }
        head + &String::from_utf8_lossy(&body)
    })
    .await
}

/// Reads from `stream` until a blank line ends the head; returns the text read.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let (head, rest) = read_head_and_rest(stream).await;
    head + &String::from_utf8_lossy(&rest)
}

/// Reads from `stream` until a blank line ends the head; returns the head (with the blank
/// line) and the bytes that came after it in the same reads.
pub async fn read_head_and_rest(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = answer.split_off(end + 4);
            return (String::from_utf8(answer).unwrap(), rest);
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before the end of the head: {answer:?}");
        answer.extend_from_slice(&chunk[..n]);
    }
}

/// The status code of an HTTP response.
pub fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// A masked client text frame, as RFC 6455 5.3 requires clients to send.
pub fn masked_text(text: &str) -> Vec<u8> {
    assert!(text.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}
