#![allow(unused_imports)] // the imports you will need; the lint comes back once you use them

use tokio::sync::mpsc::error::TrySendError;

use crate::{Frame, Node, Outgoing, Relay, SessionId, no_such_session};

impl Node {
    /// Delivers a relay that Redis handed to this node, and returns the relay to publish in
    /// answer, if any. Never waits for a session's queue.
    ///
    /// - A room message that this node published itself: nothing (its local members already
    ///   have it).
    /// - A room message from another node: every local member of the room gets the frame, as a
    ///   `message`, all of them the same allocation.
    /// - A direct message: its session gets the frame, as a `direct`. If that session is not on
    ///   this node (any more), answer with a bounce: a `Relay::Direct` from this node, `from` 0,
    ///   to the original sender, with `no_such_session(trace)` as its frame and `bounce: true`.
    /// - A bounce: its session gets the frame, as an `error`. A bounce that finds no one is
    ///   dropped, never bounced again.
    pub fn deliver(&self, relay: Relay) -> Option<Relay> {
        let _ = relay;
        todo!("match on the relay: skip your own echo, fan out a room, deliver a direct or bounce")
    }
}

impl Relay {
    /// The Redis channel this relay is published to: `ws:room:<room>` for a room message, and
    /// `ws:node:<node>` for a direct message or a bounce, where `<node>` owns the session `to`.
    pub fn channel(&self) -> String {
        todo!("one channel per room, one per node; the node is in the session id")
    }
}
