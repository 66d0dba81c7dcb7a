//! Provided tests for exercise 02: run them with `cargo test -p ex02-codec`.

use ex02_codec::{ErrorCode, Request, decode};
use serde_json::json;

fn rejected(text: &str) -> (ErrorCode, Option<String>) {
    let error = decode(text).expect_err("this input must be rejected");
    assert!(!error.message.is_empty(), "say what was wrong in `message`");
    (error.code, error.id)
}

#[test]
fn decodes_echo_with_any_data() {
    assert_eq!(
        decode(r#"{"type":"echo","id":"e1","data":{"deep":[1,null,"x"]}}"#).unwrap(),
        Request::Echo { id: Some("e1".into()), data: json!({"deep": [1, null, "x"]}) }
    );
}

#[test]
fn decodes_sum_and_id_is_optional() {
    assert_eq!(
        decode(r#"{"type":"sum","numbers":[1,2.5]}"#).unwrap(),
        Request::Sum { id: None, numbers: vec![1.0, 2.5] }
    );
}

#[test]
fn text_that_is_not_a_json_object_is_invalid_json() {
    for text in ["", "{", "hello", "[1,2,3]", "42", r#"{"type":"echo","id":"e1""#] {
        assert_eq!(rejected(text), (ErrorCode::InvalidJson, None), "input: {text:?}");
    }
}

#[test]
fn an_unknown_type_is_unknown_type_and_keeps_the_id() {
    assert_eq!(
        rejected(r#"{"type":"dance","id":"d1"}"#),
        (ErrorCode::UnknownType, Some("d1".into()))
    );
}

#[test]
fn a_missing_or_wrong_field_is_bad_request_and_keeps_the_id() {
    assert_eq!(rejected(r#"{"type":"sum","id":"s1"}"#), (ErrorCode::BadRequest, Some("s1".into())));
    assert_eq!(
        rejected(r#"{"type":"sum","id":"s2","numbers":"many"}"#),
        (ErrorCode::BadRequest, Some("s2".into()))
    );
    assert_eq!(
        rejected(r#"{"type":"echo","id":"e3","data":1,"extra":1}"#),
        (ErrorCode::BadRequest, Some("e3".into()))
    );
}

#[test]
fn a_missing_type_is_bad_request() {
    assert_eq!(rejected(r#"{"id":"x1","data":1}"#), (ErrorCode::BadRequest, Some("x1".into())));
}

#[test]
fn an_id_that_is_not_a_string_is_not_reported() {
    assert_eq!(rejected(r#"{"type":"echo","id":7}"#), (ErrorCode::BadRequest, None));
}
