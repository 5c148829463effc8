//! A protocol connection (`switchboard.v1.json`): frames in, session actions executed
//! against the engines, replies and deliveries out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use switchboard::{CloseCode, Message, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

use super::fanout::Receives;
use super::metrics::{Metrics, Traffic};
use super::outbox::Outbox;
use super::pump::{Event, Pump, Render};
use super::Node;
use crate::broker::Delivery;
use crate::channel::{ChannelName, NamespaceConfig};
use crate::engine::EngineError;
use crate::history::{Payload, Recovery, StreamPosition};
use crate::presence::ClientInfo;
use crate::protocol::{
    decode_command, DisconnectCode, ErrorCode, PublicationData, Push, Reply, ReplyResult, Request,
};
use crate::session::{Action, ChannelOptions, Context, Session};

/// What the transport learned before the WebSocket opened.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInfo {
    /// A token from the query string or `Sec-WebSocket-Protocol`, used when `connect`
    /// carries none.
    pub token: Option<String>,
    /// The client's address, for logs.
    pub remote: Option<std::net::SocketAddr>,
}

/// Per-subscription state in the connection task: the last position sent, so that a
/// delivery already sent in a subscribe reply (recovered) is not sent again.
struct Subscriptions {
    channels: HashMap<ChannelName, StreamPosition>,
}

impl Render for Subscriptions {
    fn render(&mut self, delivery: &Delivery) -> Option<Message> {
        // Not subscribed (any more): deliveries still in the outbox are dropped.
        let last = self.channels.get_mut(delivery.channel())?;
        if let Some(position) = delivery.position() {
            // Within an epoch offsets only grow; at or below `last` it was sent already.
            if position.epoch == last.epoch && position.offset <= last.offset {
                return None;
            }
            last.clone_from(position);
        }
        Some(Message::Text(delivery.json().clone()))
    }
}

enum Flow {
    Continue,
    Close,
}

struct Connection<S> {
    node: Arc<Node>,
    pump: Pump<S>,
    session: Session,
    subscriptions: Subscriptions,
    info: ConnectionInfo,
    /// Who the client is, from `connect` on: kept past the session's end for the leaves.
    client: Option<ClientInfo>,
    opened: tokio::time::Instant,
}

impl Node {
    /// Serves one protocol connection until it closes. The WebSocket must have been opened
    /// with the `switchboard.v1.json` subprotocol.
    pub async fn serve_protocol<S>(self: Arc<Self>, ws: WebSocket<S>, info: ConnectionInfo)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let client_id = self.next_client_id();
        let outbox = Arc::new(Outbox::new(self.config.outbox));
        self.registry.insert(&client_id, "", &outbox);
        // Registered after shutdown began (its upgrade was in flight): told at once.
        if self.is_shutting_down() {
            outbox.disconnect(DisconnectCode::SHUTDOWN, "server shutting down");
        }
        Metrics::add(&self.metrics.connections_protocol, 1);
        let session = Session::new(client_id.clone(), self.config.session, Instant::now());
        let mut connection = Connection {
            pump: Pump::new(ws, outbox, Traffic::new(Arc::clone(&self))),
            node: Arc::clone(&self),
            session,
            subscriptions: Subscriptions {
                channels: HashMap::new(),
            },
            info,
            client: None,
            opened: tokio::time::Instant::now(),
        };
        connection.run().await;
        connection.leave_all().await;
        self.registry.remove(&client_id);
        self.metrics
            .connections_protocol
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    async fn run(&mut self) {
        loop {
            let deadline = self.deadline();
            let event = self.pump.next(&mut self.subscriptions, deadline).await;
            let flow = match event {
                Event::Received(Some(Ok(Message::Text(frame)))) => {
                    self.handle_frame(frame.as_bytes()).await
                }
                Event::Received(Some(Ok(Message::Binary(_)))) => {
                    let actions = self.session.disconnect(
                        DisconnectCode::BAD_REQUEST,
                        "binary frames are not commands",
                    );
                    self.execute_all(actions).await
                }
                Event::Received(Some(Ok(_))) => Flow::Continue,
                Event::Received(Some(Err(error))) => {
                    tracing::debug!(client = self.session.client_id(), %error, "connection failed");
                    Flow::Close
                }
                Event::Received(None) => Flow::Close,
                Event::WriteFailed(error) => {
                    tracing::debug!(client = self.session.client_id(), %error, "write failed");
                    Flow::Close
                }
                Event::Slow => {
                    Metrics::add(&self.node.metrics.slow_disconnects, 1);
                    tracing::info!(
                        client = self.session.client_id(),
                        "slow client disconnected"
                    );
                    let actions = self
                        .session
                        .disconnect(DisconnectCode::SLOW, "outbox overflowed");
                    self.execute_all(actions).await
                }
                Event::Disconnect { code, reason } => {
                    let actions = self.session.disconnect(code, &reason);
                    self.execute_all(actions).await
                }
                Event::Deadline => self.handle_deadline().await,
            };
            if let Flow::Close = flow {
                return;
            }
        }
    }

    /// The connect timeout until the client connects, then the token's expiry.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        if !self.session.is_connected() {
            return Some(self.opened + self.node.config.connect_timeout);
        }
        let expires_at = self.session.poll_timeout()?;
        let from_now = expires_at.saturating_duration_since(Instant::now());
        Some(tokio::time::Instant::now() + from_now)
    }

    async fn handle_deadline(&mut self) -> Flow {
        let actions = if self.session.is_connected() {
            self.session.handle_timeout(Instant::now())
        } else {
            self.session
                .disconnect(DisconnectCode::BAD_REQUEST, "no connect command in time")
        };
        self.execute_all(actions).await
    }

    async fn handle_frame(&mut self, frame: &[u8]) -> Flow {
        let started = Instant::now();
        let node = Arc::clone(&self.node);
        let ctx = Context {
            now: started,
            namespaces: &node.config.namespaces,
            authenticator: node.authenticator.as_ref(),
        };
        let (method, actions) = match decode_command(frame) {
            Ok(mut command) => {
                let method = command.request.method();
                if let Request::Connect(params) = &mut command.request {
                    if params.token.is_none() {
                        params.token.clone_from(&self.info.token);
                    }
                }
                (Some(method), self.session.handle(command, &ctx))
            }
            Err(_) => (None, self.session.handle_frame(frame, &ctx)),
        };
        let flow = self.execute_all(actions).await;
        if self.client.is_none() {
            if let Some(client) = self.session.client() {
                self.node
                    .registry
                    .set_user(&client.client_id, &client.user_id);
                self.client = Some(client);
            }
        }
        if let Some(method) = method {
            self.node.metrics.command(method, started.elapsed());
        }
        flow
    }

    async fn execute_all(&mut self, actions: Vec<Action>) -> Flow {
        for action in actions {
            if let Flow::Close = self.execute(action).await {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    async fn execute(&mut self, action: Action) -> Flow {
        let reply = match action {
            Action::Reply(reply) => reply,
            Action::Subscribe {
                id,
                channel,
                recover,
                client,
                options,
            } => match self.subscribe(&channel, recover, client, options).await {
                Ok(result) => Reply::ok(id, result),
                Err(error) => {
                    tracing::warn!(%channel, %error, "subscribe failed");
                    self.session.subscribe_failed(&channel);
                    Reply::error(id, ErrorCode::NOT_AVAILABLE)
                }
            },
            Action::Unsubscribe {
                channel,
                client,
                options,
            } => {
                self.leave(&channel, &client, options).await;
                return Flow::Continue;
            }
            Action::Publish {
                id,
                channel,
                data,
                client,
                options,
            } => {
                let published = self
                    .node
                    .broker
                    .publish(
                        &channel,
                        Payload::Json(data),
                        Some(client),
                        options.history,
                        Instant::now(),
                    )
                    .await;
                match published {
                    Ok(position) => {
                        Metrics::add(&self.node.metrics.publications, 1);
                        Reply::ok(
                            id,
                            ReplyResult::Publish {
                                epoch: position.epoch,
                                offset: position.offset,
                            },
                        )
                    }
                    Err(error) => engine_error(id, &error),
                }
            }
            Action::Presence { id, channel } => match self.node.presence.list(&channel).await {
                Ok(clients) => Reply::ok(id, ReplyResult::Presence { clients }),
                Err(error) => engine_error(id, &error),
            },
            Action::PresenceStats { id, channel } => {
                match self.node.presence.stats(&channel).await {
                    Ok(stats) => Reply::ok(
                        id,
                        ReplyResult::PresenceStats {
                            num_clients: stats.num_clients,
                            num_users: stats.num_users,
                        },
                    ),
                    Err(error) => engine_error(id, &error),
                }
            }
            Action::History {
                id,
                channel,
                limit,
                since,
            } => self.history(id, &channel, limit, since).await,
            Action::Disconnect {
                code,
                reason,
                reconnect,
            } => {
                self.leave_all().await;
                let push = Push::Disconnect {
                    code,
                    reason: reason.clone(),
                    reconnect,
                };
                let push = serde_json::to_string(&push).unwrap_or_default();
                if self.pump.send(Message::text(push)).is_ok() {
                    self.pump.close(CloseCode(code.close_code()), &reason).await;
                }
                return Flow::Close;
            }
        };
        let reply = serde_json::to_string(&reply).unwrap_or_default();
        match self.pump.send(Message::text(reply)) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    /// Subscribes, then reads where the stream is (recovering if asked): in this order, so
    /// that nothing published in between is missed; what arrives twice is dropped by
    /// offset when rendered.
    async fn subscribe(
        &mut self,
        channel: &ChannelName,
        recover: Option<StreamPosition>,
        client: ClientInfo,
        options: ChannelOptions,
    ) -> Result<ReplyResult, EngineError> {
        let node = Arc::clone(&self.node);
        node.fanout
            .add(channel, &self.pump.outbox, Receives::Everything);
        if let Err(error) = node.broker.subscribe(channel).await {
            self.drop_subscriber(channel).await;
            return Err(error);
        }
        let now = Instant::now();
        let recovering = recover.is_some();
        let answer = match &recover {
            Some(position) => node.history.since(channel, position, None, now).await,
            None => node
                .history
                .position(channel, now)
                .await
                .map(|position| Recovery::Lost { position }),
        };
        let (recovered, position, publications) = match answer {
            Ok(Recovery::Recovered(slice)) => (true, slice.position, slice.publications),
            Ok(Recovery::Lost { position }) => (false, position, Vec::new()),
            Err(error) => {
                self.drop_subscriber(channel).await;
                return Err(error);
            }
        };
        if options.presence {
            if let Err(error) = node.presence.add(channel, client.clone()).await {
                self.drop_subscriber(channel).await;
                return Err(error);
            }
        }
        self.subscriptions
            .channels
            .insert(channel.clone(), position.clone());
        if options.join_leave {
            let join = Push::Join {
                channel: channel.clone(),
                info: client,
            };
            if let Err(error) = node.broker.publish_event(channel, &join).await {
                tracing::warn!(%channel, %error, "join not announced");
            }
        }
        Ok(ReplyResult::Subscribe {
            epoch: position.epoch,
            offset: position.offset,
            recovering,
            recovered: recovering && recovered,
            publications: publications.iter().map(PublicationData::from).collect(),
        })
    }

    async fn drop_subscriber(&mut self, channel: &ChannelName) {
        self.subscriptions.channels.remove(channel);
        if self.node.fanout.remove(channel, &self.pump.outbox) {
            if let Err(error) = self.node.broker.unsubscribe(channel).await {
                tracing::warn!(%channel, %error, "broker unsubscribe failed");
            }
        }
    }

    async fn leave(&mut self, channel: &ChannelName, client: &ClientInfo, options: ChannelOptions) {
        self.drop_subscriber(channel).await;
        let node = Arc::clone(&self.node);
        if options.presence {
            if let Err(error) = node.presence.remove(channel, &client.client_id).await {
                tracing::warn!(%channel, %error, "presence not removed");
            }
        }
        if options.join_leave {
            let leave = Push::Leave {
                channel: channel.clone(),
                info: client.clone(),
            };
            if let Err(error) = node.broker.publish_event(channel, &leave).await {
                tracing::warn!(%channel, %error, "leave not announced");
            }
        }
    }

    /// Leaves every channel the connection is in (at disconnect, or when it is gone).
    async fn leave_all(&mut self) {
        let channels: Vec<ChannelName> = self.subscriptions.channels.keys().cloned().collect();
        let Some(client) = self.client.clone() else {
            return;
        };
        for channel in channels {
            let options = self
                .node
                .config
                .namespaces
                .resolve(&channel)
                .map(ChannelOptions::of)
                .unwrap_or_else(|_| ChannelOptions::of(&NamespaceConfig::default()));
            self.leave(&channel, &client, options).await;
        }
    }

    async fn history(
        &mut self,
        id: u32,
        channel: &ChannelName,
        limit: usize,
        since: Option<StreamPosition>,
    ) -> Reply {
        let now = Instant::now();
        let history = &self.node.history;
        let (publications, position) = match since {
            None => match history.top(channel, limit, now).await {
                Ok(slice) => (slice.publications, slice.position),
                Err(error) => return engine_error(id, &error),
            },
            Some(since) => match history.since(channel, &since, Some(limit), now).await {
                Ok(Recovery::Recovered(slice)) => (slice.publications, slice.position),
                Ok(Recovery::Lost { .. }) => {
                    return Reply::error(id, ErrorCode::UNRECOVERABLE_POSITION)
                }
                Err(error) => return engine_error(id, &error),
            },
        };
        Reply::ok(
            id,
            ReplyResult::History {
                epoch: position.epoch,
                offset: position.offset,
                publications: publications.iter().map(PublicationData::from).collect(),
            },
        )
    }
}

fn engine_error(id: u32, error: &EngineError) -> Reply {
    tracing::warn!(%error, "engine error");
    Reply::error(id, ErrorCode::NOT_AVAILABLE)
}
