//! Plain rooms, `/ws/{channel}`: any WebSocket client, no protocol. What a client sends is
//! published to the channel; what is published reaches it as the message it was.

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
use crate::channel::ChannelName;
use crate::history::Payload;
use crate::permission::{Credentials, Permissions};
use crate::presence::ClientInfo;
use crate::protocol::{DisconnectCode, Push};
use crate::rate_limit::TokenBucket;
use crate::session::ChannelOptions;

/// Why a plain room refuses a client, before the WebSocket opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainRoomError {
    /// The channel's namespace is not configured (HTTP 404).
    UnknownChannel,
    /// The client may not subscribe to the channel (HTTP 403).
    Forbidden,
}

impl std::fmt::Display for PlainRoomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownChannel => f.write_str("unknown channel namespace"),
            Self::Forbidden => f.write_str("not allowed to subscribe to this channel"),
        }
    }
}

impl std::error::Error for PlainRoomError {}

/// What a plain client may do in its room, decided before the WebSocket opens.
#[derive(Debug, Clone, Copy)]
pub struct PlainAccess {
    publish: bool,
    options: ChannelOptions,
}

/// A client's place in a plain room, taken before its WebSocket opens.
pub struct PlainSeat {
    node: Arc<Node>,
    channel: ChannelName,
    client: ClientInfo,
    access: PlainAccess,
    outbox: Arc<Outbox>,
    /// Still to be left: cleared once the connection has left the room itself.
    seated: bool,
}

impl std::fmt::Debug for PlainSeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainSeat")
            .field("channel", &self.channel)
            .field("client", &self.client.client_id)
            .finish_non_exhaustive()
    }
}

impl PlainSeat {
    /// Serves the connection until it closes, then leaves the room.
    pub async fn serve<S>(mut self, ws: WebSocket<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let node = Arc::clone(&self.node);
        let mut pump = Pump::new(
            ws,
            Arc::clone(&self.outbox),
            Traffic::new(Arc::clone(&node)),
        );
        let (code, reason) = node
            .run_plain(&mut pump, &self.channel, &self.client, self.access)
            .await;
        if let Some(code) = code {
            pump.close(code, &reason).await;
        }
        node.unseat_plain(&self).await;
        self.seated = false;
    }
}

impl Drop for PlainSeat {
    fn drop(&mut self) {
        if !self.seated {
            return;
        }
        // Never served (the upgrade failed) or cancelled: leave in the background, since
        // leaving awaits the engine.
        let seat = PlainSeat {
            node: Arc::clone(&self.node),
            channel: self.channel.clone(),
            client: self.client.clone(),
            access: self.access,
            outbox: Arc::clone(&self.outbox),
            seated: false,
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { seat.node.unseat_plain(&seat).await });
        }
    }
}

struct Room;

impl Render for Room {
    fn render(&mut self, delivery: &Delivery) -> Option<Message> {
        delivery.plain().cloned()
    }
}

impl Node {
    /// Whether a client with `credentials` may join the plain room `channel`: it needs the
    /// right to subscribe; publishing is checked too, and refused per message if missing.
    pub fn check_plain(
        &self,
        channel: &ChannelName,
        credentials: &Credentials,
    ) -> Result<PlainAccess, PlainRoomError> {
        let namespace = self
            .config
            .namespaces
            .resolve(channel)
            .map_err(|_| PlainRoomError::UnknownChannel)?;
        let permissions = Permissions::new(credentials);
        permissions
            .check_subscribe(channel, namespace)
            .map_err(|_| PlainRoomError::Forbidden)?;
        Ok(PlainAccess {
            publish: permissions.check_publish(channel, namespace).is_ok(),
            options: ChannelOptions::of(namespace),
        })
    }

    /// Joins a client to its room before its WebSocket opens, so that it receives every
    /// publication from the moment the handshake completes; `None` if the engine cannot
    /// take it now (the caller answers 503). Serve the connection with
    /// [`PlainSeat::serve`]; a seat dropped unused (the upgrade failed) leaves the room.
    pub async fn seat_plain(
        self: &Arc<Self>,
        channel: ChannelName,
        credentials: Credentials,
        access: PlainAccess,
    ) -> Option<PlainSeat> {
        let client = ClientInfo {
            client_id: self.next_client_id(),
            user_id: credentials.user_id.clone(),
            info: credentials.info.clone(),
        };
        let outbox = Arc::new(Outbox::new(self.config.outbox));
        if !self.join_plain(&channel, &client, access, &outbox).await {
            return None;
        }
        self.registry
            .insert(&client.client_id, &client.user_id, &outbox);
        Metrics::add(&self.metrics.connections_plain, 1);
        // Seated after shutdown began (its upgrade was in flight): told at once.
        if self.is_shutting_down() {
            outbox.disconnect(DisconnectCode::SHUTDOWN, "server shutting down");
        }
        Some(PlainSeat {
            node: Arc::clone(self),
            channel,
            client,
            access,
            outbox,
            seated: true,
        })
    }

    /// Leaves the room and forgets the connection.
    async fn unseat_plain(&self, seat: &PlainSeat) {
        self.leave_plain(&seat.channel, &seat.client, seat.access, &seat.outbox)
            .await;
        self.registry.remove(&seat.client.client_id);
        self.metrics
            .connections_plain
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    async fn join_plain(
        &self,
        channel: &ChannelName,
        client: &ClientInfo,
        access: PlainAccess,
        outbox: &Arc<Outbox>,
    ) -> bool {
        self.fanout.add(channel, outbox, Receives::PublicationsOnly);
        if let Err(error) = self.broker.subscribe(channel).await {
            tracing::warn!(%channel, %error, "broker subscribe failed");
            if self.fanout.remove(channel, outbox) {
                let _ = self.broker.unsubscribe(channel).await;
            }
            return false;
        }
        if access.options.presence {
            if let Err(error) = self.presence.add(channel, client.clone()).await {
                tracing::warn!(%channel, %error, "presence not added");
            }
        }
        if access.options.join_leave {
            let join = Push::Join {
                channel: channel.clone(),
                info: client.clone(),
            };
            if let Err(error) = self.broker.publish_event(channel, &join).await {
                tracing::warn!(%channel, %error, "join not announced");
            }
        }
        true
    }

    async fn leave_plain(
        &self,
        channel: &ChannelName,
        client: &ClientInfo,
        access: PlainAccess,
        outbox: &Arc<Outbox>,
    ) {
        if self.fanout.remove(channel, outbox) {
            if let Err(error) = self.broker.unsubscribe(channel).await {
                tracing::warn!(%channel, %error, "broker unsubscribe failed");
            }
        }
        if access.options.presence {
            if let Err(error) = self.presence.remove(channel, &client.client_id).await {
                tracing::warn!(%channel, %error, "presence not removed");
            }
        }
        if access.options.join_leave {
            let leave = Push::Leave {
                channel: channel.clone(),
                info: client.clone(),
            };
            if let Err(error) = self.broker.publish_event(channel, &leave).await {
                tracing::warn!(%channel, %error, "leave not announced");
            }
        }
    }

    /// Runs the room until the connection ends; returns the close to send, if any.
    async fn run_plain<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        pump: &mut Pump<S>,
        channel: &ChannelName,
        client: &ClientInfo,
        access: PlainAccess,
    ) -> (Option<CloseCode>, String) {
        let mut rate = TokenBucket::new(self.config.session.rate_limit, Instant::now());
        loop {
            let payload = match pump.next(&mut Room, None).await {
                Event::Received(Some(Ok(Message::Text(text)))) => {
                    Payload::from_text(text.into_bytes())
                }
                Event::Received(Some(Ok(Message::Binary(bytes)))) => Payload::Binary(bytes),
                Event::Received(Some(Ok(_))) => continue,
                Event::Received(Some(Err(_)) | None) | Event::WriteFailed(_) => {
                    return (None, String::new())
                }
                Event::Slow => {
                    Metrics::add(&self.metrics.slow_disconnects, 1);
                    let code = DisconnectCode::SLOW;
                    return (Some(CloseCode(code.close_code())), "too slow".into());
                }
                Event::Disconnect { code, reason } => {
                    return (Some(CloseCode(code.close_code())), reason)
                }
                Event::Deadline => continue,
            };
            if !access.publish {
                return (
                    Some(CloseCode::POLICY_VIOLATION),
                    "publishing is not allowed in this channel".into(),
                );
            }
            if !rate.try_take(Instant::now()) {
                return (
                    Some(CloseCode::POLICY_VIOLATION),
                    "rate limit exceeded".into(),
                );
            }
            let published = self
                .broker
                .publish(
                    channel,
                    payload,
                    Some(client.clone()),
                    access.options.history,
                    Instant::now(),
                )
                .await;
            match published {
                Ok(_) => Metrics::add(&self.metrics.publications, 1),
                Err(error) => {
                    tracing::warn!(%channel, %error, "plain publish failed");
                    return (
                        Some(CloseCode::TRY_AGAIN_LATER),
                        "publish failed, try again later".into(),
                    );
                }
            }
        }
    }
}
