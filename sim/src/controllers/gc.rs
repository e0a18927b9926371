//! Garbage collection:
//! - the garbage collector's background cascading deletion: a ReplicaSet or pod all of whose owners (of a
//!   kind the simulator serves) are gone is deleted (pods gracefully, as the GC's DELETE is);
//! - pod GC (`pkg/controller/podgc`): pods bound to a node that no longer exists are force-deleted.
//!
//! Owners of other kinds (pods, Jobs, custom resources) are assumed to exist.

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::Reconciler;
use super::changes::{Changes, Gate};
use super::pods::{is_terminating, name, namespace, node_name};
use crate::store::objects::DeleteOpts;
use crate::store::{EventType, Kind, State};

#[derive(Debug, Default)]
pub struct GarbageCollector {
    gate: Gate,
}

impl GarbageCollector {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Reconciler for GarbageCollector {
    fn name(&self) -> &'static str {
        "gc"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let seen = self.gate.seen();
        let pods = Changes::since(&st.pods, seen);
        let sets = Changes::since(&st.replicasets, seen);
        let nodes = Changes::since(&st.nodes, seen);
        let deployments = Changes::since(&st.deployments, seen);
        let statefulsets = Changes::since(&st.statefulsets, seen);
        let daemonsets = Changes::since(&st.daemonsets, seen);
        let changed =
            pods.any() || sets.any() || nodes.any() || deployments.any() || statefulsets.any() || daemonsets.any();
        if !self.gate.open(st, changed) {
            return None;
        }
        // A workload controller that went away (or a history gap) makes garbage anywhere; a deleted node
        // orphans the pods bound to it (and those it owns, mirror pods, which are bound to it too);
        // otherwise only new or re-owned objects need a look.
        let owner_gone = deleted(&deployments)
            || deleted(&sets)
            || deleted(&statefulsets)
            || deleted(&daemonsets)
            || pods.is_unknown()
            || nodes.is_unknown();
        let rs_candidates: Vec<Arc<ReplicaSet>> =
            if owner_gone { st.replicasets.iter().cloned().collect() } else { reowned(&sets, |_, _| false) };
        let pod_candidates: Vec<Arc<Pod>> = if owner_gone {
            st.pods.iter().cloned().collect()
        } else {
            let mut c = reowned(&pods, |a, b| node_name(a) != node_name(b));
            for e in nodes.events().iter().filter(|e| e.ty == EventType::Deleted) {
                let node = e.object.metadata.name.as_deref().unwrap_or_default();
                c.extend(st.pods_on_node(node).cloned());
            }
            c
        };
        if rs_candidates.is_empty() && pod_candidates.is_empty() {
            return None;
        }
        collect(st, rs_candidates);
        let pod_candidates: Vec<Arc<Pod>> = pod_candidates
            .into_iter()
            .filter(|p| st.pods.get(namespace(&p.metadata), name(&p.metadata)).is_some())
            .collect();
        orphaned_pods(st, &pod_candidates);
        collect(st, pod_candidates);
        self.gate.close(st, None)
    }
}

fn deleted<K: Kind>(c: &Changes<K>) -> bool {
    c.is_unknown() || c.events().iter().any(|e| e.ty == EventType::Deleted)
}

/// Objects created, or whose owners or node changed, in these events (their current versions).
fn reowned<K: Kind>(c: &Changes<K>, moved: impl Fn(&K, &K) -> bool) -> Vec<Arc<K>> {
    c.events()
        .iter()
        .filter(|e| match (e.ty, &e.prev) {
            (EventType::Added, _) | (EventType::Modified, None) => true,
            (EventType::Modified, Some(prev)) => {
                prev.metadata().owner_references != e.object.metadata().owner_references || moved(prev, &e.object)
            }
            (EventType::Deleted, _) => false,
        })
        .map(|e| e.object.clone())
        .collect()
}

/// Whether the owner `r` of an object in namespace `ns` is still there (same name and UID); owners of kinds
/// not served here are assumed present.
fn owner_exists(st: &State, ns: &str, r: &OwnerReference) -> bool {
    fn same<K: Kind>(st: &State, ns: &str, r: &OwnerReference) -> bool {
        st.get::<K>(ns, &r.name).is_some_and(|o| o.metadata().uid.as_deref() == Some(r.uid.as_str()))
    }
    match (r.api_version.as_str(), r.kind.as_str()) {
        ("apps/v1", "Deployment") => same::<Deployment>(st, ns, r),
        ("apps/v1", "ReplicaSet") => same::<ReplicaSet>(st, ns, r),
        ("apps/v1", "StatefulSet") => same::<StatefulSet>(st, ns, r),
        ("apps/v1", "DaemonSet") => same::<DaemonSet>(st, ns, r),
        ("v1", "Node") => same::<Node>(st, "", r),
        _ => true,
    }
}

/// Deletes the objects among `candidates` whose owners are all gone.
fn collect<K: Kind>(st: &mut State, candidates: Vec<Arc<K>>) {
    for o in candidates {
        let m = o.metadata();
        let refs = m.owner_references.as_deref().unwrap_or(&[]);
        if m.deletion_timestamp.is_some() || refs.is_empty() || refs.iter().any(|r| owner_exists(st, namespace(m), r)) {
            continue;
        }
        if let Err(e) = st.delete::<K>(namespace(m), name(m), &DeleteOpts::default()) {
            tracing::warn!(kind = K::KIND, name = name(m), error = %e, "garbage collection failed");
        }
    }
}

/// Pods bound to nodes that no longer exist: force-deleted (grace 0; finalizers still hold them).
fn orphaned_pods(st: &mut State, candidates: &[Arc<Pod>]) {
    let force = DeleteOpts { grace_period_seconds: Some(0), ..Default::default() };
    for p in candidates {
        let missing = node_name(p).is_some_and(|n| st.nodes.get("", n).is_none());
        if !missing || (is_terminating(p) && p.metadata.deletion_grace_period_seconds == Some(0)) {
            continue;
        }
        if let Err(e) = st.delete::<Pod>(namespace(&p.metadata), name(&p.metadata), &force) {
            tracing::warn!(pod = name(&p.metadata), error = %e, "pod GC failed");
        }
    }
}
