use crate::{
    chain::{Cx, Handler, Outcome, Rejection, Reply},
    cluster::ClusterLink,
    protocol::{self, ErrorCode, ServerMessage},
    registry::Outgoing,
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
/// `publish`: to every other member of a room the sender has joined, on every node.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    cluster: Option<ClusterLink>,
}

impl Publish {
    pub fn new(cluster: Option<ClusterLink>) -> Self {
        Self { cluster }
    }
}

impl Handler for Publish {
    const TYPE: &'static str = "publish";
    type Request = protocol::Publish;

    fn handle(&self, cx: &mut Cx<'_>, request: protocol::Publish) -> Outcome {
        // Refuse up front rather than deliver to this node only and acknowledge.
        if self.cluster.as_ref().is_some_and(|cluster| !cluster.is_up()) {
            return Err(unavailable());
        }
        let message = ServerMessage::Message {
            room: request.room.clone(),
            from: cx.session.to_string(),
            data: request.data,
            trace: cx.trace,
        };
        // Encoded once: for the local members and for every other node.
        let frame = Outgoing::encode(&message);
        cx.registry.publish_frame(cx.session, &request.room, &frame)?;
        if let Some(cluster) = &self.cluster {
            cluster.publish(&request.room, &frame).map_err(|_| unavailable())?;
        }
        Ok(Reply::Ack)
    }
}

pub(crate) fn unavailable() -> Rejection {
    Rejection::new(ErrorCode::Unavailable, "the cluster link is down; retry later")
}
// ANCHOR_END: publish
