//! The reconnecting client and the callback API over in-memory pipes, with paused time: the
//! backoff sequence, its reset, fatal errors and close codes, `on_open`, the queue while
//! disconnected, `max_attempts`, closing, and callback order.
//!
//! Every test runs under `bounded`, so a hang fails after an hour of virtual time (an instant
//! of real time) instead of blocking the suite.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use switchboard::callbacks::WebSocketApp;
use switchboard::proto::{Connection, HandshakeError};
use switchboard::reconnect::{
    BackoffPolicy, ClosePolicy, Event, ReconnectOptions, Reconnecting, SendError, Stop,
};
use switchboard::{CloseCode, Error, Message, WebSocket, WebSocketConfig};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Random bits that are exactly one half.
const HALF: u64 = 1 << 63;

type Server = WebSocket<DuplexStream>;

/// What the next connect attempt does.
#[derive(Debug, Clone, Copy)]
enum Attempt {
    Accept,
    Refuse,
    Status(u16),
}

struct NetState {
    script: VecDeque<Attempt>,
    otherwise: Attempt,
    attempts: Vec<Instant>,
    accepted: mpsc::UnboundedSender<Server>,
}

/// A connector over `tokio::io::duplex` pipes: each attempt follows the script (then
/// `otherwise`), and the server end of each accepted pipe goes to the test.
#[derive(Clone)]
struct Net(Arc<Mutex<NetState>>);

impl Net {
    fn new(script: impl IntoIterator<Item = Attempt>) -> (Self, mpsc::UnboundedReceiver<Server>) {
        let (accepted, servers) = mpsc::unbounded_channel();
        let state = NetState {
            script: script.into_iter().collect(),
            otherwise: Attempt::Accept,
            attempts: Vec::new(),
            accepted,
        };
        (Self(Arc::new(Mutex::new(state))), servers)
    }

    fn otherwise(&self, attempt: Attempt) {
        self.0.lock().unwrap().otherwise = attempt;
    }

    fn attempts(&self) -> Vec<Instant> {
        self.0.lock().unwrap().attempts.clone()
    }

    fn connector(
        &self,
    ) -> impl FnMut() -> std::future::Ready<switchboard::Result<WebSocket<DuplexStream>>> + Send + 'static
    {
        let net = self.clone();
        move || std::future::ready(net.attempt())
    }

    fn attempt(&self) -> switchboard::Result<WebSocket<DuplexStream>> {
        let mut state = self.0.lock().unwrap();
        state.attempts.push(Instant::now());
        let attempt = state.script.pop_front().unwrap_or(state.otherwise);
        match attempt {
            Attempt::Refuse => Err(Error::Io(io::ErrorKind::ConnectionRefused.into())),
            Attempt::Status(status) => Err(Error::Handshake(HandshakeError::UnexpectedStatus(
                StatusCode::from_u16(status).unwrap(),
            ))),
            Attempt::Accept => {
                let (client, server) = pair();
                // The test may have stopped listening; the client then just sees a peer
                // that vanished.
                let _ = state.accepted.send(server);
                Ok(client)
            }
        }
    }
}

/// Keepalive off: while paused time jumps ahead, a server end the test is not reading must
/// not look dead.
fn config() -> WebSocketConfig {
    WebSocketConfig::default().keepalive(None, None)
}

fn pair() -> (WebSocket<DuplexStream>, Server) {
    let (a, b) = tokio::io::duplex(1 << 16);
    let config = config();
    let now = Instant::now().into_std();
    let client = Connection::client(config.protocol.clone(), now, |buf: &mut [u8]| buf.fill(7));
    let server = Connection::server(config.protocol.clone(), now);
    (
        WebSocket::from_connection(a, client, &config, None),
        WebSocket::from_connection(b, server, &config, None),
    )
}

/// Options with a fixed random source: `|| 0` makes every delay its nominal value (a zero
/// first delay and no jitter).
fn options(random: u64) -> ReconnectOptions {
    ReconnectOptions::default().rng(move || random)
}

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(3600), test)
        .await
        .expect("the test hung")
}

/// A short description of an event, so that tests compare readable sequences.
fn describe(event: &Event) -> String {
    match event {
        Event::Open(open) => format!("open {}", open.connection),
        Event::Message(message) => {
            format!("message {}", String::from_utf8_lossy(message.as_bytes()))
        }
        Event::Error(Error::Io(e)) => format!("error io {:?}", e.kind()),
        Event::Error(Error::Handshake(HandshakeError::UnexpectedStatus(s))) => {
            format!("error status {}", s.as_u16())
        }
        Event::Error(error) => format!("error {error:?}"),
        Event::Closed(closed) => format!(
            "closed {} {:?} reconnect={}",
            closed.code, closed.reason, closed.will_reconnect
        ),
        Event::Reconnecting(next) => format!("reconnecting #{} {:?}", next.attempt, next.delay),
        Event::Stopped(stop) => format!("stopped {stop:?}"),
        other => format!("{other:?}"),
    }
}

async fn next(client: &mut Reconnecting) -> String {
    describe(&client.recv().await.expect("the event stream ended early"))
}

async fn events(client: &mut Reconnecting, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        seen.push(next(client).await);
    }
    seen
}

/// Closes a server end from its own task (the closing handshake needs both ends polled).
fn close_server(mut server: Server, code: CloseCode, reason: &'static str) {
    tokio::spawn(async move { close_and_drain(&mut server, code, reason).await });
}

/// Starts the closing handshake as a server and reads until the connection ends.
///
/// Not `WebSocket::close`: as of this writing, a server's `close` misses the client's reply
/// when it arrives while it waits, and finishes only at the close timeout (10 s). Reading
/// with `recv` sees the reply at once.
async fn close_and_drain(server: &mut Server, code: CloseCode, reason: &str) {
    let frame = switchboard::CloseFrame::new(code, reason);
    server.send(Message::Close(Some(frame))).await.unwrap();
    while server.recv().await.is_some() {}
}

fn text(message: Option<switchboard::Result<Message>>) -> String {
    match message.unwrap().unwrap() {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[tokio::test(start_paused = true)]
async fn backoff_sequence_is_exact_with_a_fixed_rng() {
    bounded(async {
        let refusals = 8;
        let (net, mut servers) = Net::new([Attempt::Refuse; 8]);
        let mut client = Reconnecting::new(net.connector(), options(HALF));
        // Half the random window first, then the nominal delay less half the jitter (25%).
        let expected = [0.5, 0.75, 1.5, 3.0, 6.0, 12.0, 22.5, 22.5].map(secs);
        for (i, delay) in expected.iter().enumerate() {
            assert_eq!(next(&mut client).await, "error io ConnectionRefused");
            assert_eq!(
                next(&mut client).await,
                format!("reconnecting #{} {delay:?}", i + 1)
            );
        }
        assert_eq!(next(&mut client).await, "open 1");
        let _server = servers.recv().await.unwrap();
        // Paused time makes the waits exact: each attempt came its delay after the previous.
        let times = net.attempts();
        assert_eq!(times.len(), refusals + 1);
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps, expected);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn backoff_resets_after_a_connection_that_lasted() {
    bounded(async {
        use Attempt::*;
        let (net, mut servers) = Net::new([Refuse, Refuse, Accept, Refuse, Accept, Accept]);
        let mut client = Reconnecting::new(net.connector(), options(0));
        assert_eq!(
            events(&mut client, 5).await,
            [
                "error io ConnectionRefused",
                "reconnecting #1 0ns",
                "error io ConnectionRefused",
                "reconnecting #2 1s",
                "open 1",
            ]
        );
        // A connection that drops at once is no fresh start: the delays keep growing.
        close_server(servers.recv().await.unwrap(), CloseCode::GOING_AWAY, "");
        assert_eq!(
            events(&mut client, 5).await,
            [
                "closed 1001 \"\" reconnect=true",
                "reconnecting #3 2s",
                "error io ConnectionRefused",
                "reconnecting #4 4s",
                "open 2",
            ]
        );
        // One that stays up for `reset_after` (5 s) is: the next delay is the first again.
        let server = servers.recv().await.unwrap();
        tokio::time::sleep(BackoffPolicy::default().reset_after).await;
        close_server(server, CloseCode::SERVICE_RESTART, "deploy");
        assert_eq!(
            events(&mut client, 3).await,
            [
                "closed 1012 \"deploy\" reconnect=true",
                "reconnecting #1 0ns",
                "open 3",
            ]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_forbidden_handshake_stops_without_retrying() {
    bounded(async {
        let (net, _servers) = Net::new([Attempt::Status(403)]);
        let mut client = Reconnecting::new(net.connector(), options(0));
        assert_eq!(
            events(&mut client, 2).await,
            ["error status 403", "stopped Failed"]
        );
        assert!(client.recv().await.is_none());
        assert_eq!(net.attempts().len(), 1);
        assert!(matches!(
            client.try_send("late"),
            Err(SendError::Stopped(_))
        ));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn unavailable_and_rate_limited_handshakes_are_retried() {
    bounded(async {
        let (net, _servers) = Net::new([Attempt::Status(503), Attempt::Status(429)]);
        let mut client = Reconnecting::new(net.connector(), options(0));
        assert_eq!(
            events(&mut client, 5).await,
            [
                "error status 503",
                "reconnecting #1 0ns",
                "error status 429",
                "reconnecting #2 1s",
                "open 1",
            ]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn policy_violation_close_stops_and_normal_close_ends() {
    bounded(async {
        for (code, reason) in [
            (CloseCode::POLICY_VIOLATION, "banned"),
            (CloseCode::NORMAL_CLOSURE, "done"),
        ] {
            let (net, mut servers) = Net::new([]);
            let mut client = Reconnecting::new(net.connector(), options(0));
            assert_eq!(next(&mut client).await, "open 1");
            close_server(servers.recv().await.unwrap(), code, reason);
            assert_eq!(
                events(&mut client, 2).await,
                [
                    format!("closed {code} {reason:?} reconnect=false"),
                    format!(
                        "stopped ClosedByServer {{ code: CloseCode({}), reason: {reason:?} }}",
                        code.0
                    ),
                ]
            );
            assert!(client.recv().await.is_none());
            assert_eq!(net.attempts().len(), 1);
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn application_close_codes_retry_only_when_listed() {
    bounded(async {
        let (net, mut servers) = Net::new([]);
        let policy = ClosePolicy::default().retry_codes(4000..=4099);
        let mut client = Reconnecting::new(net.connector(), options(0).close_policy(policy));
        assert_eq!(next(&mut client).await, "open 1");
        close_server(servers.recv().await.unwrap(), CloseCode(4001), "shed");
        assert_eq!(
            events(&mut client, 3).await,
            [
                "closed 4001 \"shed\" reconnect=true",
                "reconnecting #1 0ns",
                "open 2"
            ]
        );
        close_server(servers.recv().await.unwrap(), CloseCode(4100), "kicked");
        assert_eq!(
            events(&mut client, 2).await,
            [
                "closed 4100 \"kicked\" reconnect=false",
                "stopped ClosedByServer { code: CloseCode(4100), reason: \"kicked\" }",
            ]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_protocol_error_from_the_server_is_fatal() {
    bounded(async {
        use futures_util::StreamExt;
        // A server that writes raw bytes: a masked frame, which servers must never send.
        let (raw_tx, mut raw_rx) = mpsc::unbounded_channel();
        let connector = move || {
            let (a, b) = tokio::io::duplex(1024);
            raw_tx.send(b).unwrap();
            let config = config();
            let now = Instant::now().into_std();
            let conn = Connection::client(config.protocol.clone(), now, |b: &mut [u8]| b.fill(7));
            std::future::ready(Ok(WebSocket::from_connection(a, conn, &config, None)))
        };
        let mut client = Reconnecting::new(connector, options(0));
        let mut raw = raw_rx.recv().await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut raw, b"\x81\x82\0\0\0\0hi")
            .await
            .unwrap();
        let mut seen = Vec::new();
        // The client reports the end through the `Stream` impl too.
        while let Some(event) = client.next().await {
            seen.push(describe(&event));
        }
        assert_eq!(
            seen,
            [
                "open 1",
                "error Protocol(MaskedFrame)",
                "closed 1002 \"\" reconnect=false",
                "stopped Failed",
            ]
        );
        assert!(raw_rx.try_recv().is_err(), "no second attempt");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn going_away_and_abnormal_drops_reconnect() {
    bounded(async {
        let (net, mut servers) = Net::new([]);
        let mut client = Reconnecting::new(net.connector(), options(0));
        assert_eq!(next(&mut client).await, "open 1");
        close_server(
            servers.recv().await.unwrap(),
            CloseCode::GOING_AWAY,
            "restart",
        );
        assert_eq!(
            events(&mut client, 3).await,
            [
                "closed 1001 \"restart\" reconnect=true",
                "reconnecting #1 0ns",
                "open 2"
            ]
        );
        // The peer vanishes without a close frame.
        drop(servers.recv().await.unwrap());
        assert_eq!(
            events(&mut client, 4).await,
            [
                "error AbnormalClosure",
                "closed 1006 \"\" reconnect=true",
                "reconnecting #2 1s",
                "open 3",
            ]
        );
        let _server = servers.recv().await.unwrap();
        assert!(client.handle().is_connected());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn on_open_runs_on_each_connect_and_its_messages_go_first() {
    bounded(async {
        let (net, mut servers) = Net::new([]);
        let opened = Arc::new(Mutex::new(Vec::new()));
        let seen = opened.clone();
        let options = options(0).on_open(move |open| {
            seen.lock().unwrap().push(open.is_reconnect());
            let n = open.connection;
            async move {
                vec![
                    Message::text(format!("login {n}")),
                    Message::text("subscribe"),
                ]
            }
        });
        let mut client = Reconnecting::new(net.connector(), options);
        // Queued before the driver even ran: they still follow the hook's messages.
        client.try_send("a").unwrap();
        client.try_send("b").unwrap();
        assert_eq!(next(&mut client).await, "open 1");
        let mut server = servers.recv().await.unwrap();
        for expected in ["login 1", "subscribe", "a", "b"] {
            assert_eq!(text(server.recv().await), expected);
        }
        close_server(server, CloseCode::SERVICE_RESTART, "");
        assert_eq!(events(&mut client, 2).await[1], "reconnecting #1 0ns",);
        client.try_send("c").unwrap();
        assert_eq!(next(&mut client).await, "open 2");
        let mut server = servers.recv().await.unwrap();
        for expected in ["login 2", "subscribe", "c"] {
            assert_eq!(text(server.recv().await), expected);
        }
        assert_eq!(*opened.lock().unwrap(), [false, true]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn messages_sent_while_disconnected_are_delivered_in_order_after_reconnect() {
    bounded(async {
        let (net, mut servers) = Net::new([]);
        // One second of random window at one half: the reconnect waits 0.5 s.
        let mut client = Reconnecting::new(net.connector(), options(HALF));
        let handle = client.handle();
        assert_eq!(next(&mut client).await, "open 1");
        close_server(servers.recv().await.unwrap(), CloseCode::GOING_AWAY, "");
        assert_eq!(
            events(&mut client, 2).await,
            ["closed 1001 \"\" reconnect=true", "reconnecting #1 500ms"]
        );
        assert!(!handle.is_connected());
        for i in 0..100 {
            handle.send(format!("m{i}")).await.unwrap();
        }
        assert_eq!(handle.queued(), 100);
        assert_eq!(next(&mut client).await, "open 2");
        let mut server = servers.recv().await.unwrap();
        for i in 0..100 {
            assert_eq!(text(server.recv().await), format!("m{i}"));
        }
        assert_eq!(handle.queued(), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_fails_try_send_and_holds_send_until_reconnected() {
    bounded(async {
        let (net, mut servers) = Net::new([]);
        net.otherwise(Attempt::Refuse);
        let mut client = Reconnecting::new(net.connector(), options(0).queue_capacity(3));
        let handle = client.handle();
        assert_eq!(next(&mut client).await, "error io ConnectionRefused");
        for m in ["a", "b", "c"] {
            handle.try_send(m).unwrap();
        }
        assert_eq!(
            handle.try_send("d"),
            Err(SendError::QueueFull(Message::text("d")))
        );
        // `send` waits for room, through any number of failed attempts...
        let waiting = {
            let handle = handle.clone();
            tokio::spawn(async move { handle.send("d").await })
        };
        let mut failures = 0;
        while failures < 5 {
            if next(&mut client).await.starts_with("error") {
                failures += 1;
            }
        }
        assert!(!waiting.is_finished());
        // ...and completes once a connection drains the queue.
        net.otherwise(Attempt::Accept);
        while next(&mut client).await != "open 1" {}
        waiting.await.unwrap().unwrap();
        let mut server = servers.recv().await.unwrap();
        for expected in ["a", "b", "c", "d"] {
            assert_eq!(text(server.recv().await), expected);
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn max_attempts_gives_up() {
    bounded(async {
        let (net, _servers) = Net::new([]);
        net.otherwise(Attempt::Refuse);
        let policy = BackoffPolicy::default().max_attempts(Some(3));
        let mut client = Reconnecting::new(net.connector(), options(0).backoff(policy));
        assert_eq!(
            events(&mut client, 8).await,
            [
                "error io ConnectionRefused",
                "reconnecting #1 0ns",
                "error io ConnectionRefused",
                "reconnecting #2 1s",
                "error io ConnectionRefused",
                "reconnecting #3 2s",
                "error io ConnectionRefused",
                "stopped GaveUp { attempts: 3 }",
            ]
        );
        assert!(client.recv().await.is_none());
        assert_eq!(net.attempts().len(), 4);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn close_sends_what_is_queued_then_the_close_frame() {
    bounded(async {
        let (net, mut servers) = Net::new([]);
        let mut client = Reconnecting::new(net.connector(), options(0));
        assert_eq!(next(&mut client).await, "open 1");
        let mut server = servers.recv().await.unwrap();
        client.try_send("last words").unwrap();
        client.close(CloseCode::NORMAL_CLOSURE, "bye").unwrap();
        assert!(matches!(
            client.try_send("too late"),
            Err(SendError::Stopped(_))
        ));
        let server_side = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(message) = server.recv().await {
                seen.push(message.unwrap());
            }
            seen
        });
        assert_eq!(
            events(&mut client, 2).await,
            ["closed 1000 \"bye\" reconnect=false", "stopped Requested"]
        );
        assert!(client.recv().await.is_none());
        let seen = server_side.await.unwrap();
        assert_eq!(seen[0], Message::text("last words"));
        assert!(matches!(&seen[1], Message::Close(Some(f)) if f.code == CloseCode::NORMAL_CLOSURE));
        assert_eq!(net.attempts().len(), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn close_while_waiting_to_reconnect_stops_at_once() {
    bounded(async {
        let (net, _servers) = Net::new([]);
        net.otherwise(Attempt::Refuse);
        // No randomness and a 1 s base: the second wait is 1 s.
        let mut client = Reconnecting::new(net.connector(), options(0));
        assert_eq!(events(&mut client, 4).await[3], "reconnecting #2 1s");
        let start = Instant::now();
        client.close(CloseCode::GOING_AWAY, "").unwrap();
        assert_eq!(next(&mut client).await, "stopped Requested");
        assert!(client.recv().await.is_none());
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(net.attempts().len(), 2);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn invalid_messages_and_close_codes_are_refused_at_the_edge() {
    bounded(async {
        let (net, _servers) = Net::new([]);
        let client = Reconnecting::new(net.connector(), options(0));
        let ping = Message::Ping(vec![0u8; 126].into());
        assert_eq!(client.try_send(ping.clone()), Err(SendError::Invalid(ping)));
        assert!(matches!(
            client.close(CloseCode::ABNORMAL_CLOSURE, ""),
            Err(Error::InvalidInput(_))
        ));
        assert!(!client.handle().is_stopped());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_the_client_stops_its_task() {
    bounded(async {
        let (net, _servers) = Net::new([]);
        let client = Reconnecting::new(net.connector(), options(0));
        let handle = client.handle();
        drop(client);
        for _ in 0..10 {
            if handle.is_stopped() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(matches!(handle.try_send("x"), Err(SendError::Stopped(_))));
    })
    .await;
}

/// The callback API over a scripted scenario: a refused attempt, a connection the server
/// restarts, and one it ends normally.
#[tokio::test(start_paused = true)]
async fn callbacks_are_called_in_order() {
    bounded(async {
        use Attempt::*;
        let (net, mut servers) = Net::new([Refuse, Accept, Accept]);
        let server_side = tokio::spawn(async move {
            let mut received = Vec::new();
            for (greeting, code) in [
                ("hello", CloseCode::SERVICE_RESTART),
                ("again", CloseCode::NORMAL_CLOSURE),
            ] {
                let mut server = servers.recv().await.unwrap();
                received.push(text(server.recv().await));
                received.push(text(server.recv().await));
                server.send(greeting).await.unwrap();
                close_and_drain(&mut server, code, "").await;
            }
            received
        });

        let log = Mutex::new(Vec::<String>::new());
        let say = |line: String| log.lock().unwrap().push(line);
        let ended = WebSocketApp::new(net.connector())
            .options(options(0))
            .on_open(|open| {
                let n = open.opened().connection;
                say(format!("open {n}"));
                open.send(format!("subscribe {n}"));
                // Queued through the handle: goes out after the subscription.
                open.handle().try_send(format!("hi {n}")).unwrap();
            })
            .on_message(|_, message| {
                say(format!(
                    "message {}",
                    String::from_utf8_lossy(message.as_bytes())
                ))
            })
            .on_error(|_, error| say(format!("error {error}")))
            .on_close(|_, closed| {
                say(format!(
                    "close {} reconnect={}",
                    closed.code, closed.will_reconnect
                ))
            })
            .on_reconnect(|_, next| say(format!("reconnect #{} {:?}", next.attempt, next.delay)))
            .run_forever()
            .await;

        assert_eq!(
            ended.unwrap(),
            Stop::ClosedByServer {
                code: CloseCode::NORMAL_CLOSURE,
                reason: String::new()
            }
        );
        assert_eq!(
            *log.lock().unwrap(),
            [
                "error I/O error: connection refused",
                "reconnect #1 0ns",
                "open 1",
                "message hello",
                "close 1012 reconnect=true",
                "reconnect #2 1s",
                "open 2",
                "message again",
                "close 1000 reconnect=false",
            ]
        );
        assert_eq!(
            server_side.await.unwrap(),
            ["subscribe 1", "hi 1", "subscribe 2", "hi 2"]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn run_forever_returns_the_fatal_error() {
    bounded(async {
        let (net, _servers) = Net::new([Attempt::Status(401)]);
        let mut errors = 0;
        let ended = WebSocketApp::new(net.connector())
            .on_error(|_, _| errors += 1)
            .run_forever()
            .await;
        assert!(matches!(
            ended,
            Err(Error::Handshake(HandshakeError::UnexpectedStatus(s))) if s == StatusCode::UNAUTHORIZED
        ));
        assert_eq!(errors, 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn closing_from_a_callback_ends_run_forever() {
    bounded(async {
        let (net, mut servers) = Net::new([]);
        let server_side = tokio::spawn(async move {
            let mut server = servers.recv().await.unwrap();
            server.send("stop please").await.unwrap();
            let mut seen = Vec::new();
            while let Some(message) = server.recv().await {
                seen.push(message.unwrap());
            }
            seen
        });
        let ended = WebSocketApp::new(net.connector())
            .options(options(0))
            .on_message(|handle, _| handle.close(CloseCode::NORMAL_CLOSURE, "as asked").unwrap())
            .run_forever()
            .await;
        assert_eq!(ended.unwrap(), Stop::Requested);
        let seen = server_side.await.unwrap();
        assert!(matches!(&seen[..], [Message::Close(Some(f))] if f.reason.as_str() == "as asked"));
    })
    .await;
}
