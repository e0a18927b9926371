//! The scenario file format. Every mapping is strict: an unknown key is an error. Keys are snake_case.
//!
//! ```yaml
//! name: demo                    # required
//! seed: 42                      # RNG seed (UIDs, generated names, fault draws); default 1
//! cluster:
//!   version: 1.31.4             # control plane (kube-apiserver /version); default 1.31.4
//! timings:                      # defaults; every key optional
//!   pool_provision: 60s         # create -> node objects appear
//!   node_ready: 20s             # node object -> Ready=True
//!   pool_delete: 30s            # delete (or shrink) -> node objects removed
//!   pod_start: 2s               # bound -> Running   (pods get kubesim.io/start-delay)
//!   pod_ready: 3s               # Running -> Ready   (kubesim.io/ready-delay)
//!   pod_termination: 2s         # deletion -> gone, capped by the grace period (kubesim.io/termination-delay)
//!   pdb_sync: 1s                # PDB change -> status synced (observedGeneration)
//! pools:                        # nodes exist and are Ready when the scenario is loaded
//!   - name: blue                # DNS label, <= 40 characters
//!     version: 1.30.8           # kubelet version
//!     size: 10                  # node count (default 3)
//!     instance_type: m5.xlarge  # default sim.xlarge
//!     allocatable: {cpu: "4", memory: 16Gi, pods: 110}
//!     zones: [eu-west-1a, eu-west-1b, eu-west-1c]   # round-robin; default zone-a, zone-b, zone-c
//!     labels: {team: platform}
//!     taints: [{key: dedicated, value: infra, effect: NoSchedule}]
//!     capacity_type: on-demand  # or spot
//!     autoscaling: {enabled: true, min: 3, max: 20}
//! workloads:
//!   - kind: Deployment          # Deployment | StatefulSet | DaemonSet | Pod (bare pods)
//!     name: web                 # pods are labelled app=<name>
//!     namespace: shop           # default "default"; namespaces are created
//!     replicas: 6               # default 1 (not for DaemonSet); Pod: that many bare pods
//!     requests: {cpu: 100m, memory: 128Mi}
//!     pdb: {max_unavailable: 1} # or min_available; int or "N%"; + unhealthy_pod_eviction_policy
//!     start_delay: 2s           # overrides timings.pod_start (likewise ready_delay, termination_delay)
//!     termination_grace: 30s    # terminationGracePeriodSeconds
//!     tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]
//!     node_selector: {disk: ssd}
//!     pool: blue                # pins via nodeSelector kubesim.io/pool (an upgrade moves pods to a new pool!)
//!     topology_spread: {zone: 1, hostname: 2}   # maxSkew, DoNotSchedule
//!     empty_dir: true           # an emptyDir volume
//!     labels: {tier: front}
//!     annotations: {example.com/owner: team-a}
//!     do_not_disrupt: true      # karpenter.sh/do-not-disrupt: "true"
//!     safe_to_evict: false      # cluster-autoscaler.kubernetes.io/safe-to-evict: "false"
//!     nodes: [blue-a-0, blue-b-1]  # placement: the first pods are bound to these nodes, in order (by
//!                               # name, StatefulSets by ordinal), instead of being scheduled (not DaemonSet)
//! pdbs:                         # extra PDBs, e.g. one overlapping a workload's
//!   - {name: web-extra, namespace: shop, selector: {app: web}, min_available: 1}
//! faults: {...}                 # see crate::faults
//! generate:                     # a large generated cluster, placed directly (see scenario::generate)
//!   pools: 10
//!   nodes_per_pool: 500
//!   deployments: 5000
//!   pods_per_deployment: 30
//!   pdb_mix: {max_unavailable: 2, min_available_percent: 1, none: 1}   # weights
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::units::{Dur, IntOrPercent, Quantity};
use crate::cloud::{Allocatable, PoolSpec, TaintEffect};
use crate::faults::Faults;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub cluster: Cluster,
    #[serde(default)]
    pub timings: Timings,
    #[serde(default)]
    pub pools: Vec<PoolSpec>,
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub pdbs: Vec<PdbSpec>,
    #[serde(default)]
    pub faults: Faults,
    #[serde(default)]
    pub generate: Option<Generate>,
    /// Where the scenario came from (a path, `<builtin demo>`), for error messages.
    #[serde(skip)]
    pub origin: String,
}

fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    #[serde(default = "default_cluster_version")]
    pub version: String,
}

fn default_cluster_version() -> String {
    "1.31.4".to_string()
}

impl Default for Cluster {
    fn default() -> Self {
        Self { version: default_cluster_version() }
    }
}

/// Simulated delays. Also the components' defaults at runtime (`State.timing.delays`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timings {
    pub pool_provision: Dur,
    pub node_ready: Dur,
    pub pool_delete: Dur,
    pub pod_start: Dur,
    pub pod_ready: Dur,
    pub pod_termination: Dur,
    pub pdb_sync: Dur,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            pool_provision: Dur::secs(60),
            node_ready: Dur::secs(20),
            pool_delete: Dur::secs(30),
            pod_start: Dur::secs(2),
            pod_ready: Dur::secs(3),
            pod_termination: Dur::secs(2),
            pdb_sync: Dur::secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Pod,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default)]
    pub replicas: Option<i32>,
    #[serde(default)]
    pub requests: Requests,
    #[serde(default)]
    pub pdb: Option<WorkloadPdb>,
    #[serde(default)]
    pub start_delay: Option<Dur>,
    #[serde(default)]
    pub ready_delay: Option<Dur>,
    #[serde(default)]
    pub termination_delay: Option<Dur>,
    #[serde(default)]
    pub termination_grace: Option<Dur>,
    #[serde(default)]
    pub tolerations: Vec<TolerationSpec>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default)]
    pub topology_spread: Option<TopologySpread>,
    #[serde(default)]
    pub empty_dir: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub do_not_disrupt: bool,
    #[serde(default)]
    pub safe_to_evict: Option<bool>,
    /// Placement when the scenario is loaded: the i-th pod created (a StatefulSet's by ordinal) is bound to
    /// `nodes[i]` instead of being scheduled; pods beyond the list are scheduled. Replacements made later
    /// are always scheduled. Reproduces a real cluster's layout (a snapshot's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

fn default_namespace() -> String {
    "default".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requests {
    #[serde(default)]
    pub cpu: Option<Quantity>,
    #[serde(default)]
    pub memory: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadPdb {
    #[serde(default)]
    pub min_available: Option<IntOrPercent>,
    #[serde(default)]
    pub max_unavailable: Option<IntOrPercent>,
    #[serde(default)]
    pub unhealthy_pod_eviction_policy: Option<EvictionPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvictionPolicy {
    IfHealthyBudget,
    AlwaysAllow,
}

impl EvictionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::IfHealthyBudget => "IfHealthyBudget",
            EvictionPolicy::AlwaysAllow => "AlwaysAllow",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TolerationSpec {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub operator: Option<TolerationOperator>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub effect: Option<TaintEffect>,
    #[serde(default)]
    pub toleration_seconds: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TolerationOperator {
    Equal,
    Exists,
}

/// maxSkew per topology key, `whenUnsatisfiable: DoNotSchedule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpread {
    #[serde(default)]
    pub zone: Option<i32>,
    #[serde(default)]
    pub hostname: Option<i32>,
}

/// A PDB not tied to a workload. `selector` is `matchLabels`; `{}` selects every pod of the namespace.
/// Neither `min_available` nor `max_unavailable` is allowed (such a PDB never allows a disruption).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdbSpec {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub selector: BTreeMap<String, String>,
    #[serde(default)]
    pub min_available: Option<IntOrPercent>,
    #[serde(default)]
    pub max_unavailable: Option<IntOrPercent>,
    #[serde(default)]
    pub unhealthy_pod_eviction_policy: Option<EvictionPolicy>,
}

/// A generated cluster: `pools` pools of `nodes_per_pool` nodes and `deployments` Deployments of
/// `pods_per_deployment` pods, spread over `namespaces` namespaces, created already placed, Running and Ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    #[serde(default = "one")]
    pub pools: u32,
    pub nodes_per_pool: u32,
    /// Pools are named `<pool_prefix>-<i>`.
    #[serde(default = "default_prefix")]
    pub pool_prefix: String,
    #[serde(default = "default_pool_version")]
    pub version: String,
    #[serde(default = "default_gen_zones")]
    pub zones: Vec<String>,
    #[serde(default = "default_gen_allocatable")]
    pub allocatable: Allocatable,
    #[serde(default)]
    pub deployments: u32,
    #[serde(default)]
    pub pods_per_deployment: u32,
    #[serde(default = "default_gen_namespaces")]
    pub namespaces: u32,
    #[serde(default = "default_gen_requests")]
    pub requests: Requests,
    #[serde(default)]
    pub pdb_mix: PdbMix,
}

fn one() -> u32 {
    1
}

fn default_prefix() -> String {
    "gen".to_string()
}

fn default_pool_version() -> String {
    "1.30.8".to_string()
}

fn default_gen_zones() -> Vec<String> {
    vec!["zone-a".into(), "zone-b".into(), "zone-c".into()]
}

fn default_gen_allocatable() -> Allocatable {
    Allocatable {
        cpu: Quantity::parse("16").unwrap_or_else(|_| unreachable!("literal quantity")),
        memory: Quantity::parse("64Gi").unwrap_or_else(|_| unreachable!("literal quantity")),
        pods: 110,
    }
}

fn default_gen_namespaces() -> u32 {
    10
}

fn default_gen_requests() -> Requests {
    Requests {
        cpu: Some(Quantity::parse("100m").unwrap_or_else(|_| unreachable!("literal quantity"))),
        memory: Some(Quantity::parse("128Mi").unwrap_or_else(|_| unreachable!("literal quantity"))),
    }
}

/// Relative weights of the PDB kinds given to generated Deployments (taken in turn, deterministically):
/// `min_available` = replicas - 1, `min_available_percent` = 80%, `max_unavailable` = 1,
/// `max_unavailable_percent` = 10%, `none` = no PDB. Default: one of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PdbMix {
    pub min_available: u32,
    pub min_available_percent: u32,
    pub max_unavailable: u32,
    pub max_unavailable_percent: u32,
    pub none: u32,
}

impl Default for PdbMix {
    fn default() -> Self {
        Self { min_available: 1, min_available_percent: 1, max_unavailable: 1, max_unavailable_percent: 1, none: 1 }
    }
}
