use crate::{
    chain::{Cx, Handler, Outcome, Reply},
    protocol,
};

// ANCHOR: echo
/// `echo`: answers with the same data.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    const TYPE: &'static str = "echo";
    type Request = protocol::Echo;

    fn handle(&self, _cx: &mut Cx<'_>, request: protocol::Echo) -> Outcome {
        Ok(Reply::Echo(request.data))
    }
}
// ANCHOR_END: echo
