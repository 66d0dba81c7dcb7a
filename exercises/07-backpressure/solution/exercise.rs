use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;

use crate::{Fanout, Frame, Policy, Report};

impl Fanout {
    /// Queues `message` for every subscriber, and never waits. Allocates the frame once and
    /// shares it with every subscriber. A full queue gets the fan-out's policy: `Drop` counts
    /// a drop and keeps the subscriber; `Close` cancels its kick token, counts it as kicked and
    /// forgets it. A subscriber whose receiver is gone counts as nothing and is forgotten too.
    pub fn publish(&self, message: &str) -> Report {
        // Allocate before taking the lock, and only once: each clone below bumps a count.
        let frame: Frame = Arc::from(message);
        let mut report = Report::default();
        // `retain` visits every subscriber once and lets us forget the ones we are done with.
        self.lock().retain(|subscriber| {
            // `try_send` never waits: one slow subscriber must not hold up all the others.
            match subscriber.outbound.try_send(Frame::clone(&frame)) {
                Ok(()) => {
                    report.delivered += 1;
                    true
                }
                Err(TrySendError::Full(_)) => match self.policy {
                    Policy::Drop => {
                        report.dropped += 1;
                        true
                    }
                    Policy::Close => {
                        // Its task closes the connection; we only say so, and never send again.
                        // Forgetting it drops our `Sender`, so its queue ends after what it holds.
                        subscriber.kick.cancel();
                        report.kicked += 1;
                        false
                    }
                },
                // No one will ever read this queue again.
                Err(TrySendError::Closed(_)) => false,
            }
        });
        report
    }
}
