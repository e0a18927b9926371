//! [`HealthGate`]: the built-in checks as a gatekeeper. After green is Ready and after each batch it
//! evaluates [`super::health::evaluate`] until everything is right (pass), a replacement stays Pending past
//! `pending_timeout`, or `ready_timeout` runs out (block, exit 4, with what is wrong).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::health::{Problem, evaluate, touched};
use crate::model::stop::{StopKind, StopPoint};
use crate::ports::Clock;
use crate::ports::gate::{GateInput, Gatekeeper, Verdict};

/// How often the checks look again when nothing in the watched view changed.
const POLL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    /// A replacement Pending this long fails the gate.
    pub pending_timeout: Duration,
    /// How long the checks wait for green Ready and the touched workloads back to their replicas.
    pub ready_timeout: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self { pending_timeout: Duration::from_secs(300), ready_timeout: Duration::from_secs(600) }
    }
}

pub struct HealthGate {
    settings: HealthSettings,
    clock: Arc<dyn Clock>,
}

impl HealthGate {
    pub fn new(settings: HealthSettings, clock: Arc<dyn Clock>) -> Self {
        Self { settings, clock }
    }
}

#[async_trait]
impl Gatekeeper for HealthGate {
    fn name(&self) -> String {
        "gate checks".into()
    }

    async fn check(&self, at: StopPoint, input: &GateInput) -> Verdict {
        if !matches!(at.kind(), StopKind::GreenReady | StopKind::AfterBatch) {
            return Verdict::Pass;
        }
        let workloads = touched(at, input);
        let start = self.clock.elapsed();
        let mut pending_since = BTreeMap::new();
        loop {
            let waited = self.clock.elapsed().saturating_sub(start);
            let problems = evaluate(input, &workloads, &mut pending_since, waited);
            if problems.is_empty() {
                return Verdict::Pass;
            }
            let final_ = problems.iter().any(|p| p.is_final(self.settings.pending_timeout));
            if final_ || waited >= self.settings.ready_timeout {
                return block(&problems, final_, self.settings);
            }
            tokio::select! {
                changed = input.live.changed() => {
                    if let Err(refused) = changed {
                        return Verdict::Block {
                            reason: format!("gate checks cannot see the cluster: {refused}"),
                            output: None,
                        };
                    }
                }
                () = self.clock.sleep(POLL) => {}
            }
        }
    }
}

fn block(problems: &[Problem], pending: bool, s: HealthSettings) -> Verdict {
    let why = if pending {
        format!("a replacement stayed Pending for {}", crate::text_table::human(s.pending_timeout))
    } else {
        format!("not healthy after {}", crate::text_table::human(s.ready_timeout))
    };
    let first = problems.iter().find(|p| p.is_final(s.pending_timeout)).unwrap_or(&problems[0]);
    let more = match problems.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    let output = problems.iter().map(|p| format!("{p}\n")).collect();
    Verdict::Block { reason: format!("gate checks failed: {why}: {first}{more}"), output: Some(output) }
}
