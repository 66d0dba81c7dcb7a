use crate::{
    chain::{Cx, Handler, Outcome, Reply},
    protocol::{self, ServerMessage},
};

/// `join`: enters a room, creating it if needed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Join;

impl Handler for Join {
    const TYPE: &'static str = "join";
    type Request = protocol::Join;

    fn handle(&self, cx: &mut Cx<'_>, request: protocol::Join) -> Outcome {
        cx.registry.join(cx.session, &request.room)?;
        Ok(Reply::Ack)
    }
}

/// `leave`: the last one out removes the room.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leave;

impl Handler for Leave {
    const TYPE: &'static str = "leave";
    type Request = protocol::Leave;

    fn handle(&self, cx: &mut Cx<'_>, request: protocol::Leave) -> Outcome {
        cx.registry.leave(cx.session, &request.room)?;
        Ok(Reply::Ack)
    }
}

// ANCHOR: publish
/// `publish`: to every other member of a room the sender has joined.
#[derive(Debug, Clone, Copy, Default)]
pub struct Publish;

impl Handler for Publish {
    const TYPE: &'static str = "publish";
    type Request = protocol::Publish;

    fn handle(&self, cx: &mut Cx<'_>, request: protocol::Publish) -> Outcome {
        let message = ServerMessage::Message {
            room: request.room.clone(),
            from: cx.session.to_string(),
            data: request.data,
            trace: cx.trace,
        };
        cx.registry.publish(cx.session, &request.room, &message)?;
        Ok(Reply::Ack)
    }
}
// ANCHOR_END: publish
