//! Exercise 03: write the room operations of a session registry. Edit `src/exercise.rs`; see
//! the README.
//!
//! Everything below is given: the types, `register` and `unregister`, and a few read-only
//! accessors the tests use. Your job is `join`, `leave` and `publish`, in `src/exercise.rs`.
//!
//! The maps live behind one `std::sync::Mutex`. Nothing here is async, so the lock is never
//! held across an `.await`, and a publish never waits for a slow recipient.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::mpsc;

/// A session's id, assigned by the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// An encoded text frame. Cloning it copies a pointer and bumps a reference count; the text
/// itself is never copied, so every recipient of one message can share one allocation.
pub type Frame = Arc<str>;

/// The sending half of a session's bounded outbound queue. The session's own task drains the
/// other half into its socket.
pub type Outbound = mpsc::Sender<Frame>;

#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, Member>,
    /// Every room that has at least one member, and its members.
    rooms: HashMap<String, HashSet<SessionId>>,
}

#[derive(Debug)]
struct Member {
    // Only `publish`, which you write, reads the queue.
    #[allow(dead_code)]
    outbound: Outbound,
    /// The rooms this session joined, so that unregistering does not scan every room.
    /// Keep it in step with `Inner::rooms`.
    rooms: HashSet<String>,
}

/// How a published message fared with its recipients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Queued for sending.
    pub delivered: usize,
    /// Not queued because the recipient's queue was full (a slow consumer).
    pub dropped: usize,
    // A recipient whose queue is closed (its session is ending) counts as neither.
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryError {
    /// The session is not a member of that room (or the room does not exist).
    NotInRoom,
    /// No session with that id is registered.
    NoSuchSession,
}

/// The frame a room member receives when `from` publishes `text` in `room`:
/// `{"type":"message","room":"lobby","from":1,"text":"hi"}`.
pub fn encode(room: &str, from: SessionId, text: &str) -> String {
    serde_json::json!({"type": "message", "room": room, "from": from.0, "text": text}).to_string()
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a session with a fresh id.
    pub fn register(&self, outbound: Outbound) -> SessionId {
        let id = SessionId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let member = Member { outbound, rooms: HashSet::new() };
        self.lock().sessions.insert(id, member);
        id
    }

    /// Removes a session and takes it out of every room it joined; a room left empty is removed.
    pub fn unregister(&self, id: SessionId) {
        let mut inner = self.lock();
        let Some(member) = inner.sessions.remove(&id) else {
            return;
        };
        for room in &member.rooms {
            if let Some(members) = inner.rooms.get_mut(room) {
                members.remove(&id);
                if members.is_empty() {
                    inner.rooms.remove(room);
                }
            }
        }
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

    /// The rooms a session joined, sorted (empty if there is no such session).
    pub fn rooms_of(&self, id: SessionId) -> Vec<String> {
        let mut rooms: Vec<_> = self
            .lock()
            .sessions
            .get(&id)
            .into_iter()
            .flat_map(|member| member.rooms.iter().cloned())
            .collect();
        rooms.sort_unstable();
        rooms
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held cannot leave the maps in a state worse than losing
        // every session, so keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;
