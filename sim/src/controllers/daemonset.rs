//! The DaemonSet controller (`pkg/controller/daemon`): one pod per node that matches the template's
//! nodeSelector / required node affinity and whose NoSchedule/NoExecute taints are tolerated, with the
//! tolerations upstream adds to every daemon pod (so cordoned nodes keep and get their daemon pods). Pods are
//! bound directly (`spec.nodeName`). Pods on nodes that no longer qualify are deleted (a NoSchedule taint
//! added later does not evict a running daemon pod, as upstream), pods on vanished nodes are force-deleted.
//! RollingUpdate replaces outdated pods within maxUnavailable (default 1).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Toleration,
};

use super::Reconciler;
use super::changes::{Changes, Gate, OwnerIndex, changed_since, earliest};
use super::nodematch::{matches_node, node_taints, untolerated};
use super::pods::{
    availability, controller_ref, created, is_finished, is_ready, is_terminating, name, namespace, node_name,
    owner_keys, pod_from_template, scaled_value, template_hash, uid, with_labels,
};
use crate::store::State;
use crate::store::kinds::key_of;
use crate::store::objects::{DeleteOpts, Part};

const REVISION_LABEL: &str = "controller-revision-hash";
const GENERATION_LABEL: &str = "pod-template-generation";

#[derive(Debug)]
pub struct DaemonSetController {
    gate: Gate,
    pods: OwnerIndex,
}

impl Default for DaemonSetController {
    fn default() -> Self {
        Self { gate: Gate::default(), pods: OwnerIndex::new("DaemonSet") }
    }
}

impl DaemonSetController {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Reconciler for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let seen = self.gate.seen();
        let pods = Changes::since(&st.pods, seen);
        let sets = Changes::since(&st.daemonsets, seen);
        let nodes_changed = changed_since(&st.nodes, seen);
        let timer_due = self.gate.timer_due(st);
        if !self.gate.open(st, pods.any() || sets.any() || nodes_changed) {
            return self.gate.timer();
        }
        let full = timer_due || nodes_changed || pods.is_unknown() || sets.is_unknown();
        let targets: Vec<Arc<DaemonSet>> = if full {
            st.daemonsets.iter().cloned().collect()
        } else {
            let mut keys: BTreeSet<(String, String)> = sets.touched().map(key_of).collect();
            owner_keys(pods.touched(), "DaemonSet", &mut keys);
            keys.iter().filter_map(|(ns, n)| st.daemonsets.get(ns, n).cloned()).collect()
        };
        self.pods.update(st, &pods);
        if targets.is_empty() {
            return self.gate.close(st, if full { None } else { self.gate.timer() });
        }
        let nodes: Vec<Arc<Node>> = st.nodes.iter().cloned().collect();
        let mut timer = if full { None } else { self.gate.timer() };
        for ds in targets {
            if ds.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let pods = self.pods.pods(uid(&ds.metadata));
            timer = earliest(timer, sync(st, &ds, &pods, &nodes));
        }
        self.gate.close(st, timer)
    }
}

/// The tolerations upstream adds to daemon pods (`AddOrUpdateDaemonPodTolerations`).
pub fn daemon_tolerations(spec: Option<&PodSpec>) -> Vec<Toleration> {
    let mut tols: Vec<Toleration> = spec.and_then(|s| s.tolerations.clone()).unwrap_or_default();
    let mut auto = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.and_then(|s| s.host_network) == Some(true) {
        auto.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    for (key, effect) in auto {
        let present = tols.iter().any(|t| {
            t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some(effect)
                && t.operator.as_deref() == Some("Exists")
        });
        if !present {
            tols.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(effect.into()),
                ..Default::default()
            });
        }
    }
    tols
}

/// `(shouldRun, shouldContinueRunning)` for a node.
fn placement(spec: &PodSpec, tolerations: &[Toleration], node: &Node) -> (bool, bool) {
    if !matches_node(spec, node) {
        return (false, false);
    }
    let taints = node_taints(node);
    let run = untolerated(taints, tolerations, &["NoSchedule", "NoExecute"]).is_none();
    let keep = untolerated(taints, tolerations, &["NoExecute"]).is_none();
    (run, keep)
}

#[derive(Default)]
struct Counts {
    desired: i32,
    current: i32,
    misscheduled: i32,
    ready: i32,
    available: i32,
    updated: i32,
}

fn sync(st: &mut State, ds: &DaemonSet, pods: &[Arc<Pod>], nodes: &[Arc<Node>]) -> Option<Timestamp> {
    let ns = namespace(&ds.metadata).to_string();
    let hash = template_hash(&ds.spec.template, 0);
    let spec = ds.spec.template.spec.clone().unwrap_or_default();
    let tolerations = daemon_tolerations(Some(&spec));
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let mut by_node: BTreeMap<&str, Vec<&Arc<Pod>>> = BTreeMap::new();
    let node_names: HashSet<&str> = nodes.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
    let mut wrote = false;
    for p in pods {
        match node_name(p) {
            Some(n) if node_names.contains(n) => by_node.entry(n).or_default().push(p),
            // Unbound, or on a node that is gone: force-delete (pod GC would too).
            _ if !is_terminating(p) => {
                let grace0 = DeleteOpts { grace_period_seconds: Some(0), ..Default::default() };
                if st.delete::<Pod>(&ns, name(&p.metadata), &grace0).is_ok() {
                    wrote = true;
                }
            }
            _ => {}
        }
    }
    let mut counts = Counts::default();
    let mut timer = None;
    // Old-revision pods on nodes that should run one: candidates for the rolling update.
    let mut outdated: Vec<(&Arc<Pod>, bool)> = Vec::new();
    let mut unavailable = 0;
    for node in nodes {
        let node_name = node.metadata.name.as_deref().unwrap_or("");
        let (run, keep) = placement(&spec, &tolerations, node);
        let here = by_node.get(node_name).map(Vec::as_slice).unwrap_or(&[]);
        let terminating = here.iter().any(|p| is_terminating(p));
        let mut active: Vec<&Arc<Pod>> = Vec::new();
        for p in here.iter().filter(|p| !is_terminating(p)) {
            if is_finished(p) {
                delete(st, &ns, p);
                wrote = true;
            } else {
                active.push(p);
            }
        }
        active.sort_by_key(|p| created(&p.metadata));
        if run {
            counts.desired += 1;
            match active.first() {
                None => {
                    unavailable += 1;
                    // Wait for a terminating predecessor to go: one daemon pod per node.
                    if !terminating {
                        create_pod(st, ds, &hash, node_name, &tolerations);
                        wrote = true;
                    }
                }
                Some(first) => {
                    counts.current += 1;
                    for extra in &active[1..] {
                        delete(st, &ns, extra);
                        wrote = true;
                    }
                    if is_ready(first) {
                        counts.ready += 1;
                    }
                    let (avail, at) = availability(first, min_ready, st.now);
                    timer = earliest(timer, at);
                    if avail {
                        counts.available += 1;
                    } else {
                        unavailable += 1;
                    }
                    if pod_hash(first) == Some(hash.as_str()) {
                        counts.updated += 1;
                    } else {
                        outdated.push((first, avail));
                    }
                }
            }
        } else if !active.is_empty() {
            counts.misscheduled += 1;
            if !keep {
                for p in &active {
                    delete(st, &ns, p);
                    wrote = true;
                }
            }
        }
    }
    let on_delete = ds.spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("OnDelete");
    if !wrote && !on_delete {
        let max_unavailable = scaled_value(
            ds.spec
                .update_strategy
                .as_ref()
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.max_unavailable.as_ref()),
            counts.desired,
            true,
            1,
        )
        .max(1);
        for (p, avail) in outdated {
            if !avail {
                delete(st, &ns, p);
            } else if unavailable < max_unavailable {
                unavailable += 1;
                delete(st, &ns, p);
            }
        }
    }
    if !wrote {
        update_status(st, ds, &counts);
    }
    timer
}

fn pod_hash(p: &Pod) -> Option<&str> {
    p.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)).map(String::as_str)
}

fn delete(st: &mut State, ns: &str, p: &Pod) {
    if let Err(e) = st.delete::<Pod>(ns, name(&p.metadata), &DeleteOpts::default()) {
        tracing::warn!(pod = name(&p.metadata), error = %e, "deleting daemon pod failed");
    }
}

fn create_pod(st: &mut State, ds: &DaemonSet, hash: &str, node: &str, tolerations: &[Toleration]) {
    let ns = namespace(&ds.metadata).to_string();
    let generation = ds.metadata.generation.unwrap_or(1).to_string();
    let template = with_labels(&ds.spec.template, &[(REVISION_LABEL, hash), (GENERATION_LABEL, &generation)]);
    let mut pod = pod_from_template(&template, &ns, controller_ref("DaemonSet", &ds.metadata));
    pod.metadata.generate_name = Some(format!("{}-", name(&ds.metadata)));
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(node.to_string());
    spec.tolerations = Some(tolerations.to_vec());
    // Upstream pins daemon pods with a node-name affinity term (`ReplaceDaemonSetPodNodeNameNodeAffinity`).
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let na = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec![node.to_string()]),
            }]),
            match_expressions: None,
        }],
    });
    if let Err(e) = st.create(pod, Some(&ns), false) {
        tracing::warn!(ds = name(&ds.metadata), node, error = %e, "creating daemon pod failed");
    }
}

fn update_status(st: &mut State, ds: &DaemonSet, c: &Counts) {
    let old = ds.status.clone().unwrap_or_default();
    let status = DaemonSetStatus {
        desired_number_scheduled: c.desired,
        current_number_scheduled: c.current,
        number_misscheduled: c.misscheduled,
        number_ready: c.ready,
        number_available: Some(c.available),
        number_unavailable: Some((c.desired - c.available).max(0)),
        updated_number_scheduled: Some(c.updated),
        observed_generation: ds.metadata.generation,
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
    };
    if status == old {
        return;
    }
    let Some(current) = st.get::<DaemonSet>(namespace(&ds.metadata), name(&ds.metadata)) else { return };
    let mut next = (*current).clone();
    next.status = Some(status);
    if let Err(e) = st.update(next, Part::Status, false) {
        tracing::warn!(ds = name(&ds.metadata), error = %e, "status update failed");
    }
}
