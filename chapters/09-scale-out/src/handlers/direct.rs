use crate::{
    chain::{Cx, Handler, Outcome, Reply},
    cluster::ClusterLink,
    handlers::rooms::unavailable,
    protocol::{self, ServerMessage},
    registry::{Outgoing, RegistryError, SessionId},
};

// ANCHOR: direct
/// `direct`: to one session, by id, on whichever node it lives.
#[derive(Debug, Clone, Default)]
pub struct SendDirect {
    cluster: Option<ClusterLink>,
}

impl SendDirect {
    pub fn new(cluster: Option<ClusterLink>) -> Self {
        Self { cluster }
    }
}

impl Handler for SendDirect {
    const TYPE: &'static str = "direct";
    type Request = protocol::Direct;

    fn handle(&self, cx: &mut Cx<'_>, request: protocol::Direct) -> Outcome {
        // An id that does not parse names no session, just like an id that is gone.
        let to: SessionId = request.to.parse().map_err(|_| RegistryError::NoSuchSession)?;
        let message = ServerMessage::Direct {
            from: cx.session.to_string(),
            data: request.data,
            trace: cx.trace,
        };
        match &self.cluster {
            // Another node's session: forwarded. If it is gone, its node answers, and the
            // sender gets `no_such_session` with this message's trace id.
            Some(cluster) if to.node() != cx.registry.node() => {
                cluster
                    .direct(cx.session, to, cx.trace, &Outgoing::encode(&message))
                    .map_err(|_| unavailable())?;
            }
            _ => {
                cx.registry.send_to(to, &message)?;
            }
        }
        Ok(Reply::Ack)
    }
}
// ANCHOR_END: direct
