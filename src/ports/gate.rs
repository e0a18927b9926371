//! Gatekeepers: what the engine asks at each stop point before it goes on. A maintenance window, a health
//! gate, a user command, the operator at a terminal: each answers pass, pause, block or roll back.

use std::sync::Arc;

use async_trait::async_trait;
use poolshift_provider_api::NodeMatcher;

use super::cluster::LiveView;
use crate::model::checkpoint::Checkpoint;
use crate::model::stop::StopPoint;

/// What a gatekeeper sees at a stop point.
#[derive(Clone)]
pub struct GateInput {
    /// The run as last saved.
    pub checkpoint: Checkpoint,
    /// The watch-fed view of the cluster.
    pub live: Arc<dyn LiveView>,
    /// How green's nodes are recognised.
    pub green: NodeMatcher,
    /// How blue's nodes are recognised.
    pub blue: NodeMatcher,
    /// The engine clock's wall time.
    pub now: jiff::Timestamp,
}

/// A gatekeeper's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Stop here; `resume` continues (exit 3): a window closed, the operator paused.
    Pause {
        reason: String,
    },
    /// Stop for an operator (exit 4): a gate failed. `output` (a command's, a check's details) is shown and
    /// recorded.
    Block {
        reason: String,
        output: Option<String>,
    },
    /// The operator chose to roll back.
    RollBack {
        reason: String,
    },
}

#[async_trait]
pub trait Gatekeeper: Send + Sync {
    /// For messages and records: "maintenance window", "gate smoke", "operator".
    fn name(&self) -> String;
    async fn check(&self, at: StopPoint, input: &GateInput) -> Verdict;
}
