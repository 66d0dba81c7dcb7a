//! Exercise 07: backpressure. Write the fan-out of a message to subscribers that each have a
//! bounded queue, and what happens to one that cannot keep up. Edit `src/exercise.rs`; see the
//! README.
//!
//! Everything below is given: the types, `subscribe`, and a read-only accessor the tests use.
//! Your job is `Fanout::publish`, in `src/exercise.rs`.
//!
//! A subscriber is what chapter 07 calls a session, without the socket: the receiving half of
//! its queue, which its own task drains, and a kick signal, which that task watches. The
//! fan-out never waits for a subscriber: it queues or it applies the [`Policy`].

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// An encoded text frame. Cloning it copies a pointer and bumps a reference count, so every
/// recipient of one message shares one allocation.
pub type Frame = Arc<str>;

/// What to do with a subscriber whose queue is full: it is not reading fast enough.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Drop the message for that subscriber and count it; the subscriber stays, and gets the
    /// messages that still fit, so its stream has gaps.
    #[default]
    Drop,
    /// Give up on that subscriber: cancel its kick token, so its task closes the connection,
    /// and never send it anything again. It gets nothing rather than a gapped stream.
    Close,
}

/// How one published message fared. Every subscriber is counted at most once: delivered,
/// dropped or kicked. A subscriber whose receiver is gone counts as none of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Queued for the subscriber.
    pub delivered: usize,
    /// Not queued, because the queue was full (policy `Drop`).
    pub dropped: usize,
    /// Not queued, because the queue was full, and the subscriber is now kicked (policy `Close`).
    pub kicked: usize,
}

/// The subscriber's side: what its task owns.
#[derive(Debug)]
pub struct Subscription {
    /// The messages queued for this subscriber, oldest first. Its task drains them into its
    /// socket; when the fan-out forgets the subscriber, the queue ends after what it holds.
    pub queue: mpsc::Receiver<Frame>,
    /// Cancelled once when the fan-out kicks this subscriber; its task waits on
    /// `kick.cancelled()` next to its socket and its queue.
    pub kick: CancellationToken,
}

/// Publishes messages to every subscriber, each through its own bounded queue.
#[derive(Debug, Default)]
pub struct Fanout {
    // Only `publish`, which you write, reads the policy.
    #[allow(dead_code)]
    policy: Policy,
    subscribers: Mutex<Vec<Subscriber>>,
}

/// The fan-out's side of one subscriber.
#[derive(Debug)]
struct Subscriber {
    // Only `publish`, which you write, reads these two.
    #[allow(dead_code)]
    outbound: mpsc::Sender<Frame>,
    #[allow(dead_code)]
    kick: CancellationToken,
}

impl Fanout {
    pub fn new(policy: Policy) -> Self {
        Self { policy, subscribers: Mutex::default() }
    }

    /// Adds a subscriber whose queue holds at most `capacity` messages (at least 1): all the
    /// memory a subscriber that stops reading can make the publisher hold.
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let (outbound, queue) = mpsc::channel(capacity);
        let kick = CancellationToken::new();
        self.lock().push(Subscriber { outbound, kick: kick.clone() });
        Subscription { queue, kick }
    }

    /// The subscribers the fan-out still sends to.
    pub fn subscriber_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Subscriber>> {
        // A panic while the lock was held leaves at worst a subscriber too many or too few.
        self.subscribers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(not(feature = "solution"))]
mod exercise;
#[cfg(feature = "solution")]
#[path = "../solution/exercise.rs"]
mod exercise;
