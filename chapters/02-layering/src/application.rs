//! Application: what each message does. Pure logic over typed messages; it never sees a
//! socket, a frame or a byte of JSON, so it is tested without any of them.

use crate::protocol::{Reply, Request};

// ANCHOR: handle
/// Answers one request.
pub fn handle(request: Request) -> Reply {
    match request {
        Request::Echo { id, data } => Reply::Echo { id, data },
    }
}
// ANCHOR_END: handle

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn echo_returns_the_same_id_and_data() {
        let data = json!({"nested": [1, 2, {"three": null}]});
        let reply = handle(Request::Echo { id: Some("e1".into()), data: data.clone() });
        assert_eq!(reply, Reply::Echo { id: Some("e1".into()), data });
    }
}
