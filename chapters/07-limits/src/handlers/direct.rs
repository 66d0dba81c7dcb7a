use crate::{
    chain::{Cx, Handler, Outcome, Reply},
    protocol::{self, ServerMessage},
    registry::RegistryError,
};

/// `direct`: to one session, by id.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendDirect;

impl Handler for SendDirect {
    const TYPE: &'static str = "direct";
    type Request = protocol::Direct;

    fn handle(&self, cx: &mut Cx<'_>, request: protocol::Direct) -> Outcome {
        // An id that does not parse names no session, just like an id that is gone.
        let to = request.to.parse().map_err(|_| RegistryError::NoSuchSession)?;
        let message = ServerMessage::Direct {
            from: cx.session.to_string(),
            data: request.data,
            trace: cx.trace,
        };
        cx.registry.send_to(to, &message)?;
        Ok(Reply::Ack)
    }
}
