//! [`Handle`]: the sending side of a [`Reconnecting`](super::Reconnecting) client, and the
//! state it shares with the driver.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use switchboard_proto::close::MAX_REASON_LEN;
use switchboard_proto::{CloseCode, CloseFrame, Message};
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};

/// Largest payload of a ping or pong (RFC 6455 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// State shared by the handles and the driver.
pub(super) struct Shared {
    /// The close the application asked for; the first request wins.
    pub(super) close: watch::Sender<Option<(CloseCode, String)>>,
    pub(super) connected: AtomicBool,
}

impl Shared {
    pub(super) fn request_close(&self, code: CloseCode, reason: &str) {
        // Handles refuse such codes; this catches a close among the `on_open` messages.
        let code = if code.is_valid_on_wire() {
            code
        } else {
            CloseCode::NORMAL_CLOSURE
        };
        let reason = CloseFrame::new(code, reason).reason.as_str().to_owned();
        self.close.send_if_modified(|close| {
            if close.is_some() {
                return false;
            }
            *close = Some((code, reason));
            true
        });
    }

    fn close_requested(&self) -> bool {
        self.close.borrow().is_some()
    }
}

/// Sends messages through a [`Reconnecting`](super::Reconnecting) client's queue and closes it. Cheap to clone.
///
/// Messages keep their order per handle (and across handles, in the order they entered the
/// queue). See the [module docs](super#messages-sent-while-disconnected) for what happens
/// while disconnected.
#[derive(Clone)]
pub struct Handle {
    pub(super) queue: mpsc::Sender<Message>,
    pub(super) shared: Arc<Shared>,
}

impl Handle {
    /// Queues a message without waiting.
    ///
    /// Fails with [`SendError::QueueFull`] when the queue is full, [`SendError::Stopped`]
    /// after [`close`](Self::close) or once the client stopped, and [`SendError::Invalid`]
    /// for a message no connection could send (a ping or pong over 125 bytes, a close code
    /// that may not be sent). Each hands the message back. A [`Message::Close`] is
    /// [`close`](Self::close) (with 1000 when it has no code).
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let Some(message) = self.admit(message.into())? else {
            return Ok(());
        };
        self.queue.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(m) => SendError::QueueFull(m),
            mpsc::error::TrySendError::Closed(m) => SendError::Stopped(m),
        })
    }

    /// Queues a message, waiting while the queue is full (which, while disconnected, is
    /// until the next connection drains it). Fails as [`try_send`](Self::try_send) does,
    /// never with `QueueFull`.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped before it completes, the message was not queued (and is
    /// dropped with the future).
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let Some(message) = self.admit(message.into())? else {
            return Ok(());
        };
        self.queue
            .send(message)
            .await
            .map_err(|e| SendError::Stopped(e.0))
    }

    /// Closes the client for good with `code` and `reason` (cut to the 123 bytes a close
    /// frame holds). Returns at once; the driver sends what is already queued, then does the
    /// closing handshake if connected, and the event stream ends with
    /// [`Stop::Requested`](super::Stop::Requested). Queued messages are dropped if it is not connected. Only the first
    /// close counts.
    ///
    /// Fails with [`Error::InvalidInput`] for a code that may not be sent (1005, 1006, 1015,
    /// anything outside 1000-4999 that is not registered).
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        if !code.is_valid_on_wire() {
            return Err(Error::InvalidInput("close code may not be sent"));
        }
        self.shared.request_close(code, reason);
        Ok(())
    }

    /// Whether a connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Whether the client stopped or was asked to close: sending fails from now on.
    pub fn is_stopped(&self) -> bool {
        self.shared.close_requested() || self.queue.is_closed()
    }

    /// Messages in the queue, waiting for a connection or for the current one to take them.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Checks a message at the edge, so the driver never holds one no connection can send.
    /// `Ok(None)`: it was a close, now requested.
    fn admit(&self, message: Message) -> Result<Option<Message>, SendError> {
        if self.is_stopped() {
            return Err(SendError::Stopped(message));
        }
        match &message {
            Message::Ping(payload) | Message::Pong(payload)
                if payload.len() > MAX_CONTROL_PAYLOAD =>
            {
                Err(SendError::Invalid(message))
            }
            Message::Close(frame) => {
                let (code, reason) = match frame {
                    Some(frame) => (frame.code, frame.reason.as_str()),
                    None => (CloseCode::NORMAL_CLOSURE, ""),
                };
                if !code.is_valid_on_wire() || reason.len() > MAX_REASON_LEN {
                    return Err(SendError::Invalid(message));
                }
                self.shared.request_close(code, reason);
                Ok(None)
            }
            _ => Ok(Some(message)),
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("connected", &self.is_connected())
            .field("stopped", &self.is_stopped())
            .field("queued", &self.queued())
            .finish()
    }
}

/// A message could not be queued; it is handed back.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full (only from `try_send`).
    QueueFull(Message),
    /// The client stopped or is closing: nothing more will be sent.
    Stopped(Message),
    /// No connection could send this message (a control payload over 125 bytes, a close
    /// code that may not be sent).
    Invalid(Message),
}

impl SendError {
    /// The message that was not queued.
    pub fn into_message(self) -> Message {
        match self {
            SendError::QueueFull(m) | SendError::Stopped(m) | SendError::Invalid(m) => m,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::QueueFull(_) => "the send queue is full",
            SendError::Stopped(_) => "the client is stopped or closing",
            SendError::Invalid(_) => "the message cannot be sent on a WebSocket",
        })
    }
}

impl std::error::Error for SendError {}
