//! The session registry: who is connected, which rooms exist and who is in them.
//!
//! Sessions register when they connect and get an id; the [`Registration`] they hold removes
//! them from the registry and from every room when it is dropped, so every way a session can
//! end (close, error, panic) unregisters it. Messages reach a session only through its bounded
//! outbound queue: the registry never waits for a socket.
//!
//! One `std::sync::Mutex` guards the maps. It is never held across an `.await` (nothing in here
//! is async), and fan-out under it is a loop of non-blocking `try_send`s.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    num::ParseIntError,
    str::FromStr,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tracing::{info, warn};

use crate::{config::SlowConsumer, metrics};

use crate::protocol::{self, ServerMessage};

// ANCHOR: types
/// A session's id, assigned by the server. Clients never choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

/// The sending half of a session's outbound queue.
pub type Outbound = mpsc::Sender<Outgoing>;
/// The receiving half, drained by the session.
pub type Inbox = mpsc::Receiver<Outgoing>;

/// A session's outbound queue, bounded: a client that stops reading costs at most `capacity`
/// messages, however long it stalls.
pub fn queue(capacity: usize) -> (Outbound, Inbox) {
    mpsc::channel(capacity)
}

/// One queued message: an encoded text frame whose bytes are shared (reference-counted) by
/// every recipient of the same message, and its type, for metrics.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub msg_type: &'static str,
    pub frame: Utf8Bytes,
}

impl Outgoing {
    fn encode(message: &ServerMessage) -> Self {
        Self { msg_type: message.kind(), frame: Utf8Bytes::from(protocol::encode(message)) }
    }
}

#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    inner: Mutex<Inner>,
    policy: SlowConsumer,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, Member>,
    rooms: HashMap<String, HashSet<SessionId>>,
}

#[derive(Debug)]
struct Member {
    outbound: Outbound,
    /// Cancelled to make the session close itself (the `close` slow-consumer policy).
    kick: CancellationToken,
    /// The rooms this session joined, so that unregistering does not scan every room.
    rooms: HashSet<String>,
    /// Messages dropped since its queue overflowed, until it is half empty again.
    dropped: u64,
}
// ANCHOR_END: types

/// How a message fared with its recipients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Queued for sending.
    pub delivered: usize,
    /// Not queued because the recipient's queue was full (a slow consumer).
    pub dropped: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryError {
    NotInRoom,
    NoSuchSession,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotInRoom => "not in the room",
            Self::NoSuchSession => "no such session",
        })
    }
}

impl std::error::Error for RegistryError {}

impl SessionId {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SessionId {
    type Err = ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

// ANCHOR: registration
/// Proof that a session is registered. Dropping it unregisters the session, whatever the reason
/// the session ended: a return, an error, or a panic unwinding through its task.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    id: SessionId,
    kick: CancellationToken,
}

impl Registration {
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Completes when the session must stop: the registry kicked it (it could not keep up), or
    /// the token it registered with was cancelled by its parent (the server's shutdown).
    pub fn stopped(&self) -> WaitForCancellationFuture<'_> {
        self.kick.cancelled()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.unregister(self.id);
    }
}
// ANCHOR_END: registration

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A registry that applies `policy` to a session whose outbound queue is full.
    pub fn with_policy(policy: SlowConsumer) -> Arc<Self> {
        Arc::new(Self { policy, ..Self::default() })
    }

    // ANCHOR: register
    /// Adds a session with a fresh id; it stays registered until the returned guard is dropped.
    /// The registry cancels `kick` to make the session close itself.
    pub fn register(self: &Arc<Self>, outbound: Outbound, kick: CancellationToken) -> Registration {
        let id = SessionId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let member = Member { outbound, kick: kick.clone(), rooms: HashSet::new(), dropped: 0 };
        let mut inner = self.lock();
        inner.sessions.insert(id, member);
        inner.record_population();
        drop(inner);
        Registration { registry: Arc::clone(self), id, kick }
    }

    fn unregister(&self, id: SessionId) {
        let mut inner = self.lock();
        let Some(member) = inner.sessions.remove(&id) else {
            return;
        };
        for room in member.rooms {
            inner.remove_from_room(&room, id);
        }
        inner.record_population();
    }
    // ANCHOR_END: register

    /// Adds the session to a room, creating the room if needed. Joining twice is harmless.
    pub fn join(&self, id: SessionId, room: &str) -> Result<(), RegistryError> {
        let mut inner = self.lock();
        let member = inner.sessions.get_mut(&id).ok_or(RegistryError::NoSuchSession)?;
        if member.rooms.insert(room.to_owned()) {
            inner.rooms.entry(room.to_owned()).or_default().insert(id);
            inner.record_population();
        }
        Ok(())
    }

    /// Removes the session from a room; the last one out removes the room.
    pub fn leave(&self, id: SessionId, room: &str) -> Result<(), RegistryError> {
        let mut inner = self.lock();
        let member = inner.sessions.get_mut(&id).ok_or(RegistryError::NoSuchSession)?;
        if !member.rooms.remove(room) {
            return Err(RegistryError::NotInRoom);
        }
        inner.remove_from_room(room, id);
        inner.record_population();
        Ok(())
    }

    // ANCHOR: publish
    /// Sends `message` to every member of `room` except the sender, who must be a member.
    /// The message is serialized once; every recipient's queue gets the same shared bytes.
    pub fn publish(
        &self,
        from: SessionId,
        room: &str,
        message: &ServerMessage,
    ) -> Result<Delivery, RegistryError> {
        let frame = Outgoing::encode(message);
        let mut inner = self.lock();
        let Inner { sessions, rooms } = &mut *inner;
        let members = rooms.get(room).filter(|members| members.contains(&from));
        let members = members.ok_or(RegistryError::NotInRoom)?;
        let mut delivery = Delivery::default();
        for id in members.iter().filter(|&&id| id != from) {
            if let Some(member) = sessions.get_mut(id) {
                member.enqueue(*id, &frame, self.policy, &mut delivery);
            }
        }
        Ok(delivery)
    }
    // ANCHOR_END: publish

    /// Sends `message` to one session.
    pub fn send_to(
        &self,
        to: SessionId,
        message: &ServerMessage,
    ) -> Result<Delivery, RegistryError> {
        let frame = Outgoing::encode(message);
        let mut inner = self.lock();
        let member = inner.sessions.get_mut(&to).ok_or(RegistryError::NoSuchSession)?;
        let mut delivery = Delivery::default();
        member.enqueue(to, &frame, self.policy, &mut delivery);
        Ok(delivery)
    }

    /// Sends `message` to every session.
    pub fn broadcast(&self, message: &ServerMessage) -> Delivery {
        let frame = Outgoing::encode(message);
        let mut inner = self.lock();
        let mut delivery = Delivery::default();
        for (&id, member) in &mut inner.sessions {
            member.enqueue(id, &frame, self.policy, &mut delivery);
        }
        delivery
    }

    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    /// The members of a room, sorted (empty if there is no such room).
    pub fn members(&self, room: &str) -> Vec<SessionId> {
        let mut members: Vec<_> =
            self.lock().rooms.get(room).into_iter().flatten().copied().collect();
        members.sort_unstable();
        members
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing every session, so keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Gauges are set while the lock is held, so they never go backwards in time.
    fn record_population(&self) {
        metrics::population(self.sessions.len(), self.rooms.len());
    }

    fn remove_from_room(&mut self, room: &str, id: SessionId) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }
}

impl Member {
    // ANCHOR: enqueue
    /// Queues a frame for this session without ever waiting: a full queue means a slow consumer,
    /// and its message is dropped rather than holding up everyone else.
    ///
    /// An overflow is logged when it begins and when the queue is half empty again, with the
    /// count of what was dropped in between; every drop is counted in the metrics. One line per
    /// drop would flood the log exactly when the server is busiest: a slow member of a busy
    /// room, hovering at the bound, drops every other message.
    fn enqueue(
        &mut self,
        id: SessionId,
        frame: &Outgoing,
        policy: SlowConsumer,
        delivery: &mut Delivery,
    ) {
        match self.outbound.try_send(frame.clone()) {
            Ok(()) => {
                delivery.delivered += 1;
                // `capacity` is the room left, `max_capacity` the bound.
                let half_empty = self.outbound.capacity() * 2 >= self.outbound.max_capacity();
                if self.dropped > 0 && half_empty {
                    info!(session = %id, dropped = self.dropped, "outbound queue caught up");
                    self.dropped = 0;
                }
            }
            Err(TrySendError::Full(_)) => {
                delivery.dropped += 1;
                metrics::queue_dropped();
                self.dropped += 1;
                if self.dropped == 1 {
                    warn!(session = %id, msg_type = frame.msg_type, ?policy, "outbound queue overflow: dropping messages");
                    // Under the close policy the first drop kicks the session.
                    if policy == SlowConsumer::Close {
                        self.kick.cancel();
                    }
                }
            }
            // The session is ending; its registration is about to be dropped.
            Err(TrySendError::Closed(_)) => {}
        }
    }
    // ANCHOR_END: enqueue
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn session(registry: &Arc<Registry>, capacity: usize) -> (Registration, Inbox) {
        let (tx, rx) = queue(capacity);
        (registry.register(tx, CancellationToken::new()), rx)
    }

    fn message(data: i32) -> ServerMessage {
        ServerMessage::Message {
            room: "r".into(),
            from: "x".into(),
            data: json!(data),
            trace: crate::protocol::TraceId { session: 0, seq: 0 },
        }
    }

    #[test]
    fn ids_are_unique_and_parse_back() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry, 1);
        let (b, _rb) = session(&registry, 1);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().to_string().parse::<SessionId>().unwrap(), a.id());
    }

    #[test]
    fn dropping_the_registration_leaves_every_room() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry, 1);
        let (b, _rb) = session(&registry, 1);
        registry.join(a.id(), "one").unwrap();
        registry.join(a.id(), "two").unwrap();
        registry.join(b.id(), "two").unwrap();
        drop(a);
        assert_eq!(registry.session_count(), 1);
        assert_eq!(registry.members("one"), vec![]);
        assert_eq!(registry.members("two"), vec![b.id()]);
        assert_eq!(registry.room_count(), 1);
    }

    #[test]
    fn the_last_one_out_removes_the_room() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry, 1);
        registry.join(a.id(), "lobby").unwrap();
        registry.join(a.id(), "lobby").unwrap();
        assert_eq!(registry.room_count(), 1);
        registry.leave(a.id(), "lobby").unwrap();
        assert_eq!(registry.room_count(), 0);
        assert_eq!(registry.leave(a.id(), "lobby"), Err(RegistryError::NotInRoom));
    }

    #[test]
    fn publish_reaches_every_other_member_with_the_same_bytes() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry, 4);
        let (b, mut rb) = session(&registry, 4);
        let (c, mut rc) = session(&registry, 4);
        let (_outsider, mut ro) = session(&registry, 4);
        for member in [&a, &b, &c] {
            registry.join(member.id(), "r").unwrap();
        }
        let delivery = registry.publish(a.id(), "r", &message(1)).unwrap();
        assert_eq!(delivery, Delivery { delivered: 2, dropped: 0 });
        let (to_b, to_c) = (rb.try_recv().unwrap(), rc.try_recv().unwrap());
        assert_eq!(to_b.frame, to_c.frame);
        assert_eq!(to_b.msg_type, "message");
        // Serialized once: both recipients hold the very same allocation.
        assert_eq!(to_b.frame.as_str().as_ptr(), to_c.frame.as_str().as_ptr());
        assert!(ro.try_recv().is_err());
    }

    #[test]
    fn publish_requires_membership() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry, 1);
        let (b, _rb) = session(&registry, 1);
        registry.join(b.id(), "r").unwrap();
        assert_eq!(registry.publish(a.id(), "r", &message(1)), Err(RegistryError::NotInRoom));
        assert_eq!(registry.publish(a.id(), "nowhere", &message(1)), Err(RegistryError::NotInRoom));
    }

    #[test]
    fn a_full_queue_drops_instead_of_blocking_and_logs_the_overflow_once() {
        let (_guard, logs) = test_support::capture::capture("info");
        let overflows = || logs.lines_with(&["WARN", "outbound queue overflow"]).len();
        let caught_up = || logs.lines_with(&["INFO", "outbound queue caught up"]);
        let registry = Registry::new();
        let (a, _ra) = session(&registry, 1);
        let (slow, mut rslow) = session(&registry, 4);
        registry.join(a.id(), "r").unwrap();
        registry.join(slow.id(), "r").unwrap();
        let publish = |n| registry.publish(a.id(), "r", &message(n)).unwrap();

        let deliveries: Vec<_> = (0..10).map(publish).collect();
        assert_eq!(deliveries.iter().map(|d| d.delivered).sum::<usize>(), 4);
        assert_eq!(deliveries.iter().map(|d| d.dropped).sum::<usize>(), 6);
        assert_eq!(overflows(), 1, "one line for six drops:\n{}", logs.contents());

        // Hovering at the bound: one out, one in, one dropped. Still the same overflow.
        rslow.try_recv().unwrap();
        assert_eq!(publish(10).delivered, 1);
        assert_eq!(publish(11).dropped, 1);
        assert_eq!((overflows(), caught_up().len()), (1, 0), "{}", logs.contents());

        // Read up: the next message that fits ends the overflow, with what it cost.
        while rslow.try_recv().is_ok() {}
        assert_eq!(publish(12).delivered, 1);
        assert_eq!(caught_up().len(), 1, "{}", logs.contents());
        assert!(caught_up()[0].contains("dropped=7"), "{}", caught_up()[0]);
        (13..17).for_each(|n| {
            publish(n);
        });
        assert_eq!(overflows(), 2, "a new overflow is logged again:\n{}", logs.contents());
    }

    #[test]
    fn send_to_a_gone_session_is_an_error() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry, 1);
        let id = a.id();
        drop(a);
        assert_eq!(registry.send_to(id, &message(1)), Err(RegistryError::NoSuchSession));
    }

    #[tokio::test]
    async fn a_panicking_session_task_unregisters() {
        let registry = Registry::new();
        let (tx, _rx) = queue(1);
        let registry2 = Arc::clone(&registry);
        let task = tokio::spawn(async move {
            let registration = registry2.register(tx, CancellationToken::new());
            registry2.join(registration.id(), "r").unwrap();
            panic!("handler bug");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!((registry.session_count(), registry.room_count()), (0, 0));
    }

    #[test]
    fn errors_say_what_went_wrong() {
        assert_eq!(RegistryError::NotInRoom.to_string(), "not in the room");
        let error: Box<dyn std::error::Error> = RegistryError::NoSuchSession.into();
        assert_eq!(error.to_string(), "no such session");
    }
}
