//! The node lifecycle controller (`pkg/controller/nodelifecycle`), the parts a node-pool upgrade meets:
//! - `doNoScheduleTaintingPass` for cordon: the taint `node.kubernetes.io/unschedulable:NoSchedule` follows
//!   `spec.unschedulable` (semantics.md §5);
//! - `MarkPodsNotReady`: pods on a node whose Ready condition is False or Unknown get `Ready=False` (a node
//!   without any Ready condition is left alone: nothing has reported on it yet).
//!
//! Node conditions themselves belong to the cloud component.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Reconciler;
use super::changes::{Changes, Gate, changed_since};
use super::nodematch::{UNSCHEDULABLE_TAINT, is_unschedulable, node_taints};
use super::pods::{is_ready, name, namespace, node_name, node_ready_status};
use crate::store::objects::Part;
use crate::store::{EventType, State};

#[derive(Debug, Default)]
pub struct NodeLifecycle {
    gate: Gate,
    /// Nodes whose Ready condition is False or Unknown.
    down: HashSet<String>,
}

impl NodeLifecycle {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Reconciler for NodeLifecycle {
    fn name(&self) -> &'static str {
        "nodelifecycle"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let seen = self.gate.seen();
        let nodes_changed = changed_since(&st.nodes, seen);
        let pods = Changes::since(&st.pods, seen);
        if !self.gate.open(st, nodes_changed || pods.any()) {
            return None;
        }
        if nodes_changed {
            sync_cordon_taints(st);
            self.down = st
                .nodes
                .iter()
                .filter(|n| matches!(node_ready_status(n), Some(s) if s != "True"))
                .filter_map(|n| n.metadata.name.clone())
                .collect();
        }
        if self.down.is_empty() {
            return self.gate.close(st, None);
        }
        let candidates: Vec<Arc<Pod>> = if pods.is_unknown() {
            st.pods.iter().cloned().collect()
        } else {
            let mut c: Vec<Arc<Pod>> = pods
                .events()
                .iter()
                .filter(|e| e.ty != EventType::Deleted)
                .filter_map(|e| st.pods.get(namespace(&e.object.metadata), name(&e.object.metadata)).cloned())
                .collect();
            if nodes_changed {
                // Only the pods of the nodes that are down can need marking.
                c.extend(self.down.iter().flat_map(|n| st.pods_on_node(n)).cloned());
            }
            c
        };
        mark_pods_not_ready(st, &self.down, candidates);
        self.gate.close(st, None)
    }
}

fn sync_cordon_taints(st: &mut State) {
    let stale: Vec<_> = st
        .nodes
        .iter()
        .filter(|n| {
            let has = node_taints(n).iter().any(|t| t.key == UNSCHEDULABLE_TAINT && t.effect == "NoSchedule");
            has != is_unschedulable(n)
        })
        .cloned()
        .collect();
    for node in stale {
        let mut next: Node = (*node).clone();
        let cordoned = is_unschedulable(&next);
        let spec = next.spec.get_or_insert_with(Default::default);
        let taints = spec.taints.get_or_insert_with(Vec::new);
        taints.retain(|t| !(t.key == UNSCHEDULABLE_TAINT && t.effect == "NoSchedule"));
        if cordoned {
            let mut t = super::nodematch::taint(UNSCHEDULABLE_TAINT, "NoSchedule");
            t.time_added = Some(Time(st.now));
            taints.push(t);
        }
        if taints.is_empty() {
            spec.taints = None;
        }
        if let Err(e) = st.update(next, Part::Main, false) {
            tracing::warn!(node = node.metadata.name.as_deref().unwrap_or(""), error = %e, "cordon taint update failed");
        }
    }
}

fn mark_pods_not_ready(st: &mut State, down: &HashSet<String>, candidates: Vec<Arc<Pod>>) {
    for pod in candidates {
        if !(node_name(&pod).is_some_and(|n| down.contains(n)) && is_ready(&pod)) {
            continue;
        }
        let mut next = (*pod).clone();
        if let Some(c) = next
            .status
            .as_mut()
            .and_then(|s| s.conditions.as_mut())
            .and_then(|c| c.iter_mut().find(|c| c.type_ == "Ready"))
        {
            c.status = "False".into();
            c.last_transition_time = Some(Time(st.now));
        }
        st.put(next, EventType::Modified);
    }
}
