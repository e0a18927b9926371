//! The upgrade plan: pure data, serialisable, rendered by the dry-run and executed by `upgrade`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use poolshift_provider_api::{PoolDescription, PoolSpec};
use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::review::Review;
use super::snapshot::PdbInfo;
use super::version::Version;

/// The plan's JSON schema version (docs/plan-schema.md). 2 added `review`; 3 added `plan_id`, `planned_at`
/// and `pdbs`.
pub const PLAN_SCHEMA: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradePlan {
    pub schema: u32,
    /// The content hash of what the plan executes (see [`super::plan_id`]); empty until stamped.
    #[serde(default)]
    pub plan_id: String,
    /// When the plan was made (RFC 3339); a reviewed plan older than the allowed age is not executed.
    #[serde(default)]
    pub planned_at: String,
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
    /// The PodDisruptionBudgets of the namespaces with pods to move, as planned: a reviewed plan is not
    /// executed once one of them changed or another one appeared.
    #[serde(default)]
    pub pdbs: Vec<PlannedPdb>,
    pub findings: Vec<Finding>,
    /// Versions, capacity, volumes, budgets, preflight and rehearsal: what the dry-run report shows.
    #[serde(default, skip_serializing_if = "Review::is_empty")]
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

    /// Pods of the plan that move: evicted, or waited for (Job pods). What progress counts as planned.
    pub fn to_move(&self) -> impl Iterator<Item = &PlannedPod> {
        self.pods().filter(|p| p.disposition.moves())
    }
}

/// A PodDisruptionBudget's rule as planned (its spec; its status changes all the time and is not kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedPdb {
    /// `namespace/name`.
    pub name: String,
    /// `None` selects nothing (policy/v1).
    pub selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_eviction_policy: Option<String>,
}

/// A budget's rule for people: `minAvailable 75%`, `maxUnavailable 1`, or `none`.
pub fn budget_rule(min_available: Option<&IntOrString>, max_unavailable: Option<&IntOrString>) -> String {
    let v = |x: &IntOrString| match x {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    match (min_available, max_unavailable) {
        (Some(m), _) => format!("minAvailable {}", v(m)),
        (None, Some(m)) => format!("maxUnavailable {}", v(m)),
        (None, None) => "none".into(),
    }
}

impl PlannedPdb {
    pub fn rule(&self) -> String {
        budget_rule(self.min_available.as_ref(), self.max_unavailable.as_ref())
    }

    pub fn of(pdb: &PdbInfo) -> Self {
        Self {
            name: pdb.key(),
            selector: pdb.selector.clone(),
            min_available: pdb.min_available.clone(),
            max_unavailable: pdb.max_unavailable.clone(),
            unhealthy_pod_eviction_policy: pdb.unhealthy_pod_eviction_policy.clone(),
        }
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

impl Disposition {
    /// The pod leaves blue during the run (evicted, or finishes by itself).
    pub fn moves(&self) -> bool {
        matches!(self, Disposition::Evict | Disposition::WaitForCompletion)
    }
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
