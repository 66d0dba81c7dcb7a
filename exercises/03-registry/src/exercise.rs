#![allow(unused_imports)] // the imports you will need; the lint comes back once you use them

use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;

use crate::{Delivery, Frame, Registry, RegistryError, SessionId, encode};

impl Registry {
    /// Adds the session to a room, creating the room if needed. Joining twice is harmless.
    /// An unknown session is `Err(NoSuchSession)`.
    pub fn join(&self, id: SessionId, room: &str) -> Result<(), RegistryError> {
        let _ = (id, room);
        todo!("update both maps under one lock: the member's rooms and the room's members")
    }

    /// Removes the session from a room; the last one out removes the room. Leaving a room you
    /// are not in is `Err(NotInRoom)`; an unknown session is `Err(NoSuchSession)`.
    pub fn leave(&self, id: SessionId, room: &str) -> Result<(), RegistryError> {
        let _ = (id, room);
        todo!("the reverse of `join`; `unregister` does this for every room")
    }

    /// Sends `text` to every member of `room` except the sender, who must be a member
    /// (else `Err(NotInRoom)`). Encodes once with [`encode`], shares that one allocation with
    /// every recipient, and never waits: a full queue counts as dropped.
    pub fn publish(
        &self,
        from: SessionId,
        room: &str,
        text: &str,
    ) -> Result<Delivery, RegistryError> {
        let _ = (from, room, text);
        todo!("encode once into a `Frame`, then `try_send` a clone to each other member")
    }
}
