//! The connection state machine: framing, fragmentation, control frames, the closing handshake
//! and keepalive, for either role (RFC 6455 sections 5 to 7).
//!
//! # Method taxonomy
//!
//! - Getters take `&self`: [`state`](Connection::state), [`rtt`](Connection::rtt),
//!   [`close_code`](Connection::close_code), [`buffered_amount`](Connection::buffered_amount).
//! - Network input is `receive_*`: [`receive_bytes`](Connection::receive_bytes),
//!   [`receive_buffered`](Connection::receive_buffered), [`receive_eof`](Connection::receive_eof);
//!   the passage of time is [`handle_timeout`](Connection::handle_timeout).
//!   [`receive_buffered_with`](Connection::receive_buffered_with) also lends the messages it
//!   completes to a callback, in place in the read buffer where it can, instead of queueing
//!   them for `poll_event`.
//! - Application commands are verbs: [`send`](Connection::send),
//!   [`send_fragment`](Connection::send_fragment), [`ping`](Connection::ping),
//!   [`pong`](Connection::pong), [`close`](Connection::close); [`outbox`](Connection::outbox)
//!   sends from borrowed payloads.
//! - Outputs are `poll_*`: [`poll_event`](Connection::poll_event),
//!   [`poll_transmit`](Connection::poll_transmit), [`poll_timeout`](Connection::poll_timeout),
//!   and [`wants_transport_close`](Connection::wants_transport_close).
//! - A written batch may go back with [`reuse`](Connection::reuse), so that its chunk list
//!   serves the next one.
//!
//! After any input or verb, the caller polls: `poll_event` until `Ok(None)`, `poll_transmit`
//! until `None` (writing what it returns), then sleeps until `poll_timeout`. When
//! `wants_transport_close` turns true, it writes what is left and closes the transport.

mod keepalive;
mod outbox;
mod receive;
mod send;

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

pub use outbox::Outbox;
pub use send::Outgoing;

use crate::close::{CloseCode, CloseFrame};
use crate::config::{Config, Limits};
use crate::entropy::Entropy;
use crate::error::Error;
use crate::extension::Extension;
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::message::{Message, MessageRef};
use crate::opcode::OpCode;
use crate::role::Role;
use crate::utf8::Utf8Validator;
use keepalive::{Keepalive, KeepaliveAction};
use outbox::{queue_data, shared_payload};
use receive::{Received, Receiver};
use send::{free_if_large, Payload, Sender};

/// Where the closing handshake stands (RFC 6455 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's. Messages still arrive; none can be sent.
    Closing,
    /// The closing handshake finished, or the connection failed. Nothing more is sent or
    /// received; see [`Connection::wants_transport_close`] for when to close the transport.
    Closed,
}

/// What ends the input, taking effect in order with the messages before it.
#[derive(Debug)]
enum EndOfInput {
    Close(Option<CloseFrame>),
    Fail(Error),
}

/// A WebSocket connection after the opening handshake, without I/O.
///
/// Bytes from the transport go in through `receive_*`; messages come out of
/// [`poll_event`](Self::poll_event); bytes for the transport come out of
/// [`poll_transmit`](Self::poll_transmit). See the [module docs](self) for the full cycle.
pub struct Connection {
    role: Role,
    config: Config,
    extension: Option<Box<dyn Extension>>,
    receiver: Receiver,
    sender: Sender,
    events: VecDeque<Message>,
    keepalive: Keepalive,
    state: State,
    close_sent: Option<Option<CloseFrame>>,
    close_received: Option<Option<CloseFrame>>,
    /// While closing: when to give up on the peer's close frame. Once closed, as a client:
    /// when to stop waiting for the server to close TCP.
    close_deadline: Option<Instant>,
    transport_close: bool,
    eof: bool,
    /// What ended the input (the peer's close frame, or a protocol error), waiting until the
    /// application has taken the messages received before it.
    end_of_input: Option<EndOfInput>,
    error: Option<Error>,
    /// The latest time the caller told us.
    now: Instant,
    /// The text validator of a message being sent in fragments, or `None` for binary.
    sending_fragmented: Option<Option<Utf8Validator>>,
    compressed: BytesMut,
}

impl Connection {
    /// A server-side connection, created at `now`.
    pub fn server(config: Config, now: Instant) -> Self {
        Self::new(Role::Server, config, now, None)
    }

    /// A client-side connection, created at `now`. `entropy` supplies the masking keys, which
    /// RFC 6455 10.3 requires to be unpredictable: use a cryptographic generator.
    pub fn client(config: Config, now: Instant, entropy: impl Entropy + 'static) -> Self {
        Self::new(Role::Client, config, now, Some(Box::new(entropy)))
    }

    fn new(role: Role, config: Config, now: Instant, entropy: Option<Box<dyn Entropy>>) -> Self {
        Self {
            role,
            keepalive: Keepalive::new(config.ping_interval, config.ping_timeout, now),
            config,
            extension: None,
            receiver: Receiver::new(role, BytesMut::new()),
            sender: Sender::new(entropy),
            events: VecDeque::new(),
            state: State::Open,
            close_sent: None,
            close_received: None,
            close_deadline: None,
            transport_close: false,
            eof: false,
            end_of_input: None,
            error: None,
            now,
            sending_fragmented: None,
            compressed: BytesMut::new(),
        }
    }

    /// Uses the extension the opening handshake negotiated (such as permessage-deflate).
    pub fn with_extension(mut self, extension: Option<Box<dyn Extension>>) -> Self {
        self.extension = extension;
        self
    }

    /// Takes over the buffer the opening handshake read into, with any framing bytes that
    /// followed the handshake. Call [`receive_buffered`](Self::receive_buffered) next so they
    /// are processed.
    pub fn with_read_buffer(mut self, buf: BytesMut) -> Self {
        self.receiver.buf = buf;
        self
    }

    // ------------------------------------------------------------------ getters

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the closing handshake stands.
    #[inline]
    pub fn state(&self) -> State {
        self.state
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The negotiated extension, if any.
    pub fn extension(&self) -> Option<&dyn Extension> {
        self.extension.as_deref()
    }

    /// The round-trip time measured by the last answered keepalive ping.
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.keepalive.rtt()
    }

    /// Bytes queued for the transport and not yet taken by
    /// [`poll_transmit`](Self::poll_transmit): the measure for backpressure.
    #[inline]
    pub fn buffered_amount(&self) -> usize {
        self.sender.queued()
    }

    /// The capacity of the [read buffer](Self::read_buffer): the bytes it holds plus the room
    /// after them. The tokio layer empties it of its allocation while the connection is quiet,
    /// so that an idle connection costs no read buffer.
    pub fn read_buffer_capacity(&self) -> usize {
        self.receiver.buf.capacity()
    }

    /// The room in the buffer frames are queued in; 0 while the connection holds none (the
    /// tokio layer [takes](Self::take_send_buffer) it once everything queued is written).
    pub fn send_buffer_capacity(&self) -> usize {
        self.sender.buffer_capacity()
    }

    /// The error that failed the connection, if one did.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The close frame we sent, once we sent one (`Some(None)` for an empty close frame).
    pub fn close_sent(&self) -> Option<Option<&CloseFrame>> {
        self.close_sent.as_ref().map(Option::as_ref)
    }

    /// The close frame the peer sent, once it arrived (`Some(None)` for an empty one).
    pub fn close_received(&self) -> Option<Option<&CloseFrame>> {
        self.close_received.as_ref().map(Option::as_ref)
    }

    /// Once closed, the code the connection closed with, as the browser API reports it: the
    /// peer's code, 1005 if its close frame had none, or 1006 if it ended without one.
    pub fn close_code(&self) -> Option<CloseCode> {
        if self.state != State::Closed {
            return None;
        }
        Some(match &self.close_received {
            Some(Some(frame)) => frame.code,
            Some(None) => CloseCode::NO_STATUS_RECEIVED,
            None => CloseCode::ABNORMAL_CLOSURE,
        })
    }

    // ------------------------------------------------------------------ input

    /// Feeds bytes read from the transport at `now`.
    ///
    /// Afterwards poll [`poll_event`](Self::poll_event) (messages),
    /// [`poll_transmit`](Self::poll_transmit) (automatic pongs and close replies) and
    /// [`wants_transport_close`](Self::wants_transport_close).
    pub fn receive_bytes(&mut self, now: Instant, data: &[u8]) {
        self.receiver.buf.extend_from_slice(data);
        self.receive_buffered(now);
    }

    /// The buffer the transport should read into, to save the copy of
    /// [`receive_bytes`](Self::receive_bytes). Call
    /// [`receive_buffered`](Self::receive_buffered) after appending to it.
    #[inline]
    pub fn read_buffer(&mut self) -> &mut BytesMut {
        &mut self.receiver.buf
    }

    /// Processes the bytes appended to [`read_buffer`](Self::read_buffer) at `now`. Poll
    /// afterwards as after [`receive_bytes`](Self::receive_bytes).
    pub fn receive_buffered(&mut self, now: Instant) {
        self.now = now;
        self.process();
    }

    /// [`receive_buffered`](Self::receive_buffered), lending each message these bytes
    /// completed to `f` instead of queueing it for [`poll_event`](Self::poll_event), along with
    /// an [`Outbox`] for replies. Returns how many messages `f` saw.
    ///
    /// A message under 16 KiB that arrived whole in one uncompressed frame is lent straight
    /// from the read buffer, unmasked and checked in place: no reference count is taken and
    /// nothing is copied. Everything else (larger, fragmented and compressed messages, pings
    /// and pongs, and what follows them in the buffer) is decoded as `receive_buffered` does
    /// and lent from there; a large payload such a message lends is queued by the outbox
    /// without a copy. Messages [`poll_event`](Self::poll_event) had not yet returned go
    /// first. Order is kept throughout.
    ///
    /// The peer's close frame and protocol errors are not lent: they take effect through
    /// `poll_event`, after every message before them, as always. Poll `poll_event` (for them),
    /// [`poll_transmit`](Self::poll_transmit) and the rest afterwards, as after
    /// [`receive_bytes`](Self::receive_bytes).
    pub fn receive_buffered_with<F>(&mut self, now: Instant, mut f: F) -> usize
    where
        F: FnMut(MessageRef<'_>, &mut Outbox<'_>),
    {
        self.now = now;
        let mut lent = 0;
        let mut consumed = 0;
        // In place only while nothing decoded earlier waits to go first.
        if self.events.is_empty()
            && self.end_of_input.is_none()
            && self.error.is_none()
            && self.close_received.is_none()
        {
            let (receiver, limits, mut outbox) = self.split_for_lending();
            while let Some((message, next)) = receiver.in_place(consumed, limits) {
                f(message, &mut outbox);
                lent += 1;
                consumed = next;
            }
        }
        self.receiver.buf.advance(consumed);
        self.process();
        while let Some(message) = self.events.pop_front() {
            let mut outbox = self.outbox();
            // A large payload echoed or forwarded from this message is queued without a copy.
            outbox.lent = shared_payload(&message);
            f(MessageRef::from(&message), &mut outbox);
            lent += 1;
        }
        lent
    }

    /// The transport reached end of file. If the closing handshake had not finished, the
    /// connection fails with [`Error::AbnormalClosure`] (close code 1006), after the messages
    /// that were already buffered. Poll afterwards as after
    /// [`receive_bytes`](Self::receive_bytes).
    pub fn receive_eof(&mut self) {
        self.eof = true;
        self.process();
    }

    /// Tells the connection that time `now` has come; call it when
    /// [`poll_timeout`](Self::poll_timeout)'s deadline passes. It may queue a keepalive ping,
    /// fail the connection (keepalive timeout), or end the closing handshake.
    ///
    /// A keepalive ping is also when the connection frees the send buffers that large messages
    /// grew (a client copies every payload it masks into one, and compressed output goes into
    /// another), once nothing still queued is in them. Poll
    /// [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event) and
    /// [`wants_transport_close`](Self::wants_transport_close) afterwards.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let due = |deadline: Option<Instant>| deadline.is_some_and(|d| now >= d);
        match self.state {
            State::Open => match self.keepalive.on_timeout(now) {
                KeepaliveAction::Ping(payload) => {
                    // A tick that comes whatever the traffic, and seldom: a connection that is
                    // busy with large messages reallocates once per interval, and an idle one
                    // gives back what its last large messages grew.
                    self.sender.release_large_buffer();
                    free_if_large(&mut self.compressed);
                    self.sender
                        .frame(true, 0, OpCode::Ping, Payload::Borrowed(&payload));
                }
                KeepaliveAction::TimedOut => self.fail(Error::KeepaliveTimeout),
                KeepaliveAction::None => {}
            },
            // RFC 6455 7.1.1: the peer never answered our close frame; give up on it.
            State::Closing if due(self.close_deadline) => {
                self.state = State::Closed;
                self.error = Some(Error::AbnormalClosure);
                self.transport_close = true;
            }
            // The server did not close TCP after the closing handshake; we do (7.1.1).
            State::Closed if due(self.close_deadline) => self.transport_close = true,
            _ => {}
        }
    }

    // ------------------------------------------------------------------ verbs

    /// Queues a message. Text and binary messages go through the negotiated extension (and may
    /// be compressed); pings and pongs carry at most 125 bytes; `Message::Close` is
    /// [`close`](Self::close) at the latest known time.
    ///
    /// Fails with [`Error::Closed`] once our close frame is sent, with the sticky error once
    /// the connection failed. Poll [`poll_transmit`](Self::poll_transmit) afterwards.
    #[inline]
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_data(OpCode::Text, text.into_bytes()),
            Message::Binary(data) => self.send_data(OpCode::Binary, data),
            Message::Ping(payload) => self.ping(payload),
            Message::Pong(payload) => self.pong(payload),
            Message::Close(frame) => {
                let (code, reason) = match &frame {
                    Some(frame) => (Some(frame.code), frame.reason.as_str()),
                    None => (None, ""),
                };
                self.close_with(code, reason)
            }
        }
    }

    /// An [`Outbox`]: sending from borrowed payloads, which it copies into the send queue
    /// (as a small frame is anyway), where [`send`](Self::send) takes owned ones.
    pub fn outbox(&mut self) -> Outbox<'_> {
        self.split_for_lending().2
    }

    /// Queues one frame of a message sent in pieces: `opcode` is [`OpCode::Text`] or
    /// [`OpCode::Binary`] for the first frame and [`OpCode::Continuation`] after it; `fin`
    /// marks the last. Fragmented messages are sent uncompressed. Text is checked as it goes:
    /// a piece that makes the text invalid UTF-8 fails with [`Error::InvalidInput`] before
    /// anything is queued. Poll [`poll_transmit`](Self::poll_transmit) afterwards.
    pub fn send_fragment(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.check_can_send()?;
        let mut validator = match (opcode, self.sending_fragmented.take()) {
            (OpCode::Text, None) => Some(Utf8Validator::new()),
            (OpCode::Binary, None) => None,
            (OpCode::Continuation, Some(validator)) => validator,
            (OpCode::Continuation, None) => {
                return Err(Error::InvalidInput(
                    "continuation without a message in progress",
                ));
            }
            (_, in_progress) => {
                self.sending_fragmented = in_progress;
                return Err(Error::InvalidInput("a fragmented message is in progress"));
            }
        };
        if let Some(utf8) = &mut validator {
            let valid = utf8
                .feed(payload)
                .and_then(|()| if fin { utf8.finish() } else { Ok(()) });
            if valid.is_err() {
                return Err(Error::InvalidInput("text is not valid UTF-8"));
            }
        }
        self.sender
            .frame(fin, 0, opcode, Payload::Borrowed(payload));
        if !fin {
            self.sending_fragmented = Some(validator);
        }
        Ok(())
    }

    /// Queues a ping (at most 125 bytes of payload). Poll
    /// [`poll_transmit`](Self::poll_transmit) afterwards.
    pub fn ping(&mut self, payload: Bytes) -> Result<(), Error> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues a pong (at most 125 bytes), for applications that turned auto-pong off or send
    /// unsolicited pongs as heartbeats (RFC 6455 5.5.3). Poll
    /// [`poll_transmit`](Self::poll_transmit) afterwards.
    pub fn pong(&mut self, payload: Bytes) -> Result<(), Error> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the closing handshake at `now` with `code` and `reason` (cut to 123 bytes at a
    /// character boundary). The code must be valid on the wire (not 1005, 1006 or 1015).
    ///
    /// Messages may still arrive until the peer's close frame, which is reported as
    /// [`Message::Close`]; if it does not come within the close timeout, the connection ends
    /// with [`Error::AbnormalClosure`]. Poll [`poll_transmit`](Self::poll_transmit) and
    /// [`poll_timeout`](Self::poll_timeout) afterwards.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.now = now;
        self.close_with(Some(code), reason)
    }

    fn close_with(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        self.check_can_send()?;
        let frame = match code {
            Some(code) if !code.is_valid_on_wire() => {
                return Err(Error::InvalidInput(
                    "close code must not be sent on the wire",
                ));
            }
            Some(code) => Some(CloseFrame::new(code, reason)),
            None => None,
        };
        self.send_close_frame(frame);
        self.state = State::Closing;
        self.close_deadline = Some(self.now + self.config.close_timeout);
        Ok(())
    }

    // ------------------------------------------------------------------ outputs

    /// The next received message, in order.
    ///
    /// `Ok(None)`: nothing until more bytes arrive (or, once [`state`](Self::state) is
    /// [`State::Closed`], nothing ever). After [`Message::Close`] no more messages come.
    /// `Err`: the connection failed; the error is returned again on every later call.
    ///
    /// The peer's close frame and protocol errors take effect here, in order: only when every
    /// message received before them has been returned. Until then the connection is open, so
    /// the application can still answer those messages (a server echoing a message that was
    /// followed by a bad frame in the same read sends the echo before its close frame).
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Message>, Error> {
        if let Some(message) = self.events.pop_front() {
            return Ok(Some(message));
        }
        if self.end_of_input.is_none() && self.error.is_none() {
            // The usual answer, without a call.
            return Ok(None);
        }
        self.poll_end_of_input()
    }

    /// [`poll_event`](Self::poll_event) once every received message was taken.
    fn poll_end_of_input(&mut self) -> Result<Option<Message>, Error> {
        // The close frame or the protocol error takes effect only now, after the application
        // has had every message that came before it (and could still answer them).
        match self.end_of_input.take() {
            Some(EndOfInput::Close(frame)) => {
                self.on_close(frame.clone());
                self.check_eof();
                return Ok(Some(Message::Close(frame)));
            }
            Some(EndOfInput::Fail(error)) => {
                self.fail(error);
                self.check_eof();
            }
            None => {}
        }
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(None),
        }
    }

    /// Takes the bytes to write to the transport, if there are any.
    #[inline]
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        if self.sender.queued() == 0 {
            return None;
        }
        self.sender.take()
    }

    /// The bytes to write to the transport, borrowed, when they lie in one piece: small
    /// frames coalesce into one buffer, and only large payloads queued without a copy make
    /// more than one piece. Write them and call
    /// [`advance_transmit`](Self::advance_transmit) with the number written; this spares
    /// moving the bytes into an [`Outgoing`]. `None` when nothing is queued or the bytes are
    /// in several pieces: then use [`poll_transmit`](Self::poll_transmit). Bytes already taken
    /// with `poll_transmit` and not yet written are older: write them first.
    #[inline]
    pub fn peek_transmit(&self) -> Option<&[u8]> {
        self.sender.peek()
    }

    /// Drops the first `n` bytes of [`peek_transmit`](Self::peek_transmit)'s slice: the
    /// transport took them.
    ///
    /// # Panics
    ///
    /// If `n` is more than `peek_transmit` showed.
    #[inline]
    pub fn advance_transmit(&mut self, n: usize) {
        self.sender.advance_peeked(n);
    }

    /// Takes the buffer frames are queued in, empty, when nothing is queued, so that a
    /// quiet connection need not hold it: the tokio layer keeps such buffers in a per-thread
    /// pool, and the connections that have bytes to send share them while they are in the
    /// cache. `None` while bytes wait to be transmitted. The next frame queued makes a new
    /// buffer unless [`give_send_buffer`](Self::give_send_buffer) gives one first.
    pub fn take_send_buffer(&mut self) -> Option<BytesMut> {
        self.sender.take_buffer()
    }

    /// Gives the connection `buf`, emptied, to queue frames in, when nothing is queued, and
    /// returns the buffer it had; while bytes are queued, `buf` itself comes back.
    pub fn give_send_buffer(&mut self, buf: BytesMut) -> BytesMut {
        self.sender.give_buffer(buf)
    }

    /// Hands back a batch from [`poll_transmit`](Self::poll_transmit) once it is written
    /// (nothing [remains](bytes::Buf::remaining)), so its chunk list serves the next batch.
    /// Optional: without it, a batch holding large frames allocates a new list.
    pub fn reuse(&mut self, written: Outgoing) {
        debug_assert!(!written.has_remaining(), "reuse of a batch not yet written");
        self.sender.reuse(written);
    }

    /// The next deadline at which [`handle_timeout`](Self::handle_timeout) must be called.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open => self.keepalive.deadline(),
            State::Closing => self.close_deadline,
            State::Closed if !self.transport_close => self.close_deadline,
            State::Closed => None,
        }
    }

    /// Whether the caller should now write what [`poll_transmit`](Self::poll_transmit) returns
    /// and then close the transport.
    ///
    /// RFC 6455 7.1.1: after the closing handshake the server closes TCP first; a client waits
    /// for that, up to the close timeout. A failed or abnormally ended connection closes at once
    /// on the server; a failed client, too, waits for the server's close.
    #[inline]
    pub fn wants_transport_close(&self) -> bool {
        self.transport_close
    }

    // ------------------------------------------------------------------ internals

    /// The receiver and its limits, beside an outbox: the outbox borrows only the sending
    /// half, so replies can be queued while the read buffer is lent.
    fn split_for_lending(&mut self) -> (&mut Receiver, &Limits, Outbox<'_>) {
        let outbox = Outbox {
            refused: self.check_can_send().err(),
            fragmenting: self.sending_fragmented.is_some(),
            sender: &mut self.sender,
            extension: self.extension.as_deref_mut(),
            compressed: &mut self.compressed,
            lent: None,
        };
        (&mut self.receiver, &self.config.limits, outbox)
    }

    fn check_can_send(&self) -> Result<(), Error> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.state != State::Open {
            return Err(Error::Closed);
        }
        Ok(())
    }

    #[inline]
    fn send_data(&mut self, opcode: OpCode, data: Bytes) -> Result<(), Error> {
        self.check_can_send()?;
        if self.sending_fragmented.is_some() {
            return Err(Error::InvalidInput("a fragmented message is in progress"));
        }
        queue_data(
            &mut self.sender,
            self.extension.as_deref_mut(),
            &mut self.compressed,
            opcode,
            Payload::Shared(data),
        );
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), Error> {
        self.check_can_send()?;
        // RFC 6455 5.5: control frames MUST have a payload of 125 bytes or less.
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::InvalidInput("control frame payload over 125 bytes"));
        }
        self.sender.frame(true, 0, opcode, Payload::Shared(payload));
        Ok(())
    }

    fn send_close_frame(&mut self, frame: Option<CloseFrame>) {
        let mut payload = BytesMut::new();
        if let Some(frame) = &frame {
            frame.encode(&mut payload);
        }
        self.sender
            .frame(true, 0, OpCode::Close, Payload::Borrowed(&payload));
        self.close_sent = Some(frame);
        self.keepalive.stop();
    }

    /// Decodes everything buffered into events.
    fn process(&mut self) {
        while self.error.is_none() && self.end_of_input.is_none() && self.close_received.is_none() {
            let extension = self.extension.as_deref_mut();
            match self.receiver.next(&self.config.limits, extension) {
                Ok(Some(Received::Text(text))) => self.events.push_back(Message::Text(text)),
                Ok(Some(Received::Binary(data))) => self.events.push_back(Message::Binary(data)),
                Ok(Some(Received::Control(opcode, payload))) => self.on_control(opcode, payload),
                Ok(None) => break,
                Err(error) => self.end_of_input = Some(EndOfInput::Fail(Error::Protocol(error))),
            }
        }
        if self.error.is_some() || self.end_of_input.is_some() || self.close_received.is_some() {
            // Nothing after the close frame or a failure is processed (RFC 6455 5.5.1); drop it
            // rather than buffer whatever the peer keeps sending until the transport closes.
            self.receiver.buf.clear();
        }
        self.check_eof();
    }

    /// Once the transport reached end of file and no close frame or error is still waiting
    /// in the queue: the connection is over.
    fn check_eof(&mut self) {
        if !self.eof || self.end_of_input.is_some() {
            return;
        }
        if self.state == State::Closed {
            self.transport_close = true;
        } else {
            // RFC 6455 7.1.5: the connection closed without a close frame: 1006.
            self.state = State::Closed;
            self.error.get_or_insert(Error::AbnormalClosure);
            self.transport_close = true;
        }
    }

    fn on_control(&mut self, opcode: OpCode, payload: Bytes) {
        match opcode {
            OpCode::Ping => {
                // RFC 6455 5.5.2: answer with a pong carrying the same application data.
                if self.config.auto_pong && self.state == State::Open {
                    self.sender
                        .frame(true, 0, OpCode::Pong, Payload::Borrowed(&payload));
                }
                self.events.push_back(Message::Ping(payload));
            }
            OpCode::Pong => {
                self.keepalive.on_pong(&payload, self.now);
                self.events.push_back(Message::Pong(payload));
            }
            OpCode::Close => {
                self.end_of_input = Some(match CloseFrame::parse(payload) {
                    Ok(frame) => EndOfInput::Close(frame),
                    Err(error) => EndOfInput::Fail(Error::Protocol(error)),
                });
            }
            // The receiver only returns control opcodes here.
            _ => {}
        }
    }

    fn on_close(&mut self, frame: Option<CloseFrame>) {
        if self.state == State::Open {
            // RFC 6455 5.5.1: answer a close frame with a close frame, typically echoing the
            // status code received.
            let reply = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
            self.send_close_frame(reply);
        }
        self.close_received = Some(frame);
        self.state = State::Closed;
        self.after_closed();
    }

    /// Fails the connection (RFC 6455 7.1.7): send a close frame with the error's code unless
    /// one was sent already, and stop.
    fn fail(&mut self, error: Error) {
        if self.error.is_some() {
            return;
        }
        if self.close_sent.is_none() {
            let reason = match &error {
                Error::Protocol(e) => e.close_reason(),
                Error::KeepaliveTimeout => "keepalive ping timeout",
                _ => "",
            };
            self.send_close_frame(Some(CloseFrame::new(error.close_code(), reason)));
        }
        self.error = Some(error);
        self.state = State::Closed;
        self.after_closed();
    }

    fn after_closed(&mut self) {
        self.sending_fragmented = None;
        match self.role {
            // RFC 6455 7.1.1: the server SHOULD close the TCP connection first.
            Role::Server => self.transport_close = true,
            Role::Client => self.close_deadline = Some(self.now + self.config.close_timeout),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("extension", &self.extension)
            .field("buffered", &self.receiver.buf.len())
            .field("queued", &self.sender.queued())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
