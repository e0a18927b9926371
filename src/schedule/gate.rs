//! [`WindowGate`]: the maintenance windows as a gatekeeper. At every stop point (between batches, before
//! blue is deleted) a run outside every window pauses (exit 3); `resume` inside the next window goes on.

use async_trait::async_trait;

use super::window::Schedule;
use crate::model::stop::StopPoint;
use crate::ports::gate::{GateInput, Gatekeeper, Verdict};

pub struct WindowGate {
    schedule: Schedule,
}

impl WindowGate {
    pub fn new(schedule: Schedule) -> Self {
        Self { schedule }
    }
}

#[async_trait]
impl Gatekeeper for WindowGate {
    fn name(&self) -> String {
        "maintenance window".into()
    }

    async fn check(&self, _at: StopPoint, input: &GateInput) -> Verdict {
        match self.schedule.closed_reason(input.now) {
            None => Verdict::Pass,
            Some(reason) => Verdict::Pause { reason: format!("{reason} (runbook: windows-and-gates)") },
        }
    }
}
