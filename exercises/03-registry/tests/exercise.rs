//! Provided tests for exercise 03: run them with `cargo test -p ex03-registry`.

use std::{sync::Arc, thread, time::Duration};

use ex03_registry::{Delivery, Frame, Registry, RegistryError, SessionId, encode};
use tokio::sync::mpsc;

/// Registers a session whose outbound queue holds `capacity` frames.
fn session(registry: &Registry, capacity: usize) -> (SessionId, mpsc::Receiver<Frame>) {
    let (tx, rx) = mpsc::channel(capacity);
    (registry.register(tx), rx)
}

#[test]
fn join_creates_the_room_and_joining_twice_is_harmless() {
    let registry = Registry::new();
    let (a, _ra) = session(&registry, 1);
    let (b, _rb) = session(&registry, 1);
    registry.join(a, "lobby").unwrap();
    registry.join(a, "lobby").unwrap();
    registry.join(b, "lobby").unwrap();
    registry.join(b, "games").unwrap();
    assert_eq!(registry.members("lobby"), vec![a, b]);
    assert_eq!(registry.members("games"), vec![b]);
    assert_eq!(registry.room_count(), 2);
    assert_eq!(registry.rooms_of(b), vec!["games", "lobby"]);
}

#[test]
fn an_unknown_session_can_neither_join_nor_leave() {
    let registry = Registry::new();
    let (a, _ra) = session(&registry, 1);
    registry.unregister(a);
    assert_eq!(registry.join(a, "lobby"), Err(RegistryError::NoSuchSession));
    assert_eq!(registry.leave(a, "lobby"), Err(RegistryError::NoSuchSession));
    assert_eq!(registry.room_count(), 0, "no room for a session that is gone");
}

#[test]
fn leave_removes_the_member_and_the_last_one_out_removes_the_room() {
    let registry = Registry::new();
    let (a, _ra) = session(&registry, 1);
    let (b, _rb) = session(&registry, 1);
    registry.join(a, "lobby").unwrap();
    registry.join(b, "lobby").unwrap();
    registry.leave(a, "lobby").unwrap();
    assert_eq!(registry.members("lobby"), vec![b]);
    assert_eq!(registry.rooms_of(a), Vec::<String>::new());
    assert_eq!(registry.room_count(), 1);
    registry.leave(b, "lobby").unwrap();
    assert_eq!(registry.room_count(), 0, "an empty room must not linger");
}

#[test]
fn leaving_a_room_you_are_not_in_is_not_in_room() {
    let registry = Registry::new();
    let (a, _ra) = session(&registry, 1);
    let (b, _rb) = session(&registry, 1);
    registry.join(b, "lobby").unwrap();
    assert_eq!(registry.leave(a, "lobby"), Err(RegistryError::NotInRoom));
    assert_eq!(registry.leave(a, "nowhere"), Err(RegistryError::NotInRoom));
    assert_eq!(registry.members("lobby"), vec![b], "b is still there");
    registry.join(a, "lobby").unwrap();
    registry.leave(a, "lobby").unwrap();
    assert_eq!(registry.leave(a, "lobby"), Err(RegistryError::NotInRoom));
}

#[test]
fn unregister_takes_a_session_out_of_every_room_it_joined() {
    // `unregister` is given, but it relies on `join` keeping the member's own room list.
    let registry = Registry::new();
    let (a, _ra) = session(&registry, 1);
    let (b, _rb) = session(&registry, 1);
    registry.join(a, "one").unwrap();
    registry.join(a, "two").unwrap();
    registry.join(b, "two").unwrap();
    registry.unregister(a);
    assert_eq!(registry.session_count(), 1);
    assert_eq!(registry.members("one"), vec![]);
    assert_eq!(registry.members("two"), vec![b]);
    assert_eq!(registry.room_count(), 1);
}

#[test]
fn publish_reaches_every_other_member_and_no_one_else() {
    let registry = Registry::new();
    let (a, mut ra) = session(&registry, 4);
    let (b, mut rb) = session(&registry, 4);
    let (c, mut rc) = session(&registry, 4);
    let (outsider, mut ro) = session(&registry, 4);
    for member in [a, b, c] {
        registry.join(member, "lobby").unwrap();
    }
    registry.join(outsider, "elsewhere").unwrap();
    assert_eq!(registry.publish(a, "lobby", "hi").unwrap(), Delivery { delivered: 2, dropped: 0 });
    let expected = encode("lobby", a, "hi");
    assert_eq!(&*rb.try_recv().unwrap(), expected);
    assert_eq!(&*rc.try_recv().unwrap(), expected);
    assert!(ra.try_recv().is_err(), "the sender does not hear itself");
    assert!(ro.try_recv().is_err(), "a non-member hears nothing");
    assert!(rb.try_recv().is_err(), "exactly one frame each");
}

#[test]
fn every_recipient_gets_the_very_same_allocation() {
    let registry = Registry::new();
    let (a, _ra) = session(&registry, 4);
    let (b, mut rb) = session(&registry, 4);
    let (c, mut rc) = session(&registry, 4);
    for member in [a, b, c] {
        registry.join(member, "lobby").unwrap();
    }
    registry.publish(a, "lobby", "shared").unwrap();
    let (to_b, to_c) = (rb.try_recv().unwrap(), rc.try_recv().unwrap());
    assert_eq!(to_b, to_c);
    assert!(
        Arc::ptr_eq(&to_b, &to_c),
        "encode once and clone the Arc: one allocation for all recipients, not one each"
    );
}

#[test]
fn publish_requires_the_sender_to_be_a_member() {
    let registry = Registry::new();
    let (a, _ra) = session(&registry, 4);
    let (b, mut rb) = session(&registry, 4);
    registry.join(b, "lobby").unwrap();
    assert_eq!(registry.publish(a, "lobby", "let me in"), Err(RegistryError::NotInRoom));
    assert_eq!(registry.publish(a, "nowhere", "hello?"), Err(RegistryError::NotInRoom));
    assert!(rb.try_recv().is_err(), "nothing was sent");
    assert_eq!(registry.room_count(), 1, "publish never creates a room");
}

#[test]
fn a_full_queue_counts_a_drop_instead_of_blocking() {
    let registry = Arc::new(Registry::new());
    let (a, _ra) = session(&registry, 1);
    let (fast, mut rfast) = session(&registry, 1);
    let (slow, _rslow) = session(&registry, 1); // never read: its queue fills up
    for member in [a, fast, slow] {
        registry.join(member, "lobby").unwrap();
    }
    // Run publish on another thread so that a publish that waits fails the test instead of
    // hanging it.
    let publish = |text: &'static str| {
        let registry = Arc::clone(&registry);
        let (done, result) = std::sync::mpsc::channel();
        thread::spawn(move || done.send(registry.publish(a, "lobby", text)));
        result
            .recv_timeout(Duration::from_secs(2))
            .expect("publish must never wait for a full queue")
    };
    assert_eq!(publish("one"), Ok(Delivery { delivered: 2, dropped: 0 }));
    rfast.try_recv().unwrap();
    assert_eq!(publish("two"), Ok(Delivery { delivered: 1, dropped: 1 }));
    assert_eq!(&*rfast.try_recv().unwrap(), encode("lobby", a, "two"));
}

#[test]
fn a_closed_queue_is_neither_delivered_nor_dropped() {
    let registry = Registry::new();
    let (a, _ra) = session(&registry, 1);
    let (b, rb) = session(&registry, 1);
    registry.join(a, "lobby").unwrap();
    registry.join(b, "lobby").unwrap();
    drop(rb); // b's session is ending: its task is gone, its unregister not yet done
    assert_eq!(registry.publish(a, "lobby", "anyone?"), Ok(Delivery::default()));
}
