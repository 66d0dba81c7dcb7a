//! Provided tests for exercise 08: run them with `cargo test -p ex09-relay`.
//!
//! No Redis and no socket: a relay is decoded from the JSON a node would receive, a session is
//! the receiving half of its outbound queue, which a test reads with `try_recv` (whatever
//! `deliver` queued is there as soon as it returns). Every `deliver` runs on a thread of its
//! own with a deadline, so one that waits for a full queue fails its test instead of hanging.

use std::{
    sync::{Arc, mpsc as std_mpsc},
    thread,
    time::Duration,
};

use ex09_relay::{Node, Outgoing, Relay, SessionId, no_such_session};
use serde_json::{Value, json};
use tokio::sync::mpsc::{Receiver, error::TryRecvError};

const DEADLINE: Duration = Duration::from_secs(2);

/// Runs `node.deliver(relay)` on a thread of its own; fails the test if it does not return
/// within the deadline.
fn deliver(node: &Arc<Node>, relay: Relay) -> Option<Relay> {
    let node = Arc::clone(node);
    let (done, answer) = std_mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(node.deliver(relay));
    });
    match answer.recv_timeout(DEADLINE) {
        Ok(answer) => answer,
        Err(std_mpsc::RecvTimeoutError::Disconnected) => {
            panic!("deliver panicked (see its message above)")
        }
        Err(std_mpsc::RecvTimeoutError::Timeout) => panic!("deliver must never wait for a queue"),
    }
}

/// A relay as it arrives from Redis: the JSON payload of a pub/sub message.
fn decode(payload: Value) -> Relay {
    serde_json::from_value(payload).expect("the chapter's wire format")
}

/// The frame a member receives for a publish of `data` in `room` by session `from`.
fn message_frame(room: &str, from: SessionId, data: &str) -> String {
    let trace = format!("{}-7", from.0);
    json!({"type":"message","room":room,"from":from.0.to_string(),"data":data,"trace":trace})
        .to_string()
}

fn room_relay(origin: u16, room: &str, frame: &str) -> Relay {
    decode(json!({"kind":"room","origin":origin,"room":room,"frame":frame}))
}

fn direct_relay(from: SessionId, to: SessionId, trace: &str, frame: &str) -> Relay {
    decode(json!({
        "kind":"direct","origin":from.node(),"from":from.0,"to":to.0,
        "trace":trace,"frame":frame,"bounce":false
    }))
}

fn next(queue: &mut Receiver<Outgoing>) -> Outgoing {
    queue.try_recv().expect("a queued message")
}

fn nothing(queue: &mut Receiver<Outgoing>, why: &str) {
    assert_eq!(queue.try_recv().unwrap_err(), TryRecvError::Empty, "{why}");
}

#[test]
fn a_room_message_from_another_node_reaches_every_local_member_once() {
    let mut node = Node::new(2);
    let (a, mut qa) = node.connect(8);
    let (b, mut qb) = node.connect(8);
    let (elsewhere, mut qe) = node.connect(8);
    node.join(a, "lobby");
    node.join(b, "lobby");
    node.join(elsewhere, "kitchen");
    let node = Arc::new(node);

    let frame = message_frame("lobby", SessionId::new(1, 1), "hi");
    assert_eq!(deliver(&node, room_relay(1, "lobby", &frame)), None, "nothing to answer");
    for queue in [&mut qa, &mut qb] {
        let got = next(queue);
        assert_eq!((got.msg_type, &*got.frame), ("message", frame.as_str()));
        nothing(queue, "once, not twice");
    }
    nothing(&mut qe, "a member of another room gets nothing");
}

#[test]
fn every_local_member_gets_the_very_same_allocation() {
    let mut node = Node::new(3);
    let queues: Vec<_> = (0..4)
        .map(|_| {
            let (id, queue) = node.connect(4);
            node.join(id, "r");
            queue
        })
        .collect();
    let node = Arc::new(node);
    let frame = message_frame("r", SessionId::new(1, 9), "shared");
    assert_eq!(deliver(&node, room_relay(1, "r", &frame)), None);
    let frames: Vec<_> = queues.into_iter().map(|mut queue| next(&mut queue).frame).collect();
    for got in &frames {
        assert!(
            Arc::ptr_eq(got, &frames[0]),
            "turn the relay's frame into one `Frame` and clone the Arc for each member"
        );
    }
}

#[test]
fn our_own_room_message_coming_back_from_redis_is_skipped() {
    // Node 1 delivered the publish to its members before forwarding it; with PSUBSCRIBE
    // ws:room:* it hears its own publish too, and must not deliver it a second time.
    let mut node = Node::new(1);
    let (sender, mut qs) = node.connect(8);
    let (neighbour, mut qn) = node.connect(8);
    node.join(sender, "lobby");
    node.join(neighbour, "lobby");
    let node = Arc::new(node);
    let frame = message_frame("lobby", sender, "hello");
    assert_eq!(deliver(&node, room_relay(1, "lobby", &frame)), None);
    nothing(&mut qn, "the neighbour got it locally already: a second copy would be a duplicate");
    nothing(&mut qs, "a publish never comes back to its sender");

    // The same relay from any other node is delivered.
    assert_eq!(deliver(&node, room_relay(4, "lobby", &frame)), None);
    assert_eq!(next(&mut qn).msg_type, "message");
}

#[test]
fn a_room_with_no_member_here_costs_nothing() {
    // Every node hears every room's traffic; most of it is for rooms it has no member in.
    let mut node = Node::new(2);
    let (a, mut qa) = node.connect(8);
    node.join(a, "lobby");
    let node = Arc::new(node);
    let frame = message_frame("nowhere", SessionId::new(1, 1), "hi");
    assert_eq!(deliver(&node, room_relay(1, "nowhere", &frame)), None, "no answer, no bounce");
    nothing(&mut qa, "only members of the room get its messages");
}

#[test]
fn a_direct_message_reaches_its_session_as_a_direct() {
    let mut node = Node::new(2);
    let (_other, mut qo) = node.connect(8);
    let (bob, mut qb) = node.connect(8);
    let node = Arc::new(node);
    let alice = SessionId::new(1, 5);
    let frame = json!({"type":"direct","from":alice.0.to_string(),"data":"psst"}).to_string();
    let trace = format!("{}-3", alice.0);
    assert_eq!(deliver(&node, direct_relay(alice, bob, &trace, &frame)), None, "delivered");
    let got = next(&mut qb);
    assert_eq!((got.msg_type, &*got.frame), ("direct", frame.as_str()));
    nothing(&mut qo, "a direct message reaches one session");
}

#[test]
fn a_direct_message_for_a_session_that_is_gone_bounces_to_its_sender() {
    let mut node = Node::new(2);
    let (bob, mut qb) = node.connect(8);
    node.join(bob, "lobby");
    node.disconnect(bob);
    let node = Arc::new(node);
    let alice = SessionId::new(1, 5);
    let trace = format!("{}-3", alice.0);
    let bounce = deliver(&node, direct_relay(alice, bob, &trace, "{\"type\":\"direct\"}"));
    let expected = Relay::Direct {
        origin: 2,
        from: 0,
        to: alice.0,
        trace: trace.clone(),
        frame: no_such_session(&trace),
        bounce: true,
    };
    assert_eq!(bounce, Some(expected), "back to alice, with the trace of what she sent");
    assert_eq!(qb.try_recv().unwrap_err(), TryRecvError::Disconnected, "bob is gone");
}

#[test]
fn a_direct_message_for_a_session_that_never_was_bounces_too() {
    let node = Arc::new(Node::new(5));
    let alice = SessionId::new(3, 1);
    let nobody = SessionId::new(5, 999);
    let bounce = deliver(&node, direct_relay(alice, nobody, "x-1", "{}")).expect("a bounce");
    let Relay::Direct { to, bounce: is_bounce, frame, .. } = &bounce else {
        panic!("a bounce is a direct relay: {bounce:?}");
    };
    assert_eq!((*to, *is_bounce), (alice.0, true));
    let error: Value = serde_json::from_str(frame).unwrap();
    assert_eq!((&error["code"], &error["trace"]), (&json!("no_such_session"), &json!("x-1")));
}

#[test]
fn a_bounce_reaches_the_sender_as_an_error() {
    let mut node = Node::new(1);
    let (alice, mut qa) = node.connect(8);
    let node = Arc::new(node);
    let trace = format!("{}-3", alice.0);
    let bounce = Relay::Direct {
        origin: 2,
        from: 0,
        to: alice.0,
        trace: trace.clone(),
        frame: no_such_session(&trace),
        bounce: true,
    };
    assert_eq!(deliver(&node, bounce), None);
    let got = next(&mut qa);
    assert_eq!((got.msg_type, &*got.frame), ("error", no_such_session(&trace).as_str()));
}

#[test]
fn a_bounce_that_finds_no_one_is_dropped_not_bounced_again() {
    // Alice sent a direct message and left before its bounce came back. Bouncing the bounce
    // would send it to session 0, and a bounce of that, and so on.
    let node = Arc::new(Node::new(1));
    let alice = SessionId::new(1, 1);
    let bounce = Relay::Direct {
        origin: 2,
        from: 0,
        to: alice.0,
        trace: "1-1".into(),
        frame: no_such_session("1-1"),
        bounce: true,
    };
    assert_eq!(deliver(&node, bounce), None, "the end of the line");
}

#[test]
fn a_slow_session_is_not_a_missing_one_and_deliver_never_waits() {
    let mut node = Node::new(2);
    let (slow, mut qs) = node.connect(1);
    let (fast, mut qf) = node.connect(8);
    node.join(slow, "r");
    node.join(fast, "r");
    let node = Arc::new(node);
    let alice = SessionId::new(1, 1);
    for n in 0..3 {
        let frame = message_frame("r", alice, &n.to_string());
        assert_eq!(deliver(&node, room_relay(1, "r", &frame)), None);
    }
    let frame = json!({"type":"direct","data":"psst"}).to_string();
    assert_eq!(
        deliver(&node, direct_relay(alice, slow, "a-1", &frame)),
        None,
        "its queue is full, but the session is here: dropped for it, not bounced"
    );
    assert_eq!(qs.len(), 1, "a full queue holds its capacity");
    assert_eq!(next(&mut qs).frame.as_ref(), message_frame("r", alice, "0"));
    for n in 0..3 {
        assert_eq!(next(&mut qf).frame.as_ref(), message_frame("r", alice, &n.to_string()));
    }
}

#[test]
fn every_relay_goes_to_the_channel_of_its_room_or_of_its_node() {
    let alice = SessionId::new(1, 5);
    let bob = SessionId::new(7, 2);
    assert_eq!(room_relay(1, "lobby", "{}").channel(), "ws:room:lobby");
    assert_eq!(room_relay(3, "a room", "{}").channel(), "ws:room:a room");
    assert_eq!(direct_relay(alice, bob, "t", "{}").channel(), "ws:node:7", "bob's node");
    let node = Arc::new(Node::new(7));
    let bounce = deliver(&node, direct_relay(alice, bob, "t", "{}")).expect("bob is not here");
    assert_eq!(bounce.channel(), "ws:node:1", "a bounce goes back to alice's node");
    let stranger = SessionId::new(u16::MAX, u64::from(u32::MAX));
    assert_eq!(direct_relay(alice, stranger, "t", "{}").channel(), "ws:node:65535");
}
