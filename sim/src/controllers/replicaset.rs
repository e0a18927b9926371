//! The ReplicaSet controller (`pkg/controller/replicaset`): keeps `spec.replicas` active pods, where active
//! means not terminating and not finished, so a replacement is created as soon as a pod gets a
//! deletionTimestamp. Scale-down removes pods in upstream `ActivePodsWithRanks` order.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;

use super::Reconciler;
use super::changes::{Changes, Gate, OwnerIndex, earliest};
use super::pods::{
    DELETION_COST, annotation, availability, controller_ref, created, has_all_labels, is_active, is_ready, name,
    namespace, node_name, owner_keys, phase, pod_from_template, ready_since, uid,
};
use crate::store::State;
use crate::store::kinds::key_of;
use crate::store::objects::{DeleteOpts, Part};

#[derive(Debug)]
pub struct ReplicaSetController {
    gate: Gate,
    pods: OwnerIndex,
}

impl Default for ReplicaSetController {
    fn default() -> Self {
        Self { gate: Gate::default(), pods: OwnerIndex::new("ReplicaSet") }
    }
}

impl ReplicaSetController {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Reconciler for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let seen = self.gate.seen();
        let pods = Changes::since(&st.pods, seen);
        let sets = Changes::since(&st.replicasets, seen);
        let timer_due = self.gate.timer_due(st);
        if !self.gate.open(st, pods.any() || sets.any()) {
            return self.gate.timer();
        }
        // Only the sets whose pods or selves changed, unless a timer came or the history is too short.
        let full = timer_due || pods.is_unknown() || sets.is_unknown();
        let targets: Vec<Arc<ReplicaSet>> = if full {
            st.replicasets.iter().cloned().collect()
        } else {
            let mut keys: BTreeSet<(String, String)> = sets.touched().map(key_of).collect();
            owner_keys(pods.touched(), "ReplicaSet", &mut keys);
            keys.iter().filter_map(|(ns, n)| st.replicasets.get(ns, n).cloned()).collect()
        };
        self.pods.update(st, &pods);
        let mut timer = if full { None } else { self.gate.timer() };
        for rs in targets {
            let pods = self.pods.pods(uid(&rs.metadata));
            let acted = rs.metadata.deletion_timestamp.is_none() && manage(st, &rs, &pods);
            // After creating or deleting, the next round (triggered by those writes) computes the status.
            if !acted {
                timer = earliest(timer, update_status(st, &rs, &pods));
            }
        }
        self.gate.close(st, timer)
    }
}

/// Creates or deletes pods to reach `spec.replicas`. Returns whether it wrote anything.
fn manage(st: &mut State, rs: &ReplicaSet, pods: &[Arc<Pod>]) -> bool {
    let want = rs.spec.replicas.unwrap_or(1).max(0) as usize;
    let active: Vec<&Arc<Pod>> = pods.iter().filter(|p| is_active(p)).collect();
    let ns = namespace(&rs.metadata).to_string();
    if active.len() < want {
        let Some(template) = rs.spec.template.as_ref() else { return false };
        let owner = controller_ref("ReplicaSet", &rs.metadata);
        let mut wrote = false;
        let pod = || {
            let mut pod = pod_from_template(template, &ns, owner.clone());
            pod.metadata.generate_name = Some(format!("{}-", name(&rs.metadata)));
            pod
        };
        for _ in active.len()..want {
            match create_with_retry(st, pod, &ns) {
                Ok(()) => wrote = true,
                Err(e) => {
                    tracing::warn!(rs = name(&rs.metadata), error = %e, "creating pod failed");
                    break;
                }
            }
        }
        return wrote;
    }
    if active.len() > want {
        let mut ranked = active.clone();
        let on_node = pods_per_node(&active);
        ranked.sort_by(|a, b| deletion_order(a, b, &on_node));
        let mut wrote = false;
        for pod in ranked.into_iter().take(active.len() - want) {
            match st.delete::<Pod>(&ns, name(&pod.metadata), &DeleteOpts::default()) {
                Ok(_) => wrote = true,
                Err(e) => tracing::warn!(pod = name(&pod.metadata), error = %e, "scale-down delete failed"),
            }
        }
        return wrote;
    }
    false
}

/// A generated name can collide with an existing pod; the apiserver client would retry with a new one.
fn create_with_retry(st: &mut State, pod: impl Fn() -> Pod, ns: &str) -> Result<(), crate::error::ApiError> {
    let mut last = None;
    for _ in 0..5 {
        match st.create(pod(), Some(ns), false) {
            Ok(_) => return Ok(()),
            Err(e) if e.code == 409 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| crate::error::ApiError::internal("pod name generation failed")))
}

fn pods_per_node(active: &[&Arc<Pod>]) -> HashMap<String, usize> {
    let mut m: HashMap<String, usize> = HashMap::new();
    for p in active {
        if let Some(n) = node_name(p) {
            *m.entry(n.to_string()).or_default() += 1;
        }
    }
    m
}

/// Upstream `ActivePodsWithRanks.Less`: the pod that sorts first is deleted first.
fn deletion_order(a: &Pod, b: &Pod, on_node: &HashMap<String, usize>) -> Ordering {
    // 1. Unassigned before assigned.
    let assigned = |p: &Pod| node_name(p).is_some();
    // 2. Pending < Unknown < Running.
    let phase_rank = |p: &Pod| match phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    // 4. Lower pod-deletion-cost first.
    let cost = |p: &Pod| annotation(&p.metadata, DELETION_COST).and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
    // 5. More pods of the set on the same node first.
    let doubled = |p: &Pod| node_name(p).and_then(|n| on_node.get(n)).copied().unwrap_or(0);
    let restarts = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map_or(0, |c| c.iter().map(|c| c.restart_count).max().unwrap_or(0))
    };
    assigned(a)
        .cmp(&assigned(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        // 3. Not ready before ready.
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| cost(a).cmp(&cost(b)))
        .then_with(|| doubled(b).cmp(&doubled(a)))
        // 6. Ready for less time first (both ready).
        .then_with(|| match (ready_since(a), ready_since(b)) {
            (Some(x), Some(y)) => y.cmp(&x),
            _ => Ordering::Equal,
        })
        // 7. More restarts first.
        .then_with(|| restarts(b).cmp(&restarts(a)))
        // 8. Newer first.
        .then_with(|| created(&b.metadata).cmp(&created(&a.metadata)))
        .then_with(|| name(&a.metadata).cmp(name(&b.metadata)))
}

/// Writes `status` when it changed. Returns when a pod will become available (minReadySeconds).
fn update_status(st: &mut State, rs: &ReplicaSet, pods: &[Arc<Pod>]) -> Option<Timestamp> {
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let template = rs.spec.template.as_ref();
    let (mut replicas, mut labeled, mut ready, mut available) = (0, 0, 0, 0);
    let mut timer = None;
    for p in pods.iter().filter(|p| is_active(p)) {
        replicas += 1;
        if template.is_none_or(|t| has_all_labels(p, t)) {
            labeled += 1;
        }
        if is_ready(p) {
            ready += 1;
        }
        let (avail, at) = availability(p, min_ready, st.now);
        if avail {
            available += 1;
        }
        timer = earliest(timer, at);
    }
    let old = rs.status.clone().unwrap_or_default();
    let status = ReplicaSetStatus {
        replicas,
        fully_labeled_replicas: Some(labeled),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        observed_generation: rs.metadata.generation,
        conditions: old.conditions.clone(),
        terminating_replicas: old.terminating_replicas,
    };
    if status != old {
        let mut next = rs.clone();
        next.status = Some(status);
        if let Err(e) = st.update(next, Part::Status, false) {
            tracing::warn!(rs = name(&rs.metadata), error = %e, "status update failed");
        }
    }
    timer
}
