use tokio::sync::mpsc::error::TrySendError;

use crate::{Delivery, Frame, Registry, RegistryError, SessionId, encode};

impl Registry {
    /// Adds the session to a room, creating the room if needed. Joining twice is harmless.
    /// An unknown session is `Err(NoSuchSession)`.
    pub fn join(&self, id: SessionId, room: &str) -> Result<(), RegistryError> {
        let mut inner = self.lock();
        let member = inner.sessions.get_mut(&id).ok_or(RegistryError::NoSuchSession)?;
        // Both maps change under the same lock, so no one ever sees them disagree.
        if member.rooms.insert(room.to_owned()) {
            inner.rooms.entry(room.to_owned()).or_default().insert(id);
        }
        Ok(())
    }

    /// Removes the session from a room; the last one out removes the room. Leaving a room you
    /// are not in is `Err(NotInRoom)`; an unknown session is `Err(NoSuchSession)`.
    pub fn leave(&self, id: SessionId, room: &str) -> Result<(), RegistryError> {
        let mut inner = self.lock();
        let member = inner.sessions.get_mut(&id).ok_or(RegistryError::NoSuchSession)?;
        if !member.rooms.remove(room) {
            return Err(RegistryError::NotInRoom);
        }
        if let Some(members) = inner.rooms.get_mut(room) {
            members.remove(&id);
            // An empty room kept around is a leak: room names come and go all day.
            if members.is_empty() {
                inner.rooms.remove(room);
            }
        }
        Ok(())
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
        // Encode before taking the lock: the lock is held only for the fan-out.
        let frame: Frame = encode(room, from, text).into();
        let inner = self.lock();
        let members = inner
            .rooms
            .get(room)
            .filter(|members| members.contains(&from))
            .ok_or(RegistryError::NotInRoom)?;
        let mut delivery = Delivery::default();
        for id in members.iter().filter(|&&id| id != from) {
            let Some(member) = inner.sessions.get(id) else {
                continue;
            };
            // `try_send` never waits: one slow consumer must not hold up the whole room.
            match member.outbound.try_send(Frame::clone(&frame)) {
                Ok(()) => delivery.delivered += 1,
                Err(TrySendError::Full(_)) => delivery.dropped += 1,
                // The session is ending; its unregister is on its way.
                Err(TrySendError::Closed(_)) => {}
            }
        }
        Ok(delivery)
    }
}
