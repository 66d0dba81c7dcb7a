//! Provided tests for exercise 07: run them with `cargo test -p ex07-backpressure`.
//!
//! No socket anywhere: a subscriber is just the receiving half of its queue, which a test reads
//! with `try_recv` (everything a publish queues is there as soon as it returns), and its kick
//! token. Every publish runs on a thread of its own with a deadline, so a `publish` that waits
//! for a full queue fails its test instead of hanging it.

use std::{sync::Arc, thread, time::Duration};

use ex07_backpressure::{Fanout, Policy, Report, Subscription};
use tokio::{
    sync::{mpsc::error::TryRecvError, oneshot},
    time::timeout,
};

const DEADLINE: Duration = Duration::from_secs(2);

/// Publishes every message in order and returns a report for each, or fails the test if the
/// publishing does not finish within the deadline.
async fn publish_all(fanout: &Arc<Fanout>, messages: Vec<String>) -> Vec<Report> {
    let fanout = Arc::clone(fanout);
    let (done, reports) = oneshot::channel();
    thread::spawn(move || {
        let reports = messages.iter().map(|message| fanout.publish(message)).collect();
        let _ = done.send(reports);
    });
    match timeout(DEADLINE, reports).await {
        Ok(Ok(reports)) => reports,
        Ok(Err(_)) => panic!("publish panicked (see its message above)"),
        Err(_) => panic!("publish must never wait for a full queue"),
    }
}

async fn publish(fanout: &Arc<Fanout>, message: &str) -> Report {
    publish_all(fanout, vec![message.to_owned()]).await[0]
}

/// `count` numbered messages: `m0`, `m1`, ...
fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("m{n}")).collect()
}

fn next(subscription: &mut Subscription) -> String {
    subscription.queue.try_recv().expect("a queued message").to_string()
}

fn delivered(delivered: usize) -> Report {
    Report { delivered, ..Report::default() }
}

fn total(reports: &[Report]) -> Report {
    reports.iter().fold(Report::default(), |sum, report| Report {
        delivered: sum.delivered + report.delivered,
        dropped: sum.dropped + report.dropped,
        kicked: sum.kicked + report.kicked,
    })
}

#[tokio::test]
async fn subscribers_that_keep_up_get_every_message_in_order() {
    let fanout = Arc::new(Fanout::new(Policy::Drop));
    let mut subscribers: Vec<_> = (0..3).map(|_| fanout.subscribe(8)).collect();
    for round in 0..5 {
        // A burst that exactly fills every queue, then every subscriber reads it all.
        let burst: Vec<_> = (0..8).map(|n| format!("{round}-{n}")).collect();
        let reports = publish_all(&fanout, burst.clone()).await;
        assert_eq!(reports, vec![delivered(3); 8], "a queue of 8 holds 8 messages");
        for subscriber in &mut subscribers {
            for message in &burst {
                assert_eq!(&next(subscriber), message, "in the order they were published");
            }
            assert_eq!(subscriber.queue.try_recv().unwrap_err(), TryRecvError::Empty);
        }
    }
}

#[tokio::test]
async fn every_subscriber_gets_the_very_same_allocation() {
    let fanout = Arc::new(Fanout::new(Policy::Drop));
    let mut subscribers: Vec<_> = (0..3).map(|_| fanout.subscribe(4)).collect();
    assert_eq!(publish(&fanout, "shared").await, delivered(3));
    let frames: Vec<_> =
        subscribers.iter_mut().map(|subscriber| subscriber.queue.try_recv().unwrap()).collect();
    for frame in &frames {
        assert_eq!(&**frame, "shared");
        assert!(
            Arc::ptr_eq(frame, &frames[0]),
            "allocate the frame once and clone the Arc: one allocation for all, not one each"
        );
    }
}

#[tokio::test]
async fn a_subscriber_that_never_reads_costs_at_most_its_capacity() {
    const CAPACITY: usize = 4;
    let fanout = Arc::new(Fanout::new(Policy::Drop));
    let mut fast = fanout.subscribe(128);
    let mut slow = fanout.subscribe(CAPACITY); // never read until the end
    let reports = publish_all(&fanout, numbered(100)).await;
    for (n, report) in reports.iter().enumerate() {
        let expected = match n < CAPACITY {
            true => delivered(2),
            false => Report { delivered: 1, dropped: 1, kicked: 0 },
        };
        assert_eq!(*report, expected, "publish of m{n}");
    }
    assert_eq!(slow.queue.len(), CAPACITY, "a full queue holds its capacity and no more");
    for message in numbered(100) {
        assert_eq!(next(&mut fast), message, "the fast subscriber misses nothing");
    }
    for message in numbered(CAPACITY) {
        assert_eq!(next(&mut slow), message, "what did not fit was the newest");
    }
    assert_eq!(slow.queue.try_recv().unwrap_err(), TryRecvError::Empty, "still subscribed");
    assert!(!slow.kick.is_cancelled(), "`Drop` never kicks");
    assert_eq!(fanout.subscriber_count(), 2);
}

#[tokio::test]
async fn with_drop_a_slow_subscriber_that_catches_up_gets_a_stream_with_a_gap() {
    let fanout = Arc::new(Fanout::new(Policy::Drop));
    let mut slow = fanout.subscribe(2);
    let reports = publish_all(&fanout, numbered(3)).await;
    assert_eq!(reports, [delivered(1), delivered(1), Report { dropped: 1, ..Report::default() }]);
    assert_eq!((next(&mut slow), next(&mut slow)), ("m0".into(), "m1".into()));
    assert_eq!(publish(&fanout, "m3").await, delivered(1), "there is room again");
    assert_eq!(next(&mut slow), "m3", "m2 is lost: that is the price of `Drop`");
}

#[tokio::test]
async fn with_close_a_slow_subscriber_is_kicked_exactly_once_and_then_forgotten() {
    let fanout = Arc::new(Fanout::new(Policy::Close));
    let mut fast = fanout.subscribe(64);
    let mut slow = fanout.subscribe(2);
    let reports = publish_all(&fanout, numbered(10)).await;
    assert_eq!(reports[..2], [delivered(2), delivered(2)]);
    assert_eq!(reports[2], Report { delivered: 1, dropped: 0, kicked: 1 }, "m2 does not fit");
    assert_eq!(reports[3..], [delivered(1); 7], "a kicked subscriber is not counted again");
    assert_eq!(fanout.subscriber_count(), 1, "the fan-out forgets a kicked subscriber");

    // This is how the subscriber's task learns it: it waits on the token in its `select!`.
    timeout(DEADLINE, slow.kick.cancelled())
        .await
        .expect("the slow subscriber's token is cancelled");
    assert!(!fast.kick.is_cancelled(), "only the slow one is kicked");
    for message in numbered(10) {
        assert_eq!(next(&mut fast), message);
    }
    // What was queued before the kick is still there; after it, the queue ends: the fan-out
    // let go of its sending half, so nothing will ever be queued for this subscriber again.
    assert_eq!((next(&mut slow), next(&mut slow)), ("m0".into(), "m1".into()));
    assert_eq!(slow.queue.try_recv().unwrap_err(), TryRecvError::Disconnected);
}

#[tokio::test]
async fn publish_never_waits_even_when_every_queue_is_full() {
    for policy in [Policy::Drop, Policy::Close] {
        let fanout = Arc::new(Fanout::new(policy));
        let _subscribers: Vec<_> = (0..10).map(|_| fanout.subscribe(1)).collect();
        let reports = publish_all(&fanout, numbered(10_000)).await;
        assert_eq!(reports[0], delivered(10), "{policy:?}");
        let expected = match policy {
            Policy::Drop => Report { delivered: 10, dropped: 99_990, kicked: 0 },
            Policy::Close => Report { delivered: 10, dropped: 0, kicked: 10 },
        };
        assert_eq!(total(&reports), expected, "{policy:?}");
    }
}

#[tokio::test]
async fn a_subscriber_that_is_gone_counts_as_nothing_and_is_forgotten() {
    for policy in [Policy::Drop, Policy::Close] {
        let fanout = Arc::new(Fanout::new(policy));
        let _alive = fanout.subscribe(4);
        let Subscription { queue, kick } = fanout.subscribe(1);
        drop(queue); // its task has ended: no one will ever read this queue
        assert_eq!(publish(&fanout, "anyone?").await, delivered(1), "{policy:?}");
        assert_eq!(publish(&fanout, "still?").await, delivered(1), "{policy:?}");
        assert!(!kick.is_cancelled(), "{policy:?}: a subscriber that left is not kicked");
        assert_eq!(fanout.subscriber_count(), 1, "{policy:?}: a closed queue is forgotten");
    }
}
