//! The checkpoint: the durable record of a run, saved after every step. A resumed process trusts only
//! this and the live cluster.

use poolshift_provider_api::AutoscalingSettings;
use serde::{Deserialize, Serialize};

use super::identity::{PdbKey, Subject};
use super::plan::UpgradePlan;
use super::stop::StopPoint;

pub const CHECKPOINT_SCHEMA: u32 = 1;
/// History entries kept in the checkpoint (older ones are dropped; logs keep everything).
const HISTORY_LIMIT: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub schema: u32,
    pub run_id: String,
    pub cluster: String,
    pub pool: String,
    /// Incremented by every save. A store never replaces a checkpoint with one whose `seq` is not newer.
    pub seq: u64,
    pub phase: Phase,
    pub status: RunStatus,
    /// The id of the plan this run executes (its content hash, as `plan` printed it).
    #[serde(default)]
    pub plan_id: String,
    /// The plan file a reviewer approved, when the run executes one (`upgrade --plan FILE`): its batches are
    /// compared with the cluster before each one starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed: Option<String>,
    /// The plan, without the report-only review data.
    pub plan: UpgradePlan,
    pub green: GreenState,
    /// Blue's autoscaling settings before the freeze, restored on rollback (and kept for the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling_prior: Option<AutoscalingSettings>,
    pub batches: Vec<BatchProgress>,
    /// Blue nodes left cordoned with workloads by the `quarantine` escalation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<String>,
    #[serde(default)]
    pub requests: Requests,
    /// Stop points the run has passed (every gatekeeper said pass): never checked again. A point where the
    /// run stopped is not here, so `resume` checks it again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed: Vec<StopPoint>,
    /// Pods moved so far (evicted and gone).
    pub moved: u64,
    pub started_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
}

impl Checkpoint {
    pub fn new(run_id: &str, mut plan: UpgradePlan, now: &str) -> Self {
        plan.review = Default::default();
        let batches = plan
            .batches
            .iter()
            .map(|b| BatchProgress { index: b.index, state: BatchState::Pending, ..Default::default() })
            .collect();
        Self {
            schema: CHECKPOINT_SCHEMA,
            run_id: run_id.to_string(),
            cluster: plan.cluster.clone(),
            pool: plan.pool.clone(),
            seq: 0,
            phase: Phase::Planned,
            status: RunStatus::Running,
            plan_id: plan.plan_id.clone(),
            reviewed: None,
            green: GreenState { name: plan.green.name.clone(), created: false, attempt: 0 },
            plan,
            autoscaling_prior: None,
            batches,
            quarantined: Vec::new(),
            requests: Requests::default(),
            passed: Vec::new(),
            moved: 0,
            started_at: now.to_string(),
            updated_at: now.to_string(),
            history: Vec::new(),
        }
    }

    pub fn note(&mut self, at: &str, message: impl Into<String>) {
        self.history.push(HistoryEntry { at: at.to_string(), phase: self.phase.clone(), message: message.into() });
        if self.history.len() > HISTORY_LIMIT {
            let drop = self.history.len() - HISTORY_LIMIT;
            self.history.drain(..drop);
        }
    }

    /// The nodes of batch `i`: the plan's (the checkpoint does not repeat them), or for a batch added at the
    /// cordon (blue nodes that joined after planning), the ones recorded with it.
    pub fn batch_nodes(&self, i: usize) -> &[String] {
        match self.plan.batches.get(i) {
            Some(b) => &b.nodes,
            None => self.batches.get(i).map(|b| b.added_nodes.as_slice()).unwrap_or_default(),
        }
    }

    /// Every node of every batch, in batch order.
    pub fn all_batch_nodes(&self) -> impl Iterator<Item = &String> {
        (0..self.batches.len()).flat_map(|i| self.batch_nodes(i))
    }

    /// Adds a batch of blue nodes the plan does not know (they joined after planning); its index.
    pub fn add_batch(&mut self, nodes: Vec<String>) -> usize {
        let index = self.batches.len();
        self.batches.push(BatchProgress { index, added_nodes: nodes, ..Default::default() });
        index
    }

    /// The run is over: nothing more will happen without a new `upgrade`.
    pub fn finished(&self) -> bool {
        matches!(self.status, RunStatus::Done | RunStatus::RolledBack | RunStatus::Aborted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    Planned,
    CreatingGreen,
    WaitingGreenReady,
    Validating,
    CordoningBlue,
    Draining { batch: usize, of: usize },
    PoolSoaking,
    DeletingBlue,
    Done,
    RollingBack { step: RollbackStep },
    RolledBack,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phase::Draining { batch, of } => write!(f, "Draining batch {} of {of}", batch + 1),
            Phase::RollingBack { step } => write!(f, "RollingBack ({step:?})"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackStep {
    UncordonBlue,
    CordonGreen,
    DrainGreen,
    DeleteGreen,
    RestoreAutoscaling,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum RunStatus {
    Running,
    /// Stopped at a safe point on request (exit 3).
    Paused(String),
    /// Waiting for an operator: a blocker the policy does not resolve (exit 4).
    Blocked(String),
    Done,
    RolledBack,
    /// Ended by `abort`: the cluster is left as it is.
    Aborted,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreenState {
    pub name: String,
    /// The provider accepted the create call (so a rollback must delete it).
    pub created: bool,
    /// Creates the engine sent for a green pool that did not exist: the idempotency token of green's
    /// creation is derived from the run id and this number, so retries of one attempt send the same token
    /// and a later attempt (after a failed create) another one.
    #[serde(default)]
    pub attempt: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    #[default]
    Pending,
    Draining,
    Soaking,
    Done,
    /// Escalation `quarantine`: its stuck nodes stay cordoned; the run went on.
    Quarantined,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BatchProgress {
    pub index: usize,
    /// Only for a batch the plan does not have (blue nodes that joined after planning): its nodes. A planned
    /// batch's nodes are the plan's ([`Checkpoint::batch_nodes`]); a checkpoint of schema 1 written before
    /// this repeated them here as `nodes`, which reads back the same way.
    #[serde(default, alias = "nodes", skip_serializing_if = "Vec::is_empty")]
    pub added_nodes: Vec<String>,
    pub state: BatchState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub evicted: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<Blocker>,
    /// Pods this batch moved (already counted in the run's `moved`).
    #[serde(default)]
    pub moved: u64,
    /// UIDs of the pods the batch must move, recorded before its first eviction (and on each resumed pass),
    /// so that pods moved before a crash still count; emptied when the batch's drain ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_move: Vec<String>,
    /// UIDs of replacements that landed back on cordoned blue nodes while the batch drained (not moved).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub landed_back: Vec<String>,
}

/// A pod that could not be moved, with the PDB and the server's own message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    /// The pod (`namespace/name`), or the workload (`Kind/namespace/name`) whose replacements did not come up.
    pub pod: Subject,
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb: Option<PdbKey>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Requests {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Request>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Request>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub by: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: String,
    pub phase: Phase,
    pub message: String,
}
