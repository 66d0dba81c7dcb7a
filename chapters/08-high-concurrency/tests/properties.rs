//! Property tests: no input, however strange, panics the decoder or the chain.
//!
//! A panic would be caught and answered `internal`, so "never panics" is checked as "never
//! answers `internal`" (and the test would also fail on an uncaught panic).

use proptest::{collection, prelude::*};
use serde_json::{Map, Value};

// The chapter under test: the only name that changes when the next chapter copies this file.
use ch08_high_concurrency as chapter;
use chapter::{
    Config, Registry, app,
    protocol::{self, Envelope, ErrorCode, ProtocolError, ServerMessage},
    registry,
    state::SessionState,
};

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,80}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            collection::btree_map(".{0,10}", inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Objects that look like requests: a known or random type, the fields handlers read, and noise.
fn envelope() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just("echo".to_owned()),
        Just("auth".to_owned()),
        Just("join".to_owned()),
        Just("leave".to_owned()),
        Just("publish".to_owned()),
        Just("direct".to_owned()),
        ".{0,12}",
    ];
    let field = prop_oneof![
        Just("room"),
        Just("data"),
        Just("to"),
        Just("token"),
        Just("id"),
        Just("type")
    ];
    let fields = collection::btree_map(field.prop_map(str::to_owned), json(), 0..5);
    (kind, proptest::option::of(".{0,70}"), fields).prop_map(|(kind, id, fields)| {
        let mut object: Map<String, Value> = fields.into_iter().collect();
        object.insert("type".into(), Value::String(kind));
        if let Some(id) = id {
            object.insert("id".into(), Value::String(id));
        }
        Value::Object(object)
    })
}

/// Object texts as a client may write them: keys repeated, keys spelled with escapes.
fn raw_object() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("type"),
        Just("id"),
        Just("t\\u0079pe"),
        Just("\\u0069d"),
        Just("data"),
        Just("room"),
    ];
    let value = prop_oneof![json().prop_map(|value| value.to_string()), Just("\"echo\"".into())];
    collection::vec((key, value), 0..6).prop_map(|pairs| {
        let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", fields.join(","))
    })
}

/// The decoder of chapters 02-06: the whole text into a `Value`, then `id` and `type` taken out
/// of the object. Chapter 08's reads them out in one pass; the two must agree on every input.
fn two_step_decode(text: &str) -> Result<Envelope, ProtocolError> {
    let error = |code, id, message: String| ProtocolError { id, code, message };
    let mut fields = match serde_json::from_str(text) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => {
            return Err(error(ErrorCode::InvalidJson, None, "a message is a JSON object".into()));
        }
        Err(e) => return Err(error(ErrorCode::InvalidJson, None, format!("not JSON: {e}"))),
    };
    let id = match fields.remove("id") {
        None => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err(error(ErrorCode::BadRequest, None, "`id` must be a string".into())),
    };
    match fields.remove("type") {
        Some(Value::String(kind)) => Ok(Envelope { kind, id, fields }),
        _ => Err(error(ErrorCode::BadRequest, id, "missing string field `type`".into())),
    }
}

/// Runs one frame through the standard chain, as a fresh session would.
fn dispatch(text: &str) -> ServerMessage {
    let config = Config::default();
    let chain = app::standard_chain(&config);
    let registry = Registry::new();
    let (outbound, _queue) = registry::queue(8);
    let registration = registry.register(outbound, Default::default());
    let mut state = SessionState::new(&config);
    chain.dispatch(registration.id(), &registry, &mut state, text)
}

fn assert_contained(reply: &ServerMessage) {
    if let ServerMessage::Error { code: ErrorCode::Internal, message, .. } = reply {
        panic!("the chain failed internally: {message}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = protocol::decode(&text);
        assert_contained(&dispatch(&text));
    }

    #[test]
    fn arbitrary_json_never_panics(value in json()) {
        assert_contained(&dispatch(&value.to_string()));
    }

    #[test]
    fn arbitrary_requests_never_panic(value in envelope()) {
        assert_contained(&dispatch(&value.to_string()));
    }

    #[test]
    fn the_one_pass_decoder_agrees_with_the_two_step_one(
        text in prop_oneof![
            raw_object(),
            envelope().prop_map(|value| value.to_string()),
            json().prop_map(|value| value.to_string()),
            (json(), ".{0,3}").prop_map(|(value, tail)| format!("{value}{tail}")),
            ".{0,40}",
        ]
    ) {
        prop_assert_eq!(protocol::decode(&text), two_step_decode(&text));
    }
}
