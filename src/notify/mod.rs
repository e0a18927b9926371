//! Telling people about a run: Kubernetes Events on the nodes and the checkpoint object ([`KubeEvents`]),
//! and [`FanOut`], which hands each engine event to every reporter (the terminal, the Events, ...).

mod background;
pub mod kube_events;
pub mod message;
pub mod webhooks;

use std::sync::Arc;

pub use kube_events::{KubeEvents, RunContext};
pub use webhooks::{Subscription, Webhooks};

use crate::ports::report::{Event, Reporter};

/// Every reporter gets every event, in the order given.
pub struct FanOut(pub Vec<Arc<dyn Reporter>>);

impl Reporter for FanOut {
    fn event(&self, e: &Event) {
        for r in &self.0 {
            r.event(e);
        }
    }
}
