//! What a reviewer reads besides the batches: versions, capacity per zone, volumes, PodDisruptionBudgets,
//! and, when the CLI gathered them, the API server's answers to dry-run evictions (`preflight`) and the
//! rehearsed timeline (`rehearsal`). Plain data: the planner fills the first part, the CLI the other two.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::snapshot::Resources;
use super::version::Version;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Review {
    pub versions: Versions,
    pub capacity: Capacity,
    pub volumes: VolumeCheck,
    /// PodDisruptionBudgets that guard a pod of the plan or have a finding, by `namespace/name`.
    pub pdbs: Vec<PdbReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<Preflight>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<Rehearsal>,
}

impl Review {
    /// Nothing to review: the checkpoint's copy of a plan (the review is report-only data).
    pub fn is_empty(&self) -> bool {
        *self == Review::default()
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Versions {
    /// Node versions the provider offers, sorted.
    pub offered: Vec<Version>,
    /// Kubelet versions blue's nodes run now, with their node counts.
    pub blue_kubelets: BTreeMap<String, usize>,
    /// The target kubelet against the control plane.
    pub skew: Skew,
}

/// Kubernetes' version-skew rule for kubelets: never newer than the API server, at most `max_behind`
/// minor versions older.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Skew {
    pub minors_behind: i64,
    pub max_behind: i64,
}

/// Requests of the pods that move against what green offers, zone by zone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Capacity {
    /// What one green node offers: the smallest blue node's allocatable, resource by resource.
    pub per_node: Resources,
    /// Requests of the DaemonSet pods of one node (the most any blue node has): green nodes run them too.
    pub daemonset_overhead: Resources,
    /// Green's planned size.
    pub green_nodes: u32,
    /// Green nodes needed, zone by zone (replacements may be held to their zone by spread constraints).
    pub nodes_needed: u32,
    pub zones: Vec<ZoneCapacity>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ZoneCapacity {
    pub zone: String,
    pub blue_nodes: u32,
    /// Green's size spread over its zones round-robin (0 when green has no node in this zone).
    pub green_nodes: u32,
    pub moving_pods: u32,
    /// Requests of the pods that move out of this zone's blue nodes.
    pub moving: Resources,
    /// `green_nodes` x (per node - DaemonSet overhead).
    pub green_free: Resources,
    pub nodes_needed: u32,
}

/// Claims of the pods that move, and whether their volumes can follow them to green.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeCheck {
    /// How volume placement was known.
    pub source: VolumeSource,
    pub claims: Vec<ClaimReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeSource {
    /// Read from PersistentVolumeClaims and PersistentVolumes.
    PersistentVolumes,
    /// PersistentVolumes could not be read: each claim's volume is assumed to be in its pod's node zone,
    /// and local volumes cannot be recognised.
    #[default]
    AssumedNodeZone,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaimReport {
    /// `namespace/name` of the pod.
    pub pod: String,
    pub claim: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The node a local volume is pinned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_node: Option<String>,
    /// Why the pod's replacement cannot use it on green, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PdbReport {
    /// `namespace/name`.
    pub name: String,
    /// `minAvailable 75%`, `maxUnavailable 1`, or `none`.
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_eviction_policy: Option<String>,
    pub expected: i32,
    pub desired: i32,
    pub current: i32,
    pub allowed: i32,
    /// Pods of the plan it guards (on blue nodes).
    pub pods_in_plan: usize,
    /// `zero-budget`, `overlapping`, `matches-nothing`, `sync-failed`, `at-budget`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// One line per finding, for people.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Every eviction of the plan sent as a server-side dry run (`dryRun=All`): what the API server answers
/// now, pod by pod. Each is checked alone: a dry run does not consume the budget.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Preflight {
    pub checked: usize,
    pub allowed: usize,
    /// The answers other than "allowed".
    pub refused: Vec<PreflightAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PreflightAnswer {
    pub pod: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdb: Option<String>,
    /// `budget` (429 DisruptionBudget), `refused` (403, 500 multiple PDBs), `gone` (404/409), `throttled`,
    /// `error`.
    pub answer: String,
    pub message: String,
}

/// The plan run on a simulated copy of the cluster, in virtual time, by the upgrade engine itself.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Rehearsal {
    /// How the run ended (`done`, or why it stopped).
    pub outcome: String,
    pub total_seconds: f64,
    /// Phases with their start and end, seconds from the start.
    pub phases: Vec<Span>,
    pub batches: Vec<RehearsedBatch>,
    /// The timings and simplifications of the simulated copy.
    pub assumptions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Span {
    pub what: String,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RehearsedBatch {
    /// 1-based.
    pub batch: usize,
    pub nodes: usize,
    pub pods: usize,
    pub start: f64,
    pub end: f64,
    /// Where PodDisruptionBudgets made evictions wait.
    pub waits: Vec<Wait>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Wait {
    pub pdb: String,
    /// Pods whose eviction was refused at least once.
    pub pods: usize,
    /// First refusal, seconds from the start.
    pub first: f64,
    pub message: String,
}
