//! Exercise 08: the receiving end of a relay. Write what one node does with a message that
//! another node (or this one) published through Redis, and which channel a relay goes to. Edit
//! `src/exercise.rs`; see the README.
//!
//! Everything below is given: the wire format ([`Relay`]), session ids that name their node,
//! a node's local registry ([`Node`]: sessions, rooms, outbound queues) and the bounce frame.
//! Your job is `Node::deliver` and `Relay::channel`, in `src/exercise.rs`.
//!
//! No Redis here: a relay is a plain value, decoded from the JSON a node would have received,
//! and a session is the receiving half of its outbound queue, which the tests read.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// An encoded text frame. Cloning it copies a pointer and bumps a reference count, so every
/// local recipient of one message shares one allocation.
pub type Frame = Arc<str>;

/// One queued message: the frame and its `type`, for the session's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub msg_type: &'static str,
    pub frame: Frame,
}

/// The sending half of a session's bounded outbound queue.
pub type Outbound = mpsc::Sender<Outgoing>;

/// What travels between nodes, exactly as chapter 09 puts it on the wire:
/// `{"kind":"room","origin":2,"room":"lobby","frame":"{\"type\":\"message\",...}"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Relay {
    /// A publish to a room, already delivered to the members on the `origin` node.
    Room { origin: u16, room: String, frame: String },
    /// A direct message from session `from` to session `to`. With `bounce`, it is the
    /// `no_such_session` error on its way back to the sender of a direct message (`to` is that
    /// sender, `from` is 0).
    Direct { origin: u16, from: u64, to: u64, trace: String, frame: String, bounce: bool },
}

/// A session's id. The top 16 bits name the node that owns the session, so any node can tell
/// where a direct message must go without asking anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

const NODE_SHIFT: u32 = 48;

impl SessionId {
    /// The `local`-th session of node `node`.
    pub fn new(node: u16, local: u64) -> Self {
        Self((u64::from(node) << NODE_SHIFT) | local)
    }

    /// The node this session lives on.
    pub fn node(self) -> u16 {
        (self.0 >> NODE_SHIFT) as u16
    }
}

/// The frame a direct message's sender gets when its recipient is not connected (any more):
/// the error it would have got on a single node, with the trace id of the message it sent.
pub fn no_such_session(trace: &str) -> String {
    serde_json::json!({
        "type": "error",
        "trace": trace,
        "code": "no_such_session",
        "message": "no session with that id is connected",
    })
    .to_string()
}

/// One node: its id and its local registry. Chapter 09's `Registry` keeps the same two maps
/// behind a lock; here the tests own the node, so plain maps do.
#[derive(Debug)]
pub struct Node {
    id: u16,
    next_local: u64,
    sessions: HashMap<SessionId, Outbound>,
    /// Every room with at least one member on this node, and those members.
    rooms: HashMap<String, HashSet<SessionId>>,
}

impl Node {
    pub fn new(id: u16) -> Self {
        Self { id, next_local: 0, sessions: HashMap::new(), rooms: HashMap::new() }
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    /// Registers a session of this node whose outbound queue holds `capacity` messages; the
    /// receiver is what the session's task (here: the test) reads.
    pub fn connect(&mut self, capacity: usize) -> (SessionId, mpsc::Receiver<Outgoing>) {
        self.next_local += 1;
        let id = SessionId::new(self.id, self.next_local);
        let (outbound, queue) = mpsc::channel(capacity);
        self.sessions.insert(id, outbound);
        (id, queue)
    }

    /// Adds a session of this node to a room.
    pub fn join(&mut self, id: SessionId, room: &str) {
        assert!(self.sessions.contains_key(&id), "only a session of this node can join here");
        self.rooms.entry(room.to_owned()).or_default().insert(id);
    }

    /// The session has gone: it leaves its rooms, and nothing reaches it any more.
    pub fn disconnect(&mut self, id: SessionId) {
        self.sessions.remove(&id);
        self.rooms.retain(|_, members| {
            members.remove(&id);
            !members.is_empty()
        });
    }
}

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;
