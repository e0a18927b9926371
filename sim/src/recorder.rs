//! The invariant recorder: what an upgrade must never do, counted as it happens.
//!
//! - **PDB violations**: a voluntary disruption (a successful eviction, or a client DELETE of a healthy pod)
//!   after which a budget's live healthy count (Ready, not terminating, selected pods) is below its
//!   `desiredHealthy`. Evictions the budget itself allowed never count: the server approved them.
//! - **worst moment** per PDB: the lowest `currentHealthy - desiredHealthy` seen by the disruption controller
//!   (or by a violation check), counted from the first time the budget was satisfied, so a workload still
//!   starting up does not register as a dip.
//! - **lost pods**: pods removed after a client eviction/DELETE that nothing will recreate (no controller,
//!   or the controller was gone or being deleted at the time of the latest such request); finished pods are
//!   not losses, and removals nobody asked for through the API (garbage collection, kubelet) are not either.
//! - evictions (and client deletions) by the node pool of the pod's node, nodes deleted while holding
//!   workload pods, API requests by verb and resource.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use crate::policy::budget::controller_of;
use crate::policy::{covers, is_pod_healthy, is_terminal, ns_name, selector_of};
use crate::store::State;
use crate::store::kinds::POOL_LABEL;

/// Pool name recorded for a pod not bound to a node.
pub const UNSCHEDULED: &str = "<unscheduled>";
/// Pool name recorded for a node without the pool label (or already gone).
pub const NO_POOL: &str = "<none>";

#[derive(Debug, Default, Clone, Serialize)]
pub struct Recorder {
    /// API requests by `verb resource` (`create pods/eviction`), with dry-run requests counted apart.
    pub requests: BTreeMap<String, u64>,
    /// Per PDB (`namespace/name`): its worst moment and its violations.
    pub pdbs: BTreeMap<String, PdbRecord>,
    pub violations: Vec<Violation>,
    pub lost_pods: Vec<LostPod>,
    /// Successful (non-dry-run) evictions by the pool of the evicted pod's node.
    pub evictions_by_pool: BTreeMap<String, u64>,
    /// Client DELETEs of pods by the pool of the pod's node.
    pub deletions_by_pool: BTreeMap<String, u64>,
    pub nodes_deleted_with_pods: Vec<NodeDeleted>,
    /// Pods a client evicted or deleted, by UID, until they are removed.
    #[serde(skip)]
    disrupted: HashMap<String, Disrupted>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct PdbRecord {
    /// The lowest `currentHealthy - desiredHealthy` observed once the budget had been satisfied.
    pub worst: Option<Moment>,
    pub violations: u64,
    #[serde(skip)]
    armed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moment {
    pub margin: i32,
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `namespace/name` of the budget.
    pub pdb: String,
    /// `namespace/name` of the disrupted pod.
    pub pod: String,
    /// `eviction` or `delete`.
    pub cause: &'static str,
    pub healthy_after: i32,
    pub desired_healthy: i32,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostPod {
    pub pod: String,
    pub uid: String,
    /// `eviction` or `delete`.
    pub cause: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeDeleted {
    pub node: String,
    pub pool: Option<String>,
    pub workload_pods: usize,
}

#[derive(Debug, Clone)]
struct Disrupted {
    cause: &'static str,
    recreated: bool,
}

/// The counts the upgrade engine and `poolshift demo` print.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pdb_violations: u64,
    pub lost_pods: u64,
    pub evictions_by_pool: BTreeMap<String, u64>,
    pub nodes_deleted_with_pods: u64,
    pub requests: BTreeMap<String, u64>,
    pub total_requests: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "PDB violations:            {}", self.pdb_violations)?;
        writeln!(f, "lost pods:                 {}", self.lost_pods)?;
        writeln!(f, "nodes deleted with pods:   {}", self.nodes_deleted_with_pods)?;
        let by_pool: Vec<String> = self.evictions_by_pool.iter().map(|(p, n)| format!("{p}={n}")).collect();
        writeln!(f, "evictions by pool:         {}", if by_pool.is_empty() { "-".into() } else { by_pool.join(", ") })?;
        write!(f, "API requests:              {}", self.total_requests)
    }
}

impl Recorder {
    pub fn api_request(&mut self, verb: &str, resource: &str, dry_run: bool) {
        let key = if dry_run { format!("{verb} {resource} (dry-run)") } else { format!("{verb} {resource}") };
        *self.requests.entry(key).or_default() += 1;
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// A pod object was removed for good.
    pub fn pod_removed(&mut self, pod: &Arc<Pod>) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let Some(d) = self.disrupted.remove(&uid) else { return };
        if d.recreated || is_terminal(pod) {
            return;
        }
        let name = ns_name(pod.metadata.namespace.as_deref(), pod.metadata.name.as_deref());
        tracing::warn!(pod = %name, cause = d.cause, "pod lost: nothing will recreate it");
        self.lost_pods.push(LostPod { pod: name, uid, cause: d.cause });
    }

    /// A node object was removed while `workload_pods` non-DaemonSet, non-mirror, unfinished pods were bound to it.
    pub fn node_removed(&mut self, node: &str, pool: Option<&str>, workload_pods: usize) {
        if workload_pods > 0 {
            tracing::warn!(node, pool, workload_pods, "node deleted while holding workload pods");
            self.nodes_deleted_with_pods.push(NodeDeleted {
                node: node.to_string(),
                pool: pool.map(str::to_string),
                workload_pods,
            });
        }
    }

    /// The disruption controller computed a budget's healthy and desired counts.
    pub fn pdb_observed(&mut self, pdb: &str, current_healthy: i32, desired_healthy: i32, at: Timestamp) {
        let rec = self.pdbs.entry(pdb.to_string()).or_default();
        let margin = current_healthy - desired_healthy;
        if margin >= 0 {
            rec.armed = true;
        }
        if !rec.armed {
            return;
        }
        if rec.worst.as_ref().is_none_or(|w| margin < w.margin) {
            rec.worst = Some(Moment { margin, current_healthy, desired_healthy, at: at.to_string() });
        }
    }

    pub fn pdb_violations(&self) -> u64 {
        self.violations.len() as u64
    }

    /// Violations of one budget (`namespace/name`).
    pub fn violations_of(&self, pdb: &str) -> u64 {
        self.pdbs.get(pdb).map_or(0, |r| r.violations)
    }

    /// Successful evictions of pods whose node is not in `pool` (unbound pods count as outside).
    pub fn evictions_outside(&self, pool: &str) -> u64 {
        self.evictions_by_pool.iter().filter(|(p, _)| p.as_str() != pool).map(|(_, n)| n).sum()
    }

    /// Evictions and client deletions of pods whose node is not in `pool`.
    pub fn disruptions_outside(&self, pool: &str) -> u64 {
        self.evictions_outside(pool)
            + self.deletions_by_pool.iter().filter(|(p, _)| p.as_str() != pool).map(|(_, n)| n).sum::<u64>()
    }

    pub fn summary(&self) -> Summary {
        Summary {
            pdb_violations: self.pdb_violations(),
            lost_pods: self.lost_pods.len() as u64,
            evictions_by_pool: self.evictions_by_pool.clone(),
            nodes_deleted_with_pods: self.nodes_deleted_with_pods.len() as u64,
            requests: self.requests.clone(),
            total_requests: self.total_requests(),
        }
    }

    /// Everything recorded, plus the summary, as JSON (`GET /sim/v1/recorder`).
    pub fn report(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("summary".into(), serde_json::to_value(self.summary()).unwrap_or_default());
        }
        v
    }
}

/// A client DELETE of `pod` (its state before the delete) went through (not dry-run).
pub fn client_deleted_pod(st: &mut State, pod: &Pod) {
    let pool = pool_of(st, pod);
    *st.recorder.deletions_by_pool.entry(pool).or_default() += 1;
    check_violations(st, pod, "delete");
    remember(st, pod, "delete");
}

/// An eviction of `pod` (its state before the eviction) was accepted (not dry-run). `budget_allowed`: the
/// budget was checked and decremented for it.
pub fn pod_evicted(st: &mut State, pod: &Pod, budget_allowed: bool) {
    let pool = pool_of(st, pod);
    *st.recorder.evictions_by_pool.entry(pool).or_default() += 1;
    if !budget_allowed {
        check_violations(st, pod, "eviction");
    }
    remember(st, pod, "eviction");
}

fn pool_of(st: &State, pod: &Pod) -> String {
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) else {
        return UNSCHEDULED.to_string();
    };
    st.nodes
        .get("", node)
        .and_then(|n| n.metadata.labels.as_ref().and_then(|l| l.get(POOL_LABEL)).cloned())
        .unwrap_or_else(|| NO_POOL.to_string())
}

/// Will the pod's controller bring it back? Kinds the simulator does not store are assumed to.
fn recreated(st: &State, pod: &Pod) -> bool {
    let Some(ctrl) = controller_of(pod.metadata.owner_references.as_ref()) else { return false };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    fn alive<K: crate::store::Kind>(st: &State, ns: &str, name: &str, uid: &str) -> bool {
        st.get::<K>(ns, name).is_some_and(|o| {
            let m = k8s_openapi::Metadata::metadata(o.as_ref());
            m.uid.as_deref() == Some(uid) && m.deletion_timestamp.is_none()
        })
    }
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
    match ctrl.kind.as_str() {
        "ReplicaSet" => alive::<ReplicaSet>(st, ns, &ctrl.name, &ctrl.uid),
        "StatefulSet" => alive::<StatefulSet>(st, ns, &ctrl.name, &ctrl.uid),
        "DaemonSet" => alive::<DaemonSet>(st, ns, &ctrl.name, &ctrl.uid),
        "Deployment" => alive::<Deployment>(st, ns, &ctrl.name, &ctrl.uid),
        _ => true,
    }
}

fn remember(st: &mut State, pod: &Pod, cause: &'static str) {
    let Some(uid) = pod.metadata.uid.clone() else { return };
    let recreated = recreated(st, pod);
    // The latest client disruption decides (a second DELETE after the controller was removed is a loss).
    st.recorder.disrupted.insert(uid, Disrupted { cause, recreated });
    // The pod may already be gone (grace period 0): `pod_removed` ran before we knew about it.
    if st
        .get::<Pod>(pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
        .is_none_or(|p| p.metadata.uid != pod.metadata.uid)
    {
        st.recorder.pod_removed(&Arc::new(pod.clone()));
    }
}

/// After a voluntary disruption of a healthy pod: every budget covering it must still have at least
/// `desiredHealthy` live healthy pods.
fn check_violations(st: &mut State, pod: &Pod, cause: &'static str) {
    if !is_pod_healthy(pod) {
        return;
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let budgets: Vec<_> = st.pdbs.in_namespace(ns).filter(|pdb| covers(pdb, pod)).cloned().collect();
    for pdb in budgets {
        let Ok(selector) = selector_of(&pdb) else { continue };
        let desired = pdb.status.as_ref().and_then(|s| s.desired_healthy).unwrap_or(0);
        let healthy = st
            .pods
            .in_namespace(ns)
            .filter(|p| is_pod_healthy(p) && selector.matches(p.metadata.labels.as_ref()))
            .count();
        let healthy = i32::try_from(healthy).unwrap_or(i32::MAX);
        let key = ns_name(pdb.metadata.namespace.as_deref(), pdb.metadata.name.as_deref());
        let now = st.now;
        st.recorder.pdb_observed(&key, healthy, desired, now);
        if healthy < desired {
            let pod_name = ns_name(pod.metadata.namespace.as_deref(), pod.metadata.name.as_deref());
            tracing::warn!(pdb = %key, pod = %pod_name, healthy, desired, cause, "PodDisruptionBudget violated");
            st.recorder.pdbs.entry(key.clone()).or_default().violations += 1;
            st.recorder.violations.push(Violation {
                pdb: key,
                pod: pod_name,
                cause,
                healthy_after: healthy,
                desired_healthy: desired,
                at: now.to_string(),
            });
        }
    }
}
