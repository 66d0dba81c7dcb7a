#![allow(unused_imports)] // the imports you will need; the lint comes back once you use them

use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;

use crate::{Fanout, Frame, Policy, Report};

impl Fanout {
    /// Queues `message` for every subscriber, and never waits. Allocates the frame once and
    /// shares it with every subscriber. A full queue gets the fan-out's policy: `Drop` counts
    /// a drop and keeps the subscriber; `Close` cancels its kick token, counts it as kicked and
    /// forgets it. A subscriber whose receiver is gone counts as nothing and is forgotten too.
    pub fn publish(&self, message: &str) -> Report {
        let _ = message;
        todo!("one `Frame`, then `try_send` a clone to each subscriber, and apply the policy")
    }
}
