//! The event-callback API: `on_open`, `on_message`, `on_error`, `on_close`, `on_reconnect`
//! and `run_forever`, the shape of the browser's `WebSocket` and of Python websocket-client's
//! `WebSocketApp`, on top of [`Reconnecting`].
//!
//! Callbacks are plain closures, called one at a time and in the order things happen, on the
//! task that awaits [`run_forever`](WebSocketApp::run_forever). They may borrow from the
//! caller (a `Vec` to collect into, a counter) and must not block: they receive a [`Handle`]
//! whose [`try_send`](Handle::try_send) and [`close`](Handle::close) never wait.
//!
//! Two differences from websocket-client, both for reconnecting clients:
//!
//! - `on_open` runs on every connection, the first and each reconnection, so subscriptions
//!   are renewed in one place. What it sends goes out before anything queued meanwhile.
//! - `on_reconnect` runs when a reconnect is *scheduled*, with the attempt number and delay;
//!   `on_open` reports its success.
//!
//! ```
//! use switchboard::callbacks::WebSocketApp;
//! use switchboard::{Message, Result, WebSocket};
//! # async fn connect() -> Result<WebSocket<tokio::io::DuplexStream>> {
//! #     std::future::pending().await
//! # }
//!
//! # async fn example() {
//! let mut received = Vec::new();
//! let ended = WebSocketApp::new(connect)
//!     .on_open(|open| open.send(r#"{"subscribe":"prices"}"#))
//!     .on_message(|_, message| received.push(message))
//!     .on_error(|_, error| eprintln!("error: {error}"))
//!     .on_close(|_, closed| eprintln!("closed with {}", closed.code))
//!     .on_reconnect(|_, next| eprintln!("reconnect #{} in {:?}", next.attempt, next.delay))
//!     .run_forever()
//!     .await;
//! println!("done: {ended:?}");
//! # }
//! ```

use std::fmt;
use std::future::Future;

use switchboard_proto::{CloseCode, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::reconnect::{
    Closed, Event, Handle, Opened, Reconnect, ReconnectOptions, Reconnecting, Stop,
};
use crate::websocket::WebSocket;

type Start<'a> = Box<dyn FnOnce(ReconnectOptions) -> Reconnecting + Send + 'a>;
type OnOpen<'a> = Box<dyn FnMut(&mut Opening<'_>) + Send + 'a>;
type OnMessage<'a> = Box<dyn FnMut(&Handle, Message) + Send + 'a>;
type OnError<'a> = Box<dyn FnMut(&Handle, &Error) + Send + 'a>;
type OnClose<'a> = Box<dyn FnMut(&Handle, &Closed) + Send + 'a>;
type OnReconnect<'a> = Box<dyn FnMut(&Handle, &Reconnect) + Send + 'a>;

/// A reconnecting client driven by callbacks. Build it, set the callbacks you need, then
/// await [`run_forever`](Self::run_forever).
pub struct WebSocketApp<'a> {
    start: Start<'a>,
    options: ReconnectOptions,
    on_open: Option<OnOpen<'a>>,
    on_message: Option<OnMessage<'a>>,
    on_error: Option<OnError<'a>>,
    on_close: Option<OnClose<'a>>,
    on_reconnect: Option<OnReconnect<'a>>,
}

impl<'a> WebSocketApp<'a> {
    /// A client that connects with `connector` (called once per attempt; see
    /// [`Reconnecting::new`]), with default [`ReconnectOptions`] and no callbacks.
    pub fn new<C, Fut, S>(connector: C) -> Self
    where
        C: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<WebSocket<S>>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self {
            start: Box::new(move |options| Reconnecting::new(connector, options)),
            options: ReconnectOptions::default(),
            on_open: None,
            on_message: None,
            on_error: None,
            on_close: None,
            on_reconnect: None,
        }
    }

    /// A client for `url` (`ws://` or `wss://`) with the URL client's defaults.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self::with_client(crate::ClientBuilder::new(url))
    }

    /// A client that connects with `client` (its URL, headers, TLS, proxy and timeouts).
    pub fn with_client(client: crate::ClientBuilder) -> Self {
        Self::new(move || {
            let client = client.clone();
            async move { client.connect().await.map(|(ws, _response)| ws) }
        })
    }

    /// Sets the backoff, close code policy and queue size. An `on_open` hook in them is
    /// replaced by the [`on_open`](Self::on_open) callback when one is set.
    pub fn options(mut self, options: ReconnectOptions) -> Self {
        self.options = options;
        self
    }

    /// Called on every connection, first and reconnections, before anything queued is sent:
    /// what it sends through the [`Opening`] goes out first. Renew subscriptions here.
    pub fn on_open(mut self, callback: impl FnMut(&mut Opening<'_>) + Send + 'a) -> Self {
        self.on_open = Some(Box::new(callback));
        self
    }

    /// Called with each text or binary message.
    pub fn on_message(mut self, callback: impl FnMut(&Handle, Message) + Send + 'a) -> Self {
        self.on_message = Some(Box::new(callback));
        self
    }

    /// Called with each error: failed attempts, failed connections, the fatal error that
    /// stops the client, and messages a connection refused.
    pub fn on_error(mut self, callback: impl FnMut(&Handle, &Error) + Send + 'a) -> Self {
        self.on_error = Some(Box::new(callback));
        self
    }

    /// Called when an open connection ends, with its close code and reason and whether a
    /// reconnect follows.
    pub fn on_close(mut self, callback: impl FnMut(&Handle, &Closed) + Send + 'a) -> Self {
        self.on_close = Some(Box::new(callback));
        self
    }

    /// Called when a reconnect is scheduled, with its attempt number and delay.
    pub fn on_reconnect(mut self, callback: impl FnMut(&Handle, &Reconnect) + Send + 'a) -> Self {
        self.on_reconnect = Some(Box::new(callback));
        self
    }

    /// Connects, calls the callbacks as things happen, and returns when the client stops for
    /// good: `Ok` with why ([`Stop::Requested`], [`Stop::ClosedByServer`],
    /// [`Stop::GaveUp`]), or `Err` with the fatal error (also passed to `on_error`).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the client at once, without a closing handshake; use
    /// [`Handle::close`] from a callback for a clean end.
    pub async fn run_forever(self) -> Result<Stop> {
        let Self {
            start,
            mut options,
            mut on_open,
            mut on_message,
            mut on_error,
            mut on_close,
            mut on_reconnect,
        } = self;
        // `on_open` runs here, in order with the other callbacks, while the driver waits for
        // its messages; a request travels to this task and the messages travel back.
        let (open_tx, mut open_rx) = mpsc::channel::<(Opened, oneshot::Sender<Vec<Message>>)>(1);
        if on_open.is_some() {
            options = options.on_open(move |opened| {
                let open_tx = open_tx.clone();
                async move {
                    let (reply_tx, reply_rx) = oneshot::channel();
                    if open_tx.send((opened, reply_tx)).await.is_err() {
                        return Vec::new();
                    }
                    reply_rx.await.unwrap_or_default()
                }
            });
        }
        let mut client = start(options);
        let handle = client.handle();
        let mut last_error = None;
        loop {
            tokio::select! {
                // Events first: everything the driver reported before asking for `on_open`
                // is handled before it, so callbacks run in the order things happened.
                biased;
                event = client.recv() => {
                    let Some(event) = event else {
                        // The driver ended without a word: the connector or a hook panicked.
                        return last_error.map_or(Ok(Stop::Failed), Err);
                    };
                    match event {
                        Event::Open(_) => {}
                        Event::Message(message) => {
                            if let Some(callback) = &mut on_message {
                                callback(&handle, message);
                            }
                        }
                        Event::Error(error) => {
                            if let Some(callback) = &mut on_error {
                                callback(&handle, &error);
                            }
                            last_error = Some(error);
                        }
                        Event::Closed(closed) => {
                            if let Some(callback) = &mut on_close {
                                callback(&handle, &closed);
                            }
                        }
                        Event::Reconnecting(next) => {
                            if let Some(callback) = &mut on_reconnect {
                                callback(&handle, &next);
                            }
                        }
                        Event::Stopped(Stop::Failed) => {
                            return last_error.map_or(Ok(Stop::Failed), Err);
                        }
                        Event::Stopped(stop) => return Ok(stop),
                    }
                }
                Some((opened, reply)) = open_rx.recv() => {
                    let mut opening = Opening { handle: &handle, opened: &opened, first: Vec::new() };
                    if let Some(callback) = &mut on_open {
                        callback(&mut opening);
                    }
                    // The driver may have stopped meanwhile; then nobody needs the messages.
                    let _ = reply.send(opening.first);
                }
            }
        }
    }
}

impl fmt::Debug for WebSocketApp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketApp")
            .field("options", &self.options)
            .field("on_open", &self.on_open.is_some())
            .field("on_message", &self.on_message.is_some())
            .field("on_error", &self.on_error.is_some())
            .field("on_close", &self.on_close.is_some())
            .field("on_reconnect", &self.on_reconnect.is_some())
            .finish_non_exhaustive()
    }
}

/// What `on_open` receives: the new connection, a place for the messages that go out first,
/// and the client's [`Handle`] (clone it to send from elsewhere later).
pub struct Opening<'h> {
    handle: &'h Handle,
    opened: &'h Opened,
    first: Vec<Message>,
}

impl Opening<'_> {
    /// Which connection this is and what it negotiated.
    pub fn opened(&self) -> &Opened {
        self.opened
    }

    /// The client's handle.
    pub fn handle(&self) -> &Handle {
        self.handle
    }

    /// Sends a message on this connection before anything queued. A [`Message::Close`]
    /// closes the client, as [`close`](Self::close) does.
    pub fn send(&mut self, message: impl Into<Message>) {
        self.first.push(message.into());
    }

    /// Closes the client for good; see [`Handle::close`].
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        self.handle.close(code, reason)
    }
}

impl fmt::Debug for Opening<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opening")
            .field("opened", self.opened)
            .field("first", &self.first)
            .finish_non_exhaustive()
    }
}
