//! Scale-out: several identical nodes share one room space through Redis pub/sub.
//!
//! Each node keeps its own registry of local sessions. A publish is delivered to the local
//! members at once, and forwarded once through Redis, to the channel `ws:room:<room>`; every
//! other node delivers it to its own members of that room (the origin node skips its own
//! copy). A direct message to a session of another node (the node is in the session id) goes to
//! that node's channel `ws:node:<node>`.
//!
//! The chain is synchronous, so handlers never talk to Redis themselves: they hand the
//! message to this node's [`ClusterLink`] (a bounded queue) and the [`ClusterTask`] publishes
//! it. While Redis is unreachable the link says so, and handlers answer `unavailable` instead
//! of acknowledging a message that would be lost. Redis pub/sub is at-most-once: a message in
//! flight when Redis goes down is lost, and is logged and counted.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use redis::{AsyncCommands, aio::ConnectionManager};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{
    metrics::Metrics,
    protocol::{self, ErrorCode, ServerMessage, TraceId},
    registry::{Outgoing, Registry, SessionId},
};

/// Messages waiting for Redis; beyond this, publishes are answered `unavailable`.
const OUTBOX: usize = 4096;

// ANCHOR: wire
/// What travels between nodes: the encoded frame, so each node fans out the very bytes the
/// origin node encoded, plus what the receiving node needs to route it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Relay {
    Room {
        origin: u16,
        room: String,
        frame: String,
    },
    /// `bounce`: a `no_such_session` error on its way back to the sender of a direct message.
    Direct {
        origin: u16,
        from: u64,
        to: u64,
        trace: TraceId,
        frame: String,
        bounce: bool,
    },
}
// ANCHOR_END: wire

/// Why a message could not be forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

// ANCHOR: link
/// The handlers' side of the cluster: cheap to clone, never waits.
#[derive(Debug, Clone)]
pub struct ClusterLink {
    node: u16,
    outbox: mpsc::Sender<Relay>,
    up: Arc<AtomicBool>,
}

impl ClusterLink {
    pub fn node(&self) -> u16 {
        self.node
    }

    /// Whether Redis is reachable right now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Forwards a room message to the other nodes.
    pub fn publish(&self, room: &str, frame: &Outgoing) -> Result<(), Unavailable> {
        self.send(Relay::Room {
            origin: self.node,
            room: room.to_owned(),
            frame: frame.frame.as_str().to_owned(),
        })
    }

    /// Sends a direct message to a session of another node.
    pub fn direct(
        &self,
        from: SessionId,
        to: SessionId,
        trace: TraceId,
        frame: &Outgoing,
    ) -> Result<(), Unavailable> {
        let frame = frame.frame.as_str().to_owned();
        self.send(Relay::Direct {
            origin: self.node,
            from: from.get(),
            to: to.get(),
            trace,
            frame,
            bounce: false,
        })
    }

    fn send(&self, relay: Relay) -> Result<(), Unavailable> {
        if !self.is_up() {
            return Err(Unavailable);
        }
        self.outbox.try_send(relay).map_err(|_| Unavailable)
    }
}
// ANCHOR_END: link

/// The task that owns the Redis connections: it publishes what the link queued and delivers
/// what other nodes published. Start it with [`ClusterTask::run`].
#[derive(Debug)]
pub struct ClusterTask {
    node: u16,
    url: String,
    outbox: mpsc::Receiver<Relay>,
    up: Arc<AtomicBool>,
}

/// A link for the handlers and the task that serves it.
pub fn cluster(node: u16, url: &str) -> (ClusterLink, ClusterTask) {
    let (tx, rx) = mpsc::channel(OUTBOX);
    let up = Arc::new(AtomicBool::new(false));
    let link = ClusterLink { node, outbox: tx, up: Arc::clone(&up) };
    (link, ClusterTask { node, url: url.to_owned(), outbox: rx, up })
}

impl ClusterTask {
    // ANCHOR: run
    /// Connects, serves, and reconnects with back-off whenever Redis goes away, until `stop`.
    /// Records into the node's `metrics`, the handles every other series uses.
    pub async fn run(
        mut self,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.serve(&registry, &metrics, &stop).await {
                Ok(()) => return, // stopped
                Err(error) => {
                    // After a connected period, start over with a short delay.
                    if self.up.load(Ordering::Relaxed) {
                        backoff = Duration::from_millis(100);
                    }
                    self.set_up(false, &metrics);
                    metrics.cluster_reconnect();
                    warn!(%error, retry_ms = backoff.as_millis() as u64, "redis unavailable");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
    // ANCHOR_END: run

    // ANCHOR: serve
    /// One connected period: subscribe, then relay both ways until an error or `stop`.
    async fn serve(
        &mut self,
        registry: &Registry,
        metrics: &Metrics,
        stop: &CancellationToken,
    ) -> redis::RedisResult<()> {
        let client = redis::Client::open(self.url.as_str())?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        let mut publisher = ConnectionManager::new_with_config(client.clone(), config).await?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.psubscribe("ws:room:*").await?;
        pubsub.subscribe(node_channel(self.node)).await?;
        let mut inbound = pubsub.into_on_message();
        self.set_up(true, metrics);
        info!(node = self.node, "connected to redis");

        loop {
            tokio::select! {
                relay = self.outbox.recv() => {
                    let Some(relay) = relay else { return Ok(()) };
                    publish(&mut publisher, relay, registry, metrics).await?;
                }
                message = inbound.next() => {
                    let Some(message) = message else {
                        return Err(redis::RedisError::from((redis::ErrorKind::Io, "subscription ended")));
                    };
                    metrics.relay_received();
                    match serde_json::from_slice::<Relay>(message.get_payload_bytes()) {
                        Ok(relay) => {
                            if let Some(back) = self.deliver(relay, registry) {
                                publish(&mut publisher, back, registry, metrics).await?;
                            }
                        }
                        Err(error) => warn!(%error, "undecodable relay message ignored"),
                    }
                }
                () = stop.cancelled() => return Ok(()),
            }
        }
    }
    // ANCHOR_END: serve

    // ANCHOR: deliver
    /// Delivers what another node published; returns a message to send back, if any.
    fn deliver(&self, relay: Relay, registry: &Registry) -> Option<Relay> {
        match relay {
            // Our own publish, back from Redis: already delivered locally.
            Relay::Room { origin, .. } if origin == self.node => None,
            Relay::Room { room, frame, .. } => {
                let delivery = registry.deliver_to_room(&room, &outgoing("message", frame));
                debug!(room, delivered = delivery.delivered, "relayed room message");
                None
            }
            Relay::Direct { from, to, trace, frame, bounce, .. } => {
                let msg_type = if bounce { "error" } else { "direct" };
                let delivered = registry
                    .deliver_to(SessionId::from_raw(to), &outgoing(msg_type, frame))
                    .is_ok();
                // Not here (any more): tell the sender, on its own node.
                (!delivered && !bounce).then(|| self.bounce(from, trace))
            }
        }
    }
    // ANCHOR_END: deliver

    fn bounce(&self, sender: u64, trace: TraceId) -> Relay {
        let frame = protocol::encode(&no_such_session(trace));
        Relay::Direct { origin: self.node, from: 0, to: sender, trace, frame, bounce: true }
    }

    fn set_up(&self, up: bool, metrics: &Metrics) {
        self.up.store(up, Ordering::Relaxed);
        metrics.cluster_up(up);
    }
}

// ANCHOR: publish_relay
/// Publishes one relay. A direct message that no node took (its node is gone) comes back
/// to its sender as `no_such_session` right here.
async fn publish(
    publisher: &mut ConnectionManager,
    relay: Relay,
    registry: &Registry,
    metrics: &Metrics,
) -> redis::RedisResult<()> {
    let channel = match &relay {
        Relay::Room { room, .. } => room_channel(room),
        Relay::Direct { to, .. } => node_channel(SessionId::from_raw(*to).node()),
    };
    let payload = serde_json::to_string(&relay).expect("relays always serialize");
    match publisher.publish::<_, _, usize>(&channel, payload).await {
        Ok(0) => {
            if let Relay::Direct { from, trace, bounce: false, .. } = relay {
                let error = Outgoing::encode(&no_such_session(trace));
                let _ = registry.deliver_to(SessionId::from_raw(from), &error);
            }
            Ok(())
        }
        Ok(_) => {
            metrics.relay_sent();
            Ok(())
        }
        Err(error) => {
            metrics.relay_lost();
            warn!(%error, %channel, "message lost: redis did not take it");
            Err(error)
        }
    }
}
// ANCHOR_END: publish_relay

fn no_such_session(trace: TraceId) -> ServerMessage {
    ServerMessage::Error {
        id: None,
        trace,
        code: ErrorCode::NoSuchSession,
        message: "no session with that id is connected".into(),
    }
}

fn outgoing(msg_type: &'static str, frame: String) -> Outgoing {
    Outgoing { msg_type, frame: Utf8Bytes::from(frame) }
}

fn room_channel(room: &str) -> String {
    format!("ws:room:{room}")
}

fn node_channel(node: u16) -> String {
    format!("ws:node:{node}")
}
