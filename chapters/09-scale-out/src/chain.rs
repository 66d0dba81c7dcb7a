//! The chain of responsibility every inbound message goes through.
//!
//! ```text
//! text frame -> decode -> [lifecycle] -> [rate_limit] -> [auth] -> [validate] -> router -> handler
//!                             |              |             |           |            |
//!                             +--------------+-------------+-----------+------------+--> reply
//! ```
//! A [`Middleware`] sees the message and either finishes it (a reply or a [`Rejection`]) or
//! passes it on with [`Next::run`]. After the last link the [`Router`] hands it to the
//! [`Handler`] registered for its `type`, which reads its own typed request from the fields.
//!
//! The chain is built once at start-up and shared by every session. It is synchronous: every
//! link and handler works on memory (the registry, the session's state) and never waits, so a
//! message costs no allocation for futures and no task switch. The session's task is the only
//! place that awaits.

use std::{
    any::Any,
    panic::{self, AssertUnwindSafe},
    sync::Arc,
};

use foldhash::HashMap;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tracing::{debug, debug_span, error, field, info};

use crate::{
    metrics::Metrics,
    protocol::{self, ErrorCode, ServerMessage, TraceId},
    registry::{Registry, RegistryError, SessionId},
    state::SessionState,
};

// ANCHOR: types
/// One decoded message on its way through the chain.
#[derive(Debug)]
pub struct Inbound {
    /// The `type` tag: which handler the router picks.
    pub kind: String,
    /// `kind` if a handler serves it, else `"unknown"`: safe as a metric label.
    pub msg_type: &'static str,
    /// The client's request id, echoed in the reply.
    pub id: Option<String>,
    /// The remaining fields; the handler reads its typed request from them.
    pub fields: Map<String, Value>,
    /// Size of the frame, in bytes.
    pub len: usize,
}

/// What a link or handler may use: who is asking, the message's trace id, shared state.
#[derive(Debug)]
pub struct Cx<'a> {
    pub session: SessionId,
    pub trace: TraceId,
    pub registry: &'a Registry,
    /// The handles the chain records into, for links that measure (`lifecycle`).
    pub metrics: &'a Metrics,
    /// The asking session's own state: authenticated or not, its rate-limit bucket.
    pub state: &'a mut SessionState,
}

/// A successful answer to the asking session.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ack,
    Echo(Value),
}

/// A message the chain refused, with the code the client sees and the link that refused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    /// The name of the link (or `router`, or the handler's type) that rejected the message.
    pub by: &'static str,
}

pub type Outcome = Result<Reply, Rejection>;

/// A link of the chain.
pub trait Middleware: Send + Sync + 'static {
    /// A short, stable name for spans and logs.
    fn name(&self) -> &'static str;

    /// Finishes the message, or passes it on with `next.run(cx, message)`.
    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound, next: Next<'_>) -> Outcome;
}

/// The handler of one message type.
pub trait Handler: Send + Sync + 'static {
    /// The `type` tag this handler answers.
    const TYPE: &'static str;
    /// The typed request, read from the message's fields.
    type Request: DeserializeOwned;

    fn handle(&self, cx: &mut Cx<'_>, request: Self::Request) -> Outcome;
}
// ANCHOR_END: types

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), by: "" }
    }

    /// Names the rejecting link, unless a link further down already did.
    fn by(mut self, link: &'static str) -> Self {
        if self.by.is_empty() {
            self.by = link;
        }
        self
    }
}

impl From<RegistryError> for Rejection {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::NotInRoom => Rejection::new(ErrorCode::NotInRoom, "join the room first"),
            RegistryError::NoSuchSession => {
                Rejection::new(ErrorCode::NoSuchSession, "no session with that id is connected")
            }
        }
    }
}

// ANCHOR: next
/// The rest of the chain, from the current link on.
pub struct Next<'a> {
    links: &'a [Box<dyn Middleware>],
    router: &'a Router,
}

impl Next<'_> {
    /// Runs the next link, or the router after the last one. Each link runs in its own span,
    /// so with DEBUG on the log shows the message's path link by link.
    pub fn run(self, cx: &mut Cx<'_>, message: &mut Inbound) -> Outcome {
        let Some((link, rest)) = self.links.split_first() else {
            return self.router.dispatch(cx, message);
        };
        let _span = debug_span!("link", name = link.name()).entered();
        debug!("enter");
        let next = Next { links: rest, router: self.router };
        link.call(cx, message, next).map_err(|rejection| rejection.by(link.name()))
    }
}
// ANCHOR_END: next

// ANCHOR: router
/// Picks the handler for a message's `type`. The map is hashed with foldhash, not std's
/// SipHash: it is looked up twice a message, and it is built at start-up, so no key a client
/// sends is ever stored in it (SipHash defends a map against keys chosen to collide).
#[derive(Default)]
pub struct Router {
    routes: HashMap<&'static str, Box<dyn Route>>,
}

/// A handler with its request type erased, so that handlers of every type fit in one map.
trait Route: Send + Sync {
    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound) -> Outcome;
}

impl<H: Handler> Route for H {
    fn call(&self, cx: &mut Cx<'_>, message: &mut Inbound) -> Outcome {
        let _span = debug_span!("handler", name = H::TYPE).entered();
        let fields = Value::Object(std::mem::take(&mut message.fields));
        let request = serde_json::from_value(fields).map_err(|error| {
            Rejection::new(ErrorCode::BadRequest, error.to_string()).by(H::TYPE)
        })?;
        let outcome = self.handle(cx, request);
        debug!(ok = outcome.is_ok(), "handled");
        outcome.map_err(|rejection| rejection.by(H::TYPE))
    }
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for its message type. One line per message type.
    pub fn route<H: Handler>(mut self, handler: H) -> Self {
        let previous = self.routes.insert(H::TYPE, Box::new(handler));
        assert!(previous.is_none(), "two handlers for message type `{}`", H::TYPE);
        self
    }

    /// The metric label for a message type: the type itself if a handler serves it. A type
    /// the client made up becomes `unknown`, so clients cannot create new series.
    pub fn label(&self, kind: &str) -> &'static str {
        self.routes.get_key_value(kind).map_or("unknown", |(known, _)| *known)
    }

    /// Every message type with a handler.
    pub fn types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.routes.keys().copied()
    }

    fn dispatch(&self, cx: &mut Cx<'_>, message: &mut Inbound) -> Outcome {
        match self.routes.get(message.kind.as_str()) {
            Some(handler) => handler.call(cx, message),
            None => Err(Rejection::new(
                ErrorCode::UnknownType,
                format!("unknown message type `{}`", message.kind),
            )
            .by("router")),
        }
    }
}
// ANCHOR_END: router

// ANCHOR: chain
/// The links, in order, and the router after them. Built once, shared by every session.
pub struct Chain {
    links: Vec<Box<dyn Middleware>>,
    router: Router,
    metrics: Arc<Metrics>,
}

impl Chain {
    /// A chain that records into handles of its own, made for its router's types, until it is
    /// given the server's (`recording_into`).
    pub fn new(router: Router) -> Self {
        let metrics = Arc::new(Metrics::new(router.types()));
        Self { links: Vec::new(), router, metrics }
    }

    /// Records into `metrics`, the handles the rest of the server records into too.
    pub fn recording_into(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Appends a link. One line per middleware.
    pub fn with(mut self, link: impl Middleware) -> Self {
        self.links.push(Box::new(link));
        self
    }

    /// The names of the links, in order.
    pub fn link_names(&self) -> Vec<&'static str> {
        self.links.iter().map(|link| link.name()).collect()
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Takes one text frame from `session` all the way to the reply for it.
    pub fn dispatch(
        &self,
        session: SessionId,
        registry: &Registry,
        state: &mut SessionState,
        text: &str,
    ) -> ServerMessage {
        let trace = state.next_trace(session);
        let span = debug_span!("message", %trace, msg_type = field::Empty);
        let _entered = span.enter();

        let envelope = match protocol::decode(text) {
            Ok(envelope) => envelope,
            Err(error) => {
                self.metrics.message_received("invalid", text.len());
                self.metrics.error_sent(error.code.as_str());
                info!(%trace, outcome = "rejected", by = "decode", code = %error.code, "message rejected: {}", error.message);
                return ServerMessage::Error {
                    id: error.id,
                    trace,
                    code: error.code,
                    message: error.message,
                };
            }
        };
        span.record("msg_type", envelope.kind.as_str());
        let msg_type = self.router.label(&envelope.kind);
        self.metrics.message_received(msg_type, text.len());
        let mut message = Inbound {
            msg_type,
            kind: envelope.kind,
            id: envelope.id,
            fields: envelope.fields,
            len: text.len(),
        };
        let mut cx = Cx { session, trace, registry, metrics: &self.metrics, state };

        // A bug in one handler must not end the session, let alone the server: the client gets
        // an `internal` error with the trace id, the log gets the panic with the same id.
        let next = Next { links: &self.links, router: &self.router };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| next.run(&mut cx, &mut message)))
            .unwrap_or_else(|panic| {
                error!(%trace, msg_type = %message.kind, panic = panic_message(&*panic), "handler panicked");
                Err(Rejection::new(ErrorCode::Internal, format!("internal error; quote trace {trace}")).by("panic"))
            });

        match outcome {
            Ok(Reply::Ack) => ServerMessage::Ack { id: message.id, trace },
            Ok(Reply::Echo(data)) => ServerMessage::Echo { id: message.id, trace, data },
            Err(rejection) => {
                self.metrics.error_sent(rejection.code.as_str());
                ServerMessage::Error {
                    id: message.id,
                    trace,
                    code: rejection.code,
                    message: rejection.message,
                }
            }
        }
    }
}
// ANCHOR_END: chain

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
