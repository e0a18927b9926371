//! The upgrade plan: pure data, serialisable, rendered by the dry-run and executed by `upgrade`.

use poolshift_provider_api::{PoolDescription, PoolSpec};
use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::review::Review;
use super::version::Version;

/// The plan's JSON schema version (docs/plan-schema.md). 2 added `review`.
pub const PLAN_SCHEMA: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradePlan {
    pub schema: u32,
    pub cluster: String,
    pub pool: String,
    pub control_plane: Version,
    pub target: Target,
    pub blue: PoolDescription,
    pub green: PoolSpec,
    pub policy: Policy,
    /// Blue nodes at planning time, in drain order.
    pub blue_nodes: Vec<String>,
    pub batches: Vec<Batch>,
    pub findings: Vec<Finding>,
    /// Versions, capacity, volumes, budgets, preflight and rehearsal: what the dry-run report shows.
    #[serde(default)]
    pub review: Review,
}

impl UpgradePlan {
    pub fn pods(&self) -> impl Iterator<Item = &PlannedPod> {
        self.batches.iter().flat_map(|b| b.pods.iter())
    }

    pub fn blocked(&self) -> impl Iterator<Item = &PlannedPod> {
        self.pods().filter(|p| matches!(p.disposition, Disposition::Blocked { .. }))
    }

    pub fn to_evict(&self) -> usize {
        self.pods().filter(|p| p.disposition == Disposition::Evict).count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub version: Version,
    /// The policy that chose it (`latest-patch`, `next-minor`, `1.31.4`).
    pub policy: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub index: usize,
    pub nodes: Vec<String>,
    pub pods: Vec<PlannedPod>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    /// `Deployment/web`, `StatefulSet/db`, `ReplicaSet/x`, or none for a bare pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// `namespace/name` of the PDB that guards it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb: Option<String>,
    pub disposition: Disposition,
}

impl PlannedPod {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// What poolshift will do with a pod on a blue node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "reason")]
pub enum Disposition {
    /// Evicted through the Eviction API.
    Evict,
    /// Left alone: not a workload to move.
    Skip(SkipReason),
    /// Not evicted unless the operator allows it; holds its node (and blue deletion) until resolved.
    Blocked(BlockReason),
    /// Not evicted; waited for until it finishes (Job pods).
    WaitForCompletion,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    DaemonSet,
    Mirror,
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BlockReason {
    /// No controller: nothing would recreate it.
    BarePod,
    /// emptyDir data would be lost.
    EmptyDir,
    DoNotDisrupt {
        value: String,
    },
    SafeToEvictFalse,
    /// More than one PDB selects it: every eviction answers 500.
    MultiplePdbs {
        pdbs: Vec<String>,
    },
    /// Its PDB can never allow a disruption.
    ZeroBudget {
        pdb: String,
        why: String,
    },
    /// Its PDB's controller failed to compute the budget.
    PdbSyncFailed {
        pdb: String,
        message: String,
    },
}

impl std::fmt::Display for BlockReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockReason::BarePod => write!(f, "bare pod: no controller would recreate it (allow: bare_pods)"),
            BlockReason::EmptyDir => write!(f, "emptyDir volume: its data would be lost (allow: empty_dir)"),
            BlockReason::DoNotDisrupt { value } => {
                write!(f, "annotated karpenter.sh/do-not-disrupt={value} (allow: do_not_disrupt)")
            }
            BlockReason::SafeToEvictFalse => {
                write!(f, "annotated cluster-autoscaler.kubernetes.io/safe-to-evict=false (allow: safe_to_evict_false)")
            }
            BlockReason::MultiplePdbs { pdbs } => {
                write!(
                    f,
                    "selected by more than one PodDisruptionBudget ({}): the API refuses its eviction",
                    pdbs.join(", ")
                )
            }
            BlockReason::ZeroBudget { pdb, why } => write!(f, "PodDisruptionBudget {pdb} blocks every eviction: {why}"),
            BlockReason::PdbSyncFailed { pdb, message } => {
                write!(f, "PodDisruptionBudget {pdb} cannot be computed (SyncFailed): {message}")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The plan cannot complete without an operator (plan exits with the blockers code).
    Blocker,
    Risk,
    Info,
}

/// Something the reviewer should know, with the objects it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
}
