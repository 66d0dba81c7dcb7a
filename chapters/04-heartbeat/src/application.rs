//! Application: what each message does: echo, rooms, publish, direct messages.
//!
//! It works on typed messages and the registry; it never sees a socket, a frame or a byte of
//! JSON, so it is tested without any of them.

use crate::{
    protocol::{ErrorCode, ProtocolError, Request, ServerMessage},
    registry::{Registry, RegistryError, SessionId},
};

/// Room names are short, printable labels: a client cannot make the server hold a megabyte key.
pub const MAX_ROOM_NAME: usize = 64;

/// Who is asking, and the shared state the request may touch.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub session: SessionId,
    pub registry: &'a Registry,
}

// ANCHOR: handle
/// Answers one request from `cx.session`; the answer goes back to that session only.
pub fn handle(cx: Context<'_>, request: Request) -> ServerMessage {
    let from = cx.session;
    let (id, outcome) = match request {
        Request::Echo { id, data } => return ServerMessage::Echo { id, data },
        Request::Join { id, room } => {
            let outcome =
                check_room(&room).and_then(|()| cx.registry.join(from, &room).map_err(into_error));
            (id, outcome)
        }
        Request::Leave { id, room } => (id, cx.registry.leave(from, &room).map_err(into_error)),
        Request::Publish { id, room, data } => {
            let message =
                ServerMessage::Message { room: room.clone(), from: from.to_string(), data };
            (id, cx.registry.publish(from, &room, &message).map(drop).map_err(into_error))
        }
        Request::Direct { id, to, data } => {
            let message = ServerMessage::Direct { from: from.to_string(), data };
            let outcome = match to.parse() {
                Ok(to) => cx.registry.send_to(to, &message).map(drop).map_err(into_error),
                Err(_) => Err(into_error(RegistryError::NoSuchSession)),
            };
            (id, outcome)
        }
    };
    match outcome {
        Ok(()) => ServerMessage::Ack { id },
        Err((code, message)) => ProtocolError::new(id, code, message).into(),
    }
}
// ANCHOR_END: handle

fn check_room(room: &str) -> Result<(), (ErrorCode, String)> {
    if room.is_empty() || room.len() > MAX_ROOM_NAME || room.chars().any(char::is_control) {
        return Err((
            ErrorCode::BadRequest,
            format!("a room name is 1 to {MAX_ROOM_NAME} bytes of printable text"),
        ));
    }
    Ok(())
}

fn into_error(error: RegistryError) -> (ErrorCode, String) {
    match error {
        RegistryError::NotInRoom => (ErrorCode::NotInRoom, "join the room first".into()),
        RegistryError::NoSuchSession => {
            (ErrorCode::NoSuchSession, "no session with that id is connected".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use tokio::sync::mpsc;

    use super::*;
    use crate::registry::Registration;

    fn session(
        registry: &Arc<Registry>,
    ) -> (Registration, mpsc::Receiver<tokio_tungstenite::tungstenite::Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(8);
        (registry.register(tx), rx)
    }

    fn request(text: &str) -> Request {
        crate::protocol::decode(text).unwrap()
    }

    fn error_code(message: ServerMessage) -> Option<ErrorCode> {
        match message {
            ServerMessage::Error { code, .. } => Some(code),
            _ => None,
        }
    }

    #[test]
    fn join_publish_and_receive() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry);
        let (b, mut rb) = session(&registry);
        let (cx_a, cx_b) = (
            Context { session: a.id(), registry: &registry },
            Context { session: b.id(), registry: &registry },
        );
        assert_eq!(
            handle(cx_a, request(r#"{"type":"join","id":"1","room":"r"}"#)),
            ServerMessage::Ack { id: Some("1".into()) }
        );
        assert_eq!(
            handle(cx_b, request(r#"{"type":"join","room":"r"}"#)),
            ServerMessage::Ack { id: None }
        );
        assert_eq!(
            handle(cx_a, request(r#"{"type":"publish","id":"2","room":"r","data":"hi"}"#)),
            ServerMessage::Ack { id: Some("2".into()) }
        );
        let pushed: Value = serde_json::from_str(rb.try_recv().unwrap().as_str()).unwrap();
        assert_eq!(
            pushed,
            json!({"type":"message","room":"r","from":a.id().to_string(),"data":"hi"})
        );
    }

    #[test]
    fn errors_have_codes_and_keep_the_id() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry);
        let cx = Context { session: a.id(), registry: &registry };
        let reply = handle(cx, request(r#"{"type":"publish","id":"3","room":"r","data":1}"#));
        assert_eq!(
            reply,
            ProtocolError::new(Some("3".into()), ErrorCode::NotInRoom, "join the room first")
                .into()
        );
        assert_eq!(
            error_code(handle(cx, request(r#"{"type":"leave","room":"r"}"#))),
            Some(ErrorCode::NotInRoom)
        );
        assert_eq!(
            error_code(handle(cx, request(r#"{"type":"direct","to":"999","data":1}"#))),
            Some(ErrorCode::NoSuchSession)
        );
        assert_eq!(
            error_code(handle(cx, request(r#"{"type":"direct","to":"bob","data":1}"#))),
            Some(ErrorCode::NoSuchSession)
        );
        assert_eq!(
            error_code(handle(cx, request(r#"{"type":"join","room":""}"#))),
            Some(ErrorCode::BadRequest)
        );
        let long = "x".repeat(MAX_ROOM_NAME + 1);
        assert_eq!(
            error_code(handle(cx, request(&format!(r#"{{"type":"join","room":"{long}"}}"#)))),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(registry.room_count(), 0);
    }

    #[test]
    fn direct_reaches_exactly_one_session() {
        let registry = Registry::new();
        let (a, _ra) = session(&registry);
        let (b, mut rb) = session(&registry);
        let cx = Context { session: a.id(), registry: &registry };
        let text = format!(r#"{{"type":"direct","id":"4","to":"{}","data":{{"k":1}}}}"#, b.id());
        assert_eq!(handle(cx, request(&text)), ServerMessage::Ack { id: Some("4".into()) });
        let pushed: Value = serde_json::from_str(rb.try_recv().unwrap().as_str()).unwrap();
        assert_eq!(pushed, json!({"type":"direct","from":a.id().to_string(),"data":{"k":1}}));
    }
}
