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
        match relay {
            // Our own publish, back from Redis: the local members got it before it left.
            Relay::Room { origin, .. } if origin == self.id => None,
            Relay::Room { room, frame, .. } => {
                // One allocation; every member's queue gets a clone of the pointer.
                let message = Outgoing { msg_type: "message", frame: Frame::from(frame) };
                // No local member in the room (every node hears every room): nothing to do.
                for &member in self.rooms.get(&room).into_iter().flatten() {
                    self.offer(member, &message);
                }
                None
            }
            Relay::Direct { from, to, trace, frame, bounce, .. } => {
                let msg_type = if bounce { "error" } else { "direct" };
                let message = Outgoing { msg_type, frame: Frame::from(frame) };
                // Delivered, or a bounce with no one to bounce to: two bounces would ping-pong.
                if self.offer(SessionId(to), &message) || bounce {
                    return None;
                }
                Some(Relay::Direct {
                    origin: self.id,
                    from: 0,
                    to: from,
                    frame: no_such_session(&trace),
                    trace,
                    bounce: true,
                })
            }
        }
    }

    /// Queues `message` for a session of this node without waiting. False if the session is
    /// not here; a session that is here but too slow to take it is still here.
    fn offer(&self, to: SessionId, message: &Outgoing) -> bool {
        let Some(outbound) = self.sessions.get(&to) else {
            return false;
        };
        match outbound.try_send(message.clone()) {
            Ok(()) => {}
            // A slow consumer: the message is dropped for this one session (chapter 08's policy).
            Err(TrySendError::Full(_)) => {}
            // The session is ending; its registration is about to go.
            Err(TrySendError::Closed(_)) => {}
        }
        true
    }
}

impl Relay {
    /// The Redis channel this relay is published to: `ws:room:<room>` for a room message, and
    /// `ws:node:<node>` for a direct message or a bounce, where `<node>` owns the session `to`.
    pub fn channel(&self) -> String {
        match self {
            Relay::Room { room, .. } => format!("ws:room:{room}"),
            Relay::Direct { to, .. } => format!("ws:node:{}", SessionId(*to).node()),
        }
    }
}
