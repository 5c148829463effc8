//! Fan-out's publishers: one per channel, on the first node, at `--rate` publications per
//! second, over a plain-room WebSocket or the HTTP API (`POST /api/publish` on a keep-alive
//! HTTP/1.1 connection, with a client just big enough for that).
//!
//! Every message is a [`Stamp`]: a sequence number per channel and the instant it was sent,
//! in nanoseconds since the run's start on the bench process's monotonic clock. Publishers and
//! subscribers run in the same process, so a subscriber's latency is its receipt instant minus
//! the stamp, with no clock synchronisation involved.

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use serde::Deserialize;
use switchboard::{CloseCode, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::dial::Target;
use super::echo::CountedWs;
use super::fanout::DRAIN;
use super::Plan;

/// How long one API request (write, then the whole answer) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest HTTP answer head or body the API client accepts.
const MAX_ANSWER: usize = 1 << 20;

/// How the publishers publish (`--publish-via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Via {
    /// A plain-room WebSocket connection to the channel; the hub sends each message back to
    /// it too, and those copies are read and ignored, except that after the window the
    /// connection stays open until the last one is back.
    Ws,
    /// `POST /api/publish` with `Authorization: apikey KEY`, one request at a time on a
    /// keep-alive connection.
    Api,
}

impl Via {
    /// The name used in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Via::Ws => "ws",
            Via::Api => "api",
        }
    }
}

/// Parses `--rate`: a positive, finite number of publications per second.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "expected a positive number per second, got {text:?}"
        )),
    }
}

/// What a message carries: its sequence number in its channel, and when it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct Stamp {
    /// 0 for a channel's first publication, then 1, 2, ...
    pub(crate) seq: u64,
    /// Nanoseconds from the run's start to the send.
    pub(crate) t: u64,
}

impl Stamp {
    /// The message text: `{"seq":N,"t":N}`, padded with a `"pad"` string to about `size`
    /// bytes when `size` is larger.
    pub(crate) fn encode(self, size: usize) -> String {
        let mut text = format!("{{\"seq\":{},\"t\":{}", self.seq, self.t);
        // `,"pad":""}` is 10 bytes.
        let room = size.saturating_sub(text.len() + 10);
        if room > 0 {
            text.push_str(",\"pad\":\"");
            text.extend(std::iter::repeat_n('x', room));
            text.push('"');
        }
        text.push('}');
        text
    }

    /// Reads a message's stamp; other fields are ignored.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Nanoseconds from `start` to `now`.
pub(crate) fn nanos_since(start: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}

/// What one publisher did.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// Publications sent in the measured window (API: accepted by the hub).
    pub(crate) in_window: u64,
    /// API publications the hub refused, in the window or not.
    pub(crate) failed: u64,
    /// Why the publisher stopped early, if it did.
    pub(crate) error: Option<String>,
}

/// One channel's publisher: where it publishes and how.
pub(crate) struct Publisher {
    /// The channel's name.
    pub(crate) channel: String,
    /// Its position among the channels, which spreads the publishers' schedules.
    pub(crate) index: usize,
    /// Channels in all.
    pub(crate) of: usize,
    /// Publications per second.
    pub(crate) rate: f64,
    /// Message size (`--size`).
    pub(crate) size: usize,
    /// The run's start, for the stamps.
    pub(crate) start: Instant,
    /// Where the warm-up begins (the plan has the window's edges).
    pub(crate) begin: Instant,
    /// Gets the channel's sequence count when publishing stops, so subscribers know when they
    /// have everything.
    pub(crate) last: watch::Sender<Option<u64>>,
}

/// An open publishing connection.
pub(crate) enum Link {
    /// A plain room on the first node.
    Ws(Box<CountedWs>),
    /// The first node's HTTP API.
    Api(Api),
}

impl Publisher {
    /// Publishes on `link` from `begin` to `plan.end` on schedule, then tells the subscribers
    /// how many it sent.
    pub(crate) async fn run(self, link: Link, plan: Plan) -> Published {
        let mut published = Published::default();
        let mut seq = 0;
        let result = match link {
            Link::Ws(mut ws) => {
                let mut result = self.ws(&mut ws, &plan, &mut seq, &mut published).await;
                self.last.send_replace(Some(seq));
                if result.is_ok() && seq > 0 {
                    result = settle(&mut ws, seq - 1, plan.end + DRAIN).await;
                }
                let closing = ws.close(CloseCode::NORMAL_CLOSURE, "");
                let _ = tokio::time::timeout(Duration::from_secs(1), closing).await;
                result
            }
            Link::Api(mut api) => self.api(&mut api, &plan, &mut seq, &mut published).await,
        };
        if let Err(e) = result {
            published.error = Some(format!("publisher of {}: {e}", self.channel));
        }
        self.last.send_replace(Some(seq));
        published
    }

    /// When publication `seq` is due: channels start a fraction of an interval apart, so a
    /// thousand of them do not all publish at the same instant.
    fn due(&self, seq: u64) -> Instant {
        let phase = self.index as f64 / self.of.max(1) as f64;
        self.begin + Duration::from_secs_f64((seq as f64 + phase) / self.rate)
    }

    /// The message for `seq` sent at `now`, counted if it is in the window.
    fn stamp(&self, seq: u64, now: Instant) -> String {
        let t = nanos_since(self.start, now);
        Stamp { seq, t }.encode(self.size)
    }

    async fn ws(
        &self,
        ws: &mut CountedWs,
        plan: &Plan,
        seq: &mut u64,
        published: &mut Published,
    ) -> Result<(), String> {
        loop {
            let due = self.due(*seq);
            if due >= plan.end {
                return Ok(());
            }
            tokio::select! {
                biased;
                // The hub sends every publication back to its publisher too: read and drop.
                received = ws.recv() => match received {
                    Some(Ok(Message::Close(frame))) => return Err(closed(frame.as_ref())),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(format!("connection failed: {e}")),
                    None => return Err("the server closed the connection".into()),
                },
                () = tokio::time::sleep_until(due.into()) => {}
            }
            // Everything due by now goes out in one write (a late publisher catches up, but
            // not past the end: what was due before it and not sent by then is not sent).
            let now = Instant::now();
            if now >= plan.end {
                return Ok(());
            }
            while self.due(*seq) <= now {
                ws.queue(Message::text(self.stamp(*seq, now)))
                    .map_err(|e| e.to_string())?;
                if plan.measuring(now) {
                    published.in_window += 1;
                }
                *seq += 1;
            }
            ws.flush().await.map_err(|e| e.to_string())?;
        }
    }

    async fn api(
        &self,
        api: &mut Api,
        plan: &Plan,
        seq: &mut u64,
        published: &mut Published,
    ) -> Result<(), String> {
        let channel = serde_json::to_string(&self.channel).map_err(|e| e.to_string())?;
        loop {
            let due = self.due(*seq);
            if due >= plan.end {
                return Ok(());
            }
            tokio::time::sleep_until(due.into()).await;
            let now = Instant::now();
            if now >= plan.end {
                return Ok(());
            }
            let body = format!(
                "{{\"channel\":{channel},\"data\":{}}}",
                self.stamp(*seq, now)
            );
            *seq += 1;
            let (status, answer) = api.post("publish", body.as_bytes()).await?;
            if status == 200 {
                if plan.measuring(now) {
                    published.in_window += 1;
                }
            } else {
                published.failed += 1;
                if published.error.is_none() {
                    let answer = String::from_utf8_lossy(&answer);
                    published.error = Some(format!("publish answered {status}: {answer}"));
                }
            }
        }
    }
}

/// Waits, reading, until the hub sends back publication `last` (it sends every one back to
/// its publisher, in order), or `until`. Closing before the hub has read everything could
/// lose the last publications: a socket closed with unread data resets the connection.
async fn settle(ws: &mut CountedWs, last: u64, until: Instant) -> Result<(), String> {
    let deadline = tokio::time::sleep_until(until.into());
    tokio::pin!(deadline);
    loop {
        let received = tokio::select! {
            () = &mut deadline => return Ok(()),
            received = ws.recv() => received,
        };
        match received {
            Some(Ok(Message::Close(frame))) => return Err(closed(frame.as_ref())),
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                if Stamp::decode(message.as_bytes()).is_some_and(|stamp| stamp.seq >= last) {
                    return Ok(());
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("connection failed: {e}")),
            None => return Err("the server closed the connection".into()),
        }
    }
}

/// Why the server closed a publisher's connection, with a hint for the usual cause.
fn closed(frame: Option<&switchboard::CloseFrame>) -> String {
    let Some(frame) = frame else {
        return "the server closed the connection".into();
    };
    let mut text = format!(
        "the server closed the connection: {} {}",
        frame.code.0, frame.reason
    );
    if frame.code == CloseCode::POLICY_VIOLATION {
        text.push_str(
            " (raise the hub's limits.commands_per_second and command_burst above --rate, \
             or use --publish-via api)",
        );
    }
    text
}

/// A keep-alive HTTP/1.1 connection to a node's API: one request at a time, answers with a
/// Content-Length (which is what the hub sends). Reconnects when the server closes it.
pub(crate) struct Api {
    target: std::sync::Arc<Target>,
    /// The connection's index, for its source address.
    index: usize,
    /// `Host` header value.
    host: String,
    /// The node URL's path, without a trailing slash, before `/api/{method}`.
    prefix: String,
    key: String,
    stream: Option<TcpStream>,
    buffer: BytesMut,
}

impl Api {
    /// Opens a connection to the node `target` (its base URL `ws://HOST:PORT[/PREFIX]`).
    pub(crate) async fn open(
        target: std::sync::Arc<Target>,
        index: usize,
        key: &str,
    ) -> Result<Self, String> {
        let Target::Ws { uri, .. } = &*target else {
            return Err(
                "--publish-via api needs a ws:// node URL (the client speaks plain \
                        HTTP)"
                    .into(),
            );
        };
        let host = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or("the node URL has no host")?;
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let mut api = Self {
            target: target.clone(),
            index,
            host,
            prefix,
            key: key.to_owned(),
            stream: None,
            buffer: BytesMut::with_capacity(4096),
        };
        api.connect().await?;
        Ok(api)
    }

    async fn connect(&mut self) -> Result<(), String> {
        self.buffer.clear();
        self.stream = Some(self.target.dial_tcp(self.index).await?);
        Ok(())
    }

    /// `POST /api/{method}` with `body`; the answer's status and body.
    pub(crate) async fn post(
        &mut self,
        method: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let request = self.request(method, body);
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(&request)).await {
            Ok(Ok((status, body, keep_alive))) => {
                if !keep_alive {
                    self.stream = None;
                }
                Ok((status, body))
            }
            Ok(Err(e)) => {
                self.stream = None;
                Err(format!("POST /api/{method}: {e}"))
            }
            Err(_) => {
                self.stream = None;
                Err(format!(
                    "POST /api/{method}: no answer within {REQUEST_TIMEOUT:?}"
                ))
            }
        }
    }

    fn request(&self, method: &str, body: &[u8]) -> Vec<u8> {
        let mut request = format!(
            "POST {}/api/{method} HTTP/1.1\r\nHost: {}\r\nAuthorization: apikey {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.prefix,
            self.host,
            self.key,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    }

    /// Writes `request` and reads one answer: status, body, and whether the connection stays
    /// open.
    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>, bool), String> {
        let stream = self.stream.as_mut().ok_or("not connected")?;
        stream.write_all(request).await.map_err(|e| e.to_string())?;
        let head_end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at;
            }
            read_more(stream, &mut self.buffer).await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end])
            .map_err(|_| "the answer's head is not UTF-8")?;
        let Answer {
            status,
            length,
            keep_alive,
        } = Answer::parse(head)?;
        self.buffer.advance(head_end + 4);
        while self.buffer.len() < length {
            read_more(stream, &mut self.buffer).await?;
        }
        let body = self.buffer.split_to(length).to_vec();
        Ok((status, body, keep_alive))
    }
}

/// What the client needs from an answer's head.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    length: usize,
    keep_alive: bool,
}

impl Answer {
    fn parse(head: &str) -> Result<Self, String> {
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut words = status_line.split(' ');
        let version = words.next().unwrap_or_default();
        let status = words
            .next()
            .and_then(|code| code.parse().ok())
            .filter(|_| version.starts_with("HTTP/1."))
            .ok_or_else(|| format!("not an HTTP/1.x answer: {status_line:?}"))?;
        let mut length = None;
        let mut keep_alive = version == "HTTP/1.1";
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                keep_alive = !value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(format!("unsupported Transfer-Encoding: {value}"));
            }
        }
        let length = length.ok_or("the answer has no Content-Length")?;
        if length > MAX_ANSWER {
            return Err(format!("the answer's body is too large ({length} bytes)"));
        }
        Ok(Self {
            status,
            length,
            keep_alive,
        })
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut BytesMut) -> Result<(), String> {
    if buffer.len() > MAX_ANSWER + 64 * 1024 {
        return Err("the answer is too large".into());
    }
    buffer.reserve(4096);
    match stream.read_buf(buffer).await {
        Ok(0) => Err("the server closed the connection".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_pad_to_about_the_size() {
        let stamp = Stamp {
            seq: 42,
            t: 123_456_789,
        };
        let small = stamp.encode(16);
        assert_eq!(small, r#"{"seq":42,"t":123456789}"#);
        assert_eq!(Stamp::decode(small.as_bytes()), Some(stamp));
        let padded = stamp.encode(200);
        assert_eq!(padded.len(), 200);
        assert_eq!(Stamp::decode(padded.as_bytes()), Some(stamp));
        // The hub re-encodes API data, possibly with the keys in another order.
        let reordered = br#"{"pad":"xx","t":7,"seq":3}"#;
        assert_eq!(Stamp::decode(reordered), Some(Stamp { seq: 3, t: 7 }));
        assert_eq!(Stamp::decode(b"hello"), None);
    }

    #[test]
    fn rates_must_be_positive_and_finite() {
        assert_eq!(parse_rate("100"), Ok(100.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "inf", "NaN", "fast"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_give_status_length_and_keep_alive() {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12";
        let answer = Answer::parse(head).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            answer,
            Answer {
                status: 200,
                length: 12,
                keep_alive: true
            }
        );
        let closing = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\nConnection: close";
        assert_eq!(Answer::parse(closing).map(|a| a.keep_alive), Ok(false));
        assert!(Answer::parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked").is_err());
        assert!(Answer::parse("HTTP/1.1 200 OK").is_err());
        assert!(Answer::parse("SSH-2.0-OpenSSH").is_err());
    }
}
