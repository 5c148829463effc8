//! A client connection that reconnects by itself.
//!
//! # Map
//!
//! ```text
//!  policy, pure data and functions (unit-tested without a runtime):
//!    backoff::{BackoffPolicy, Backoff}      how long to wait before each attempt
//!    classify::{classify, ClosePolicy}      whether an error or close code is worth one
//!
//!  driver, a tokio task (thin: it asks the policy at every turn):
//!    connector() ──> WebSocket ──> on_open hook ──> [hook's messages, then the queue] ──> peer
//!         ^                             │
//!         └── sleep(backoff.next()) <── ended: classify ──> Retry | Fatal | Done
//!
//!  API:
//!    Reconnecting: a Stream of Event (Open, Message, Error, Closed, Reconnecting, Stopped)
//!    Handle:       a cloneable sender into the bounded queue, and close()
//! ```
//!
//! [`crate::callbacks`] builds the browser-style `on_open`/`on_message`/... API on top.
//!
//! # Lifecycle
//!
//! [`Reconnecting::new`] connects at once. When a connection drops or an attempt fails, the
//! error or the server's close code is [classified](classify()): a retry waits the next
//! [`Backoff`] delay (the first one random, as RFC 6455 7.2.3 asks) and connects again; a
//! fatal error, a close code that ends the session (1000 by default), [`Handle::close`], or
//! running out of [`max_attempts`](BackoffPolicy::max_attempts) stops the client for good.
//! The last event is then [`Event::Stopped`], and the stream ends.
//!
//! A connection that stays up for [`reset_after`](BackoffPolicy::reset_after) resets the
//! backoff, so the next drop starts again with the short random delay.
//!
//! # Messages sent while disconnected
//!
//! Every message goes through one bounded queue,
//! [`queue_capacity`](ReconnectOptions::queue_capacity) messages long (1024 by default).
//! While connected, the driver moves messages from the queue into the connection as fast as
//! the connection's own backpressure allows. While disconnected, they wait there, in order,
//! and go out after the next connection's `on_open` messages. When the queue is full,
//! [`Handle::try_send`] fails with [`SendError::QueueFull`] (handing the message back) and
//! [`Handle::send`] waits for room. When the client stops, queued messages are dropped and
//! sending fails with [`SendError::Stopped`].
//!
//! Delivery is at most once: a message handed to a connection that then drops may or may not
//! have reached the server, and is not sent again. Messages still in the queue are never lost
//! to a drop. Applications that need more keep their own acknowledgements.
//!
//! # Connecting to a URL
//!
//! [`Reconnecting::from_url`] and [`Reconnecting::with_client`] connect with the URL client
//! ([`ClientBuilder`](crate::ClientBuilder): TLS, proxies, headers, connect and handshake
//! timeouts). Any other transport plugs in through [`Reconnecting::new`], whose connector is
//! any `FnMut() -> impl Future<Output = Result<WebSocket<S>>>`, called once per attempt; put
//! connect and handshake timeouts in it: the driver waits for each attempt as long as it
//! takes.
//!
//! # Example
//!
//! ```
//! use switchboard::reconnect::{Event, ReconnectOptions, Reconnecting};
//! use switchboard::{Message, Result, WebSocket};
//! # async fn connect() -> Result<WebSocket<tokio::io::DuplexStream>> {
//! #     std::future::pending().await
//! # }
//!
//! # async fn example() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let options = ReconnectOptions::default()
//!     // Runs on every (re)connect; its messages go out before anything queued.
//!     .on_open(|_opened| async { vec![Message::text(r#"{"subscribe":"prices"}"#)] });
//! let mut client = Reconnecting::new(connect, options);
//! client.handle().try_send("hello")?;
//! while let Some(event) = client.recv().await {
//!     match event {
//!         Event::Message(message) => println!("{message:?}"),
//!         Event::Reconnecting(next) => println!("reconnecting in {:?}", next.delay),
//!         Event::Stopped(why) => println!("stopped: {why}"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```

pub mod backoff;
pub mod classify;
mod driver;
mod handle;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use switchboard_proto::{CloseCode, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

pub use backoff::{Backoff, BackoffPolicy};
pub use classify::{classify, classify_close, classify_status, ClosePolicy, Verdict};
pub use handle::{Handle, SendError};

use crate::error::{Error, Result};
use crate::websocket::WebSocket;
use handle::Shared;

/// Events the driver may have produced and the application not yet taken. Small on purpose:
/// when the application reads slowly, the driver stops reading the socket, so the server feels
/// the backpressure instead of our memory.
const EVENT_BUFFER: usize = 64;

/// What happens to a [`Reconnecting`] client, in order.
#[non_exhaustive]
#[derive(Debug)]
pub enum Event {
    /// A connection is up and the `on_open` hook has run; its messages are first in line,
    /// before everything queued.
    Open(Opened),
    /// A text or binary message from the server. Pings and pongs are answered and not
    /// reported.
    Message(Message),
    /// A connect attempt or an open connection failed. Followed by [`Event::Closed`] if the
    /// connection had opened, then by [`Event::Reconnecting`] or [`Event::Stopped`].
    Error(Error),
    /// An open connection ended.
    Closed(Closed),
    /// The next attempt is scheduled.
    Reconnecting(Reconnect),
    /// The client stopped for good; the stream ends after this event.
    Stopped(Stop),
}

/// A connection opened.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Which connection this is: 1 for the first, 2 after the first reconnect, and so on.
    pub connection: u64,
    /// The subprotocol the handshake agreed on.
    pub subprotocol: Option<String>,
}

impl Opened {
    /// Whether this is a reconnection rather than the first connection.
    pub fn is_reconnect(&self) -> bool {
        self.connection > 1
    }
}

/// An open connection ended.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The server's close code; 1005 if its close frame had none; for an error, the error's
    /// [`close_code`](Error::close_code) (1006 when the connection just broke). After
    /// [`Handle::close`], the code we closed with.
    pub code: CloseCode,
    /// The reason in the close frame, if any (ours after [`Handle::close`]).
    pub reason: String,
    /// Whether a reconnect follows ([`Event::Reconnecting`] comes next).
    pub will_reconnect: bool,
}

/// A reconnect attempt is scheduled.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// The attempt's number since the last good connection, from 1.
    pub attempt: u32,
    /// How long the driver waits before it.
    pub delay: Duration,
}

/// Why the client stopped for good.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// [`Handle::close`] was called.
    Requested,
    /// The server closed with a code that ends the session: 1000, or one classified fatal by
    /// the [`ClosePolicy`].
    ClosedByServer {
        /// The close code.
        code: CloseCode,
        /// The close reason.
        reason: String,
    },
    /// A fatal error, reported by the [`Event::Error`] just before.
    Failed,
    /// [`max_attempts`](BackoffPolicy::max_attempts) attempts in a row failed; the last
    /// error was reported just before.
    GaveUp {
        /// Attempts made since the last good connection.
        attempts: u32,
    },
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Requested => f.write_str("closed by the application"),
            Stop::ClosedByServer { code, reason } if reason.is_empty() => {
                write!(f, "closed by the server with {code}")
            }
            Stop::ClosedByServer { code, reason } => {
                write!(f, "closed by the server with {code} {reason:?}")
            }
            Stop::Failed => f.write_str("failed with an error that retrying cannot fix"),
            Stop::GaveUp { attempts } => write!(f, "gave up after {attempts} attempts"),
        }
    }
}

/// The `on_open` hook, boxed.
type OnOpen = Box<dyn FnMut(Opened) -> Pin<Box<dyn Future<Output = Vec<Message>> + Send>> + Send>;

/// Settings for a [`Reconnecting`] client.
#[non_exhaustive]
pub struct ReconnectOptions {
    /// The delays between attempts, when to reset them and when to give up.
    pub backoff: BackoffPolicy,
    /// Which server close codes lead to a reconnect.
    pub close_policy: ClosePolicy,
    /// Messages the queue holds (see the [module docs](self#messages-sent-while-disconnected)).
    /// Default 1024: enough for a chatty client (a hundred messages a second) to ride out
    /// the first few reconnect delays, and, for typical messages under a kilobyte, about a
    /// megabyte at most. The bound counts messages, not bytes: lower it if messages are
    /// large. Clamped to at least 1.
    pub queue_capacity: usize,
    on_open: Option<OnOpen>,
    rng: Option<Box<dyn FnMut() -> u64 + Send>>,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        Self {
            backoff: BackoffPolicy::default(),
            close_policy: ClosePolicy::default(),
            queue_capacity: 1024,
            on_open: None,
            rng: None,
        }
    }
}

impl ReconnectOptions {
    /// Sets the backoff policy (builder style).
    pub fn backoff(mut self, policy: BackoffPolicy) -> Self {
        self.backoff = policy;
        self
    }

    /// Sets the close code policy (builder style).
    pub fn close_policy(mut self, policy: ClosePolicy) -> Self {
        self.close_policy = policy;
        self
    }

    /// Sets the queue capacity (builder style).
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.queue_capacity = messages;
        self
    }

    /// Sets the hook that runs on every connect and reconnect, before anything else is sent:
    /// the messages it returns go out first, then the queue. This is where an application
    /// logs in again and renews its subscriptions.
    ///
    /// The connection is not read while the hook runs, so keep it short. A
    /// [`Message::Close`] among its messages closes the client like [`Handle::close`].
    pub fn on_open<F, Fut>(mut self, mut hook: F) -> Self
    where
        F: FnMut(Opened) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Message>> + Send + 'static,
    {
        self.on_open = Some(Box::new(move |opened| Box::pin(hook(opened))));
        self
    }

    /// Sets the random source for the backoff: each call returns 64 uniformly random bits.
    /// By default a generator seeded by the operating system. Tests pass a constant.
    pub fn rng(mut self, rng: impl FnMut() -> u64 + Send + 'static) -> Self {
        self.rng = Some(Box::new(rng));
        self
    }
}

impl fmt::Debug for ReconnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectOptions")
            .field("backoff", &self.backoff)
            .field("close_policy", &self.close_policy)
            .field("queue_capacity", &self.queue_capacity)
            .field("on_open", &self.on_open.is_some())
            .finish_non_exhaustive()
    }
}

/// A client connection that reconnects by itself: a [`Stream`] of [`Event`]s, with a
/// cloneable [`Handle`] to send and close.
///
/// A background task does the work; dropping the `Reconnecting` aborts it (the connection is
/// dropped without a closing handshake). For a clean end, call [`close`](Self::close) and
/// read events until the stream ends.
///
/// Read the events: when the application falls behind, the task stops reading the socket
/// (see the module docs on backpressure).
pub struct Reconnecting {
    events: mpsc::Receiver<Event>,
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Reconnecting {
    /// Starts a client for `url` (`ws://` or `wss://`) with the URL client's defaults.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns its task there).
    pub fn from_url(url: impl Into<String>, options: ReconnectOptions) -> Self {
        Self::with_client(crate::ClientBuilder::new(url), options)
    }

    /// Starts a client that connects with `client` (its URL, headers, TLS, proxy and
    /// timeouts) now and after every retriable drop.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns its task there).
    pub fn with_client(client: crate::ClientBuilder, options: ReconnectOptions) -> Self {
        let connector = move || {
            let client = client.clone();
            async move { client.connect().await.map(|(ws, _response)| ws) }
        };
        Self::new(connector, options)
    }

    /// Starts a client that connects with `connector` now and after every retriable drop.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns its task there).
    pub fn new<C, Fut, S>(connector: C, options: ReconnectOptions) -> Self
    where
        C: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<WebSocket<S>>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let capacity = options
            .queue_capacity
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        let (queue_tx, queue_rx) = mpsc::channel(capacity);
        let (events_tx, events) = mpsc::channel(EVENT_BUFFER);
        let (close_tx, close_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            close: close_tx,
            connected: AtomicBool::new(false),
        });
        let backoff = match options.rng {
            Some(rng) => Backoff::with_rng(options.backoff, rng),
            None => Backoff::new(options.backoff),
        };
        let driver = driver::Driver {
            connector,
            backoff,
            close_policy: options.close_policy,
            on_open: options.on_open,
            outbox: driver::Outbox::new(queue_rx),
            close_rx,
            shared: shared.clone(),
            events: events_tx,
            connections: 0,
        };
        let task = tokio::spawn(driver.run());
        Self {
            events,
            handle: Handle {
                queue: queue_tx,
                shared,
            },
            task,
        }
    }

    /// A handle to send messages and close the client; clone it freely.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Receives the next event; `None` after [`Event::Stopped`] (or, without it, if the
    /// connector or the `on_open` hook panicked).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an event is never lost when the future is dropped.
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Queues a message; see [`Handle::try_send`].
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.handle.try_send(message)
    }

    /// Queues a message, waiting for room; see [`Handle::send`].
    ///
    /// # Cancel safety
    ///
    /// As for [`Handle::send`]: if the future is dropped before it completes, the message was
    /// not queued.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.handle.send(message).await
    }

    /// Closes the client for good; see [`Handle::close`].
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        self.handle.close(code, reason)
    }
}

impl Stream for Reconnecting {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.get_mut().events.poll_recv(cx)
    }
}

impl Drop for Reconnecting {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for Reconnecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnecting")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}
