//! The per-connection session: a pure state machine, command in, actions out.
//!
//! The session owns what is per connection (who it is, which channels it is subscribed
//! to, its rate limit) and decides what each command means; it performs nothing. The hub
//! executes the [`Action`]s: it talks to the broker, history and presence, and sends the
//! replies that need their answers. So every rule here is testable with a table.
//!
//! # Rules
//!
//! - **`connect` first.** Any other command before it gets error 101 and a disconnect with
//!   [`DisconnectCode::BAD_REQUEST`]: a client that skips `connect` is broken, and keeping it
//!   would only spend the server's memory. A `connect` with a refused token gets error 101
//!   and a disconnect with [`DisconnectCode::UNAUTHORIZED`]; with an expired one, error 109
//!   and [`DisconnectCode::TOKEN_EXPIRED`] (reconnect with a fresh token). A second
//!   `connect` gets error 110; the connection stays.
//! - **A frame that is not JSON or has no id** gets error 107 and a disconnect; an unknown
//!   method (104) or bad parameters (107) only get the error reply, in every state (they
//!   are not commands yet, so "connect first" does not apply to them).
//! - **Rate limit.** Every command takes a token from the connection's bucket; without one
//!   it gets error 111 and is not executed.
//! - **Subscriptions.** Subscribing twice is error 105; unsubscribing from a channel not
//!   subscribed is error 106; more than `max_subscriptions` is error 111. Presence and
//!   history need a subscription to the channel (103 otherwise).
//! - **After a disconnect** the session ignores every command.

use std::collections::BTreeSet;
use std::time::Instant;

use bytes::Bytes;

use crate::channel::{ChannelName, NamespaceConfig, Namespaces};
use crate::history::{HistoryOptions, StreamPosition};
use crate::permission::{AuthError, Authenticator, Credentials, Permissions};
use crate::presence::ClientInfo;
use crate::protocol::{
    decode_command, Command, ConnectParams, DisconnectCode, ErrorCode, PublishParams, Reply,
    ReplyResult, Request, SubscribeParams, MAX_CONNECT_INFO_LEN,
};
use crate::rate_limit::{RateLimit, TokenBucket};

/// Per-connection limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionConfig {
    /// The command rate limit.
    pub rate_limit: RateLimit,
    /// How many channels one connection may be subscribed to. Default 128: each
    /// subscription is an entry in the hub's maps, and one connection must not fill them.
    pub max_subscriptions: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            rate_limit: RateLimit::default(),
            max_subscriptions: 128,
        }
    }
}

/// What the session needs from the hub for each call.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The current time.
    pub now: Instant,
    /// The namespaces and their rules.
    pub namespaces: &'a Namespaces,
    /// Checks tokens on `connect`.
    pub authenticator: &'a dyn Authenticator,
}

/// What the hub does for a channel, from its namespace's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelOptions {
    /// How much history to keep (size 0: none, but offsets still advance).
    pub history: HistoryOptions,
    /// Track presence in this channel.
    pub presence: bool,
    /// Send join and leave pushes in this channel.
    pub join_leave: bool,
}

impl ChannelOptions {
    /// The options of a channel in `namespace`.
    pub fn of(namespace: &NamespaceConfig) -> Self {
        Self {
            history: HistoryOptions {
                size: namespace.history_size,
                ttl: namespace.history_ttl,
            },
            presence: namespace.presence,
            join_leave: namespace.presence && namespace.join_leave,
        }
    }
}

/// What the hub must do. Actions that carry an `id` end with the hub sending the reply to
/// that command, built from what the broker, history or presence answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this reply.
    Reply(Reply),
    /// Subscribe the connection to `channel`, recover from `recover` if given, add it to
    /// presence and announce the join as `options` say, then reply with
    /// [`ReplyResult::Subscribe`]. If this fails, call [`Session::subscribe_failed`].
    Subscribe {
        /// The command's id.
        id: u32,
        /// The channel.
        channel: ChannelName,
        /// The position to recover from.
        recover: Option<StreamPosition>,
        /// Who subscribes, for presence and the join push.
        client: ClientInfo,
        /// The channel's options.
        options: ChannelOptions,
    },
    /// Unsubscribe the connection from `channel` (removing it from presence, announcing the
    /// leave, as `options` say). The session has already sent the reply, if one is due.
    Unsubscribe {
        /// The channel.
        channel: ChannelName,
        /// Who leaves.
        client: ClientInfo,
        /// The channel's options.
        options: ChannelOptions,
    },
    /// Append to history, broadcast, and reply with [`ReplyResult::Publish`].
    Publish {
        /// The command's id.
        id: u32,
        /// The channel.
        channel: ChannelName,
        /// The data, encoded once as JSON.
        data: Bytes,
        /// The publisher.
        client: ClientInfo,
        /// The channel's options.
        options: ChannelOptions,
    },
    /// Reply with [`ReplyResult::Presence`] for `channel`.
    Presence {
        /// The command's id.
        id: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// Reply with [`ReplyResult::PresenceStats`] for `channel`.
    PresenceStats {
        /// The command's id.
        id: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// Reply with [`ReplyResult::History`]: the latest `limit` publications, or those after
    /// `since` (error 112 if they cannot all be given).
    History {
        /// The command's id.
        id: u32,
        /// The channel.
        channel: ChannelName,
        /// At most this many.
        limit: usize,
        /// Only those after this position.
        since: Option<StreamPosition>,
    },
    /// Unsubscribe from everything (as [`Action::Unsubscribe`] would, without replies),
    /// send a `disconnect` push, then close the WebSocket with `code`.
    Disconnect {
        /// Why.
        code: DisconnectCode,
        /// For the client's developer.
        reason: String,
        /// Whether the client should reconnect.
        reconnect: bool,
    },
}

enum State {
    Connecting,
    Connected(Credentials),
    Closed,
}

/// One connection's session. See the [module documentation](self) for its rules.
pub struct Session {
    client_id: String,
    config: SessionConfig,
    state: State,
    subscriptions: BTreeSet<ChannelName>,
    rate: TokenBucket,
}

impl Session {
    /// A session for a new connection, waiting for `connect`. `client_id` must be unique
    /// among the hub's connections.
    pub fn new(client_id: impl Into<String>, config: SessionConfig, now: Instant) -> Self {
        Self {
            client_id: client_id.into(),
            config,
            state: State::Connecting,
            subscriptions: BTreeSet::new(),
            rate: TokenBucket::new(config.rate_limit, now),
        }
    }

    /// The connection's id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The channels the connection is subscribed to, in order.
    pub fn subscriptions(&self) -> impl Iterator<Item = &ChannelName> {
        self.subscriptions.iter()
    }

    /// Who the client is, once connected: as presence and publications show it.
    pub fn client(&self) -> Option<ClientInfo> {
        match &self.state {
            State::Connected(credentials) => Some(self.client_info(credentials)),
            _ => None,
        }
    }

    /// Whether the client has connected (and not been disconnected since).
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    /// Whether the session has disconnected the client.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the token's expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Connected(credentials) => credentials.expires_at,
            _ => None,
        }
    }

    /// Handles one text frame from the client. Execute the returned actions in order.
    pub fn handle_frame(&mut self, frame: &[u8], ctx: &Context<'_>) -> Vec<Action> {
        if self.is_closed() {
            return Vec::new();
        }
        match decode_command(frame) {
            Ok(command) => self.handle(command, ctx),
            Err(error) if error.is_malformed() => {
                let mut actions = vec![Action::Reply(error.reply())];
                actions.extend(self.disconnect(DisconnectCode::BAD_REQUEST, "malformed command"));
                actions
            }
            Err(error) => match error.id {
                Some(id) if !self.rate.try_take(ctx.now) => {
                    reply(Reply::error(id, ErrorCode::LIMIT_EXCEEDED))
                }
                _ => reply(error.reply()),
            },
        }
    }

    /// Handles one decoded command. Execute the returned actions in order.
    pub fn handle(&mut self, command: Command, ctx: &Context<'_>) -> Vec<Action> {
        let Command { id, request } = command;
        if self.is_closed() {
            return Vec::new();
        }
        if !self.rate.try_take(ctx.now) {
            return vec![Action::Reply(Reply::error(id, ErrorCode::LIMIT_EXCEEDED))];
        }
        let credentials = match &self.state {
            State::Closed => return Vec::new(),
            State::Connecting => {
                if let Request::Connect(params) = request {
                    return self.connect(id, params, ctx);
                }
                let mut actions = reply(Reply::error(id, ErrorCode::UNAUTHORIZED));
                actions.extend(self.disconnect(DisconnectCode::BAD_REQUEST, "connect first"));
                return actions;
            }
            // A clone, so that the handlers below can borrow the session mutably; it is
            // small next to the work each command causes.
            State::Connected(credentials) => credentials.clone(),
        };
        match request {
            Request::Connect(_) => reply(Reply::error(id, ErrorCode::ALREADY_CONNECTED)),
            Request::Ping => reply(Reply::ok(id, ReplyResult::Empty {})),
            Request::Subscribe(params) => self.subscribe(id, params, &credentials, ctx),
            Request::Unsubscribe(params) => self.unsubscribe(id, params.channel, &credentials, ctx),
            Request::Publish(params) => self.publish(id, params, &credentials, ctx),
            Request::Presence(params) => self.when_subscribed(
                id,
                params.channel,
                ctx,
                |ns| ns.presence,
                |channel| Action::Presence { id, channel },
            ),
            Request::PresenceStats(params) => self.when_subscribed(
                id,
                params.channel,
                ctx,
                |ns| ns.presence,
                |channel| Action::PresenceStats { id, channel },
            ),
            Request::History(params) => {
                let (limit, since) = (params.limit, params.since);
                self.when_subscribed(
                    id,
                    params.channel,
                    ctx,
                    |ns| ns.history_size > 0,
                    |channel| Action::History {
                        id,
                        channel,
                        limit: limit.unwrap_or(usize::MAX),
                        since,
                    },
                )
            }
        }
    }

    /// Disconnects the client if its token has expired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        match self.poll_timeout() {
            Some(expires_at) if expires_at <= now => {
                self.disconnect(DisconnectCode::TOKEN_EXPIRED, "token expired")
            }
            _ => Vec::new(),
        }
    }

    /// Undoes the session's record of a subscription the hub could not complete (it then
    /// replies with the error itself).
    pub fn subscribe_failed(&mut self, channel: &ChannelName) {
        self.subscriptions.remove(channel);
    }

    /// Ends the session on the server's initiative (shutdown, a slow client, the API).
    pub fn disconnect(&mut self, code: DisconnectCode, reason: &str) -> Vec<Action> {
        if self.is_closed() {
            return Vec::new();
        }
        self.state = State::Closed;
        self.subscriptions.clear();
        vec![Action::Disconnect {
            code,
            reason: reason.to_owned(),
            reconnect: code.reconnect(),
        }]
    }

    fn connect(&mut self, id: u32, params: ConnectParams, ctx: &Context<'_>) -> Vec<Action> {
        if params.info.as_ref().is_some_and(|info| {
            serde_json::to_vec(info).map_or(true, |json| json.len() > MAX_CONNECT_INFO_LEN)
        }) {
            return reply(Reply::error_with(
                id,
                ErrorCode::BAD_REQUEST,
                "info too large",
            ));
        }
        let credentials = match params.token.as_deref() {
            None => Ok(Credentials {
                info: params.info,
                ..Credentials::anonymous()
            }),
            Some(token) => ctx.authenticator.authenticate(token, ctx.now),
        };
        let (code, disconnect, reason) = match credentials {
            Ok(credentials) if credentials.expires_at.is_none_or(|at| at > ctx.now) => {
                let result = ReplyResult::Connect {
                    client: self.client_id.clone(),
                    user: credentials.user_id.clone(),
                };
                self.state = State::Connected(credentials);
                return reply(Reply::ok(id, result));
            }
            // An expired token is not a refusal of the user: a fresh token will do, so the
            // disconnect says to reconnect (4003), unlike an invalid one (4002).
            Ok(_) | Err(AuthError::Expired) => (
                ErrorCode::TOKEN_EXPIRED,
                DisconnectCode::TOKEN_EXPIRED,
                "token expired",
            ),
            Err(_) => (
                ErrorCode::UNAUTHORIZED,
                DisconnectCode::UNAUTHORIZED,
                "invalid token",
            ),
        };
        let mut actions = vec![Action::Reply(Reply::error(id, code))];
        actions.extend(self.disconnect(disconnect, reason));
        actions
    }

    fn subscribe(
        &mut self,
        id: u32,
        params: SubscribeParams,
        credentials: &Credentials,
        ctx: &Context<'_>,
    ) -> Vec<Action> {
        let Ok(namespace) = ctx.namespaces.resolve(&params.channel) else {
            return reply(Reply::error(id, ErrorCode::UNKNOWN_CHANNEL));
        };
        if let Err(code) = Permissions::new(credentials).check_subscribe(&params.channel, namespace)
        {
            return reply(Reply::error(id, code));
        }
        if self.subscriptions.contains(&params.channel) {
            return reply(Reply::error(id, ErrorCode::ALREADY_SUBSCRIBED));
        }
        if self.subscriptions.len() >= self.config.max_subscriptions {
            return reply(Reply::error_with(
                id,
                ErrorCode::LIMIT_EXCEEDED,
                "too many subscriptions",
            ));
        }
        // Recorded now, before the hub confirms, so that a second subscribe arriving
        // before the first completes is refused; `subscribe_failed` rolls it back.
        self.subscriptions.insert(params.channel.clone());
        vec![Action::Subscribe {
            id,
            recover: params.recover_from(),
            channel: params.channel,
            client: self.client_info(credentials),
            options: ChannelOptions::of(namespace),
        }]
    }

    fn publish(
        &self,
        id: u32,
        params: PublishParams,
        credentials: &Credentials,
        ctx: &Context<'_>,
    ) -> Vec<Action> {
        let Ok(namespace) = ctx.namespaces.resolve(&params.channel) else {
            return reply(Reply::error(id, ErrorCode::UNKNOWN_CHANNEL));
        };
        if let Err(code) = Permissions::new(credentials).check_publish(&params.channel, namespace) {
            return reply(Reply::error(id, code));
        }
        // Encoded here, once: history and every subscriber share these bytes.
        let Ok(data) = serde_json::to_vec(&params.data) else {
            return reply(Reply::error(id, ErrorCode::INTERNAL));
        };
        vec![Action::Publish {
            id,
            channel: params.channel,
            data: Bytes::from(data),
            client: self.client_info(credentials),
            options: ChannelOptions::of(namespace),
        }]
    }

    fn unsubscribe(
        &mut self,
        id: u32,
        channel: ChannelName,
        credentials: &Credentials,
        ctx: &Context<'_>,
    ) -> Vec<Action> {
        if !self.subscriptions.remove(&channel) {
            return reply(Reply::error(id, ErrorCode::NOT_SUBSCRIBED));
        }
        // The channel was subscribed, so its namespace resolved then; a namespace removed
        // since by a configuration reload is unsubscribed with its default options.
        let options = ctx
            .namespaces
            .resolve(&channel)
            .map(ChannelOptions::of)
            .unwrap_or_else(|_| ChannelOptions::of(&NamespaceConfig::default()));
        vec![
            Action::Unsubscribe {
                channel,
                client: self.client_info(credentials),
                options,
            },
            Action::Reply(Reply::ok(id, ReplyResult::Empty {})),
        ]
    }

    /// For presence and history: the channel must be subscribed and the feature enabled.
    fn when_subscribed(
        &self,
        id: u32,
        channel: ChannelName,
        ctx: &Context<'_>,
        enabled: impl FnOnce(&NamespaceConfig) -> bool,
        action: impl FnOnce(ChannelName) -> Action,
    ) -> Vec<Action> {
        let Ok(namespace) = ctx.namespaces.resolve(&channel) else {
            return reply(Reply::error(id, ErrorCode::UNKNOWN_CHANNEL));
        };
        if !self.subscriptions.contains(&channel) {
            return reply(Reply::error(id, ErrorCode::PERMISSION_DENIED));
        }
        if !enabled(namespace) {
            return reply(Reply::error(id, ErrorCode::NOT_AVAILABLE));
        }
        vec![action(channel)]
    }

    fn client_info(&self, credentials: &Credentials) -> ClientInfo {
        ClientInfo {
            client_id: self.client_id.clone(),
            user_id: credentials.user_id.clone(),
            info: credentials.info.clone(),
        }
    }
}

fn reply(reply: Reply) -> Vec<Action> {
    vec![Action::Reply(reply)]
}

#[cfg(test)]
mod tests;
