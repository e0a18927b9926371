//! The default scheduler (`pkg/scheduler`), for pods of `default-scheduler` that are unbound and not
//! terminating.
//!
//! Filters, in upstream plugin order, each node stopping at its first failure: NodeUnschedulable (a cordoned
//! node unless the pod tolerates the cordon taint), node readiness (reported as the not-ready/unreachable taint
//! the node lifecycle controller would set), TaintToleration (NoSchedule/NoExecute), NodeAffinity (nodeSelector
//! and required affinity), NodeResourcesFit (CPU, memory, pod count against allocatable) and PodTopologySpread
//! (DoNotSchedule). The first four depend only on the pod's placement fields, so they are computed once per
//! pass for all pods that share them.
//!
//! Like upstream, nodes are evaluated from a rotating offset and the search stops after enough feasible nodes
//! (`numFeasibleNodesToFind`, adaptive percentageOfNodesToScore); the best LeastAllocated score wins, ties
//! broken with the seeded RNG. A pod that fits nowhere gets `PodScheduled=False/Unschedulable` with upstream's
//! message and a `FailedScheduling` event (only when the message changes), and is retried after a change that
//! can free room or alter placement: a node change, or a pod bound, deleted, relabelled, terminating or
//! finished.

pub mod cluster;
pub mod spread;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use rand::Rng;

use self::cluster::{Cluster, RequestCache, UsageIndex};
use self::spread::SpreadIndex;
use super::Reconciler;
use super::changes::{Changes, Gate, changed_since};
use super::nodematch::{UNSCHEDULABLE_TAINT, matches_node, node_taints, taint, tolerated, untolerated};
use super::pods::{created, is_finished, is_terminating, name, namespace, node_name, uid};
use crate::api::handlers::set_pod_condition;
use crate::store::kinds::key_of;
use crate::store::{EventType, State, WatchEvent};

pub const SCHEDULER_NAME: &str = "default-scheduler";
const MIN_FEASIBLE_NODES: usize = 100;
const UNRESOLVABLE: &str = "Preemption is not helpful for scheduling";
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

#[derive(Debug, Default)]
pub struct Scheduler {
    gate: Gate,
    /// Bumped by every change that may make an unschedulable pod schedulable.
    epoch: u64,
    /// Pod UID -> epoch of its last failed attempt, and the pod's key.
    failed: HashMap<String, (u64, String, String)>,
    next_start: usize,
    requests: RequestCache,
    usage: UsageIndex,
    /// Whether `usage` has been built.
    synced: bool,
    /// Node snapshot and static filter results, kept while the nodes do not change.
    nodes: Option<NodeCache>,
}

/// What depends only on the nodes: kept across passes until a node changes.
struct NodeCache {
    cluster: Cluster,
    /// Static filter results by the pod's placement fields.
    classes: HashMap<String, StaticFit>,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache").field("nodes", &self.cluster.nodes.len()).finish()
    }
}

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Upstream `numFeasibleNodesToFind` with the adaptive percentage (percentageOfNodesToScore unset).
pub fn feasible_nodes_to_find(nodes: usize) -> usize {
    if nodes < MIN_FEASIBLE_NODES {
        return nodes;
    }
    let pct = 50usize.saturating_sub(nodes / 125).max(5);
    (nodes * pct / 100).max(MIN_FEASIBLE_NODES)
}

fn wants_scheduling(p: &Pod) -> bool {
    let Some(spec) = p.spec.as_ref() else { return false };
    node_name(p).is_none()
        && !is_terminating(p)
        && !is_finished(p)
        && spec.scheduler_name.as_deref().unwrap_or(SCHEDULER_NAME) == SCHEDULER_NAME
        && spec.scheduling_gates.as_ref().is_none_or(Vec::is_empty)
}

/// Whether a pod event can make an unschedulable pod fit.
fn may_free(ev: &WatchEvent<Pod>) -> bool {
    let p = &ev.object;
    match (ev.ty, &ev.prev) {
        (EventType::Added, _) => node_name(p).is_some(),
        (EventType::Deleted, _) | (EventType::Modified, None) => true,
        (EventType::Modified, Some(prev)) => {
            node_name(prev) != node_name(p)
                || prev.metadata.labels != p.metadata.labels
                || is_terminating(prev) != is_terminating(p)
                || is_finished(prev) != is_finished(p)
        }
    }
}

impl Reconciler for Scheduler {
    fn name(&self) -> &'static str {
        "scheduler"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let seen = self.gate.seen();
        let pods = Changes::since(&st.pods, seen);
        let nodes_changed = changed_since(&st.nodes, seen);
        if !self.gate.open(st, pods.any() || nodes_changed) {
            return None;
        }
        if nodes_changed {
            self.nodes = None;
        }
        let full = !self.synced
            || pods.is_unknown()
            || pods.events().iter().any(|e| e.ty == EventType::Modified && e.prev.is_none());
        if full {
            self.usage.rebuild(&mut self.requests, st);
            self.synced = true;
        } else {
            for e in pods.events() {
                if let Some(prev) = &e.prev {
                    self.usage.removed(&mut self.requests, prev);
                }
                match e.ty {
                    EventType::Deleted => {
                        self.usage.removed(&mut self.requests, &e.object);
                        self.requests.forget(&e.object);
                    }
                    _ => self.usage.added(&mut self.requests, &e.object),
                }
            }
        }
        if full || nodes_changed || pods.events().iter().any(may_free) {
            self.epoch += 1;
        }
        let mut pending: Vec<Arc<Pod>> = if full {
            let pending: Vec<Arc<Pod>> = st.pods.iter().filter(|p| wants_scheduling(p)).cloned().collect();
            let live: std::collections::HashSet<&str> = pending.iter().map(|p| uid(&p.metadata)).collect();
            self.failed.retain(|u, _| live.contains(u.as_str()));
            pending
        } else {
            let mut keys: BTreeSet<(String, String)> = BTreeSet::new();
            for e in pods.events() {
                if e.ty != EventType::Deleted && wants_scheduling(&e.object) {
                    keys.insert(key_of(e.object.as_ref()));
                } else {
                    self.failed.remove(uid(&e.object.metadata));
                }
            }
            keys.extend(self.failed.values().map(|(_, ns, n)| (ns.clone(), n.clone())));
            keys.iter().filter_map(|(ns, n)| st.pods.get(ns, n)).filter(|p| wants_scheduling(p)).cloned().collect()
        };
        let epoch = self.epoch;
        pending.retain(|p| self.failed.get(uid(&p.metadata)).is_none_or(|f| f.0 != epoch));
        if pending.is_empty() {
            return None;
        }
        let priority = |p: &Pod| p.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        pending.sort_by(|a, b| {
            priority(b)
                .cmp(&priority(a))
                .then_with(|| created(&a.metadata).cmp(&created(&b.metadata)))
                .then_with(|| namespace(&a.metadata).cmp(namespace(&b.metadata)))
                .then_with(|| name(&a.metadata).cmp(name(&b.metadata)))
        });
        let mut cache = match self.nodes.take() {
            Some(mut c) => {
                c.cluster.refresh(&mut self.usage);
                c
            }
            None => {
                self.usage.take_changes();
                NodeCache { cluster: Cluster::build(st, &self.usage), classes: HashMap::new() }
            }
        };
        let mut spread = SpreadIndex::default();
        for pod in pending {
            self.schedule_one(st, &mut cache, &mut spread, &pod);
        }
        self.nodes = Some(cache);
        self.gate.close(st, None)
    }
}

/// Result of the filters that depend only on the pod's placement fields and the node.
struct StaticFit {
    /// Indices of the nodes that pass, ascending.
    ok: Vec<usize>,
    /// Failure reason -> number of nodes (all unresolvable by preemption).
    reasons: BTreeMap<String, usize>,
}

fn placement_key(spec: &PodSpec) -> String {
    let required = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref());
    serde_json::to_string(&(&spec.tolerations, &spec.node_selector, required)).unwrap_or_default()
}

fn static_fit(cluster: &Cluster, spec: &PodSpec) -> StaticFit {
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    let tolerates_cordon = tolerated(tolerations, &taint(UNSCHEDULABLE_TAINT, "NoSchedule"));
    let mut fit = StaticFit { ok: Vec::new(), reasons: BTreeMap::new() };
    for (i, ni) in cluster.nodes.iter().enumerate() {
        let reason = if ni.unschedulable && !tolerates_cordon {
            Some("node(s) were unschedulable".to_string())
        } else if let Some(key) = ni.not_ready_taint {
            Some(format!("node(s) had untolerated taint {{{key}: }}"))
        } else if let Some(t) = untolerated(node_taints(&ni.node), tolerations, &["NoSchedule", "NoExecute"]) {
            Some(format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value.as_deref().unwrap_or("")))
        } else if !matches_node(spec, &ni.node) {
            Some("node(s) didn't match Pod's node affinity/selector".to_string())
        } else {
            None
        };
        match reason {
            Some(r) => *fit.reasons.entry(r).or_default() += 1,
            None => fit.ok.push(i),
        }
    }
    fit
}

/// Upstream `FitError.Error()` followed by the preemption post-filter's message.
fn failure_message(
    nodes: usize,
    reasons: &BTreeMap<String, usize>,
    unresolvable: usize,
    resolvable: usize,
    preempt_never: bool,
) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".to_string();
    }
    let histogram = |m: &BTreeMap<String, usize>| {
        let mut v: Vec<String> = m.iter().filter(|(_, n)| **n > 0).map(|(r, n)| format!("{n} {r}")).collect();
        v.sort();
        v.join(", ")
    };
    let preemption = if preempt_never {
        "not eligible due to preemptionPolicy=Never.".to_string()
    } else {
        let mut p = BTreeMap::new();
        p.insert(UNRESOLVABLE.to_string(), unresolvable);
        p.insert(NO_VICTIMS.to_string(), resolvable);
        format!("0/{nodes} nodes are available: {}.", histogram(&p))
    };
    format!("0/{nodes} nodes are available: {}. preemption: {preemption}.", histogram(reasons))
}

impl Scheduler {
    fn schedule_one(&mut self, st: &mut State, pass: &mut NodeCache, spread: &mut SpreadIndex, pod: &Arc<Pod>) {
        let default_spec = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&default_spec);
        let req = self.requests.get(pod);
        let n = pass.cluster.nodes.len();
        let key = placement_key(spec);
        if !pass.classes.contains_key(&key) {
            let fit = static_fit(&pass.cluster, spec);
            pass.classes.insert(key.clone(), fit);
        }
        let prepared = if spread::has_constraints(pod) { spread.prepare(st, &pass.cluster, pod) } else { Vec::new() };
        let fit = &pass.classes[&key];
        let want = feasible_nodes_to_find(n);
        let start = fit.ok.partition_point(|i| *i < self.next_start);
        // Failures are counted by reason (a node can fail for several resources) and by whether preemption
        // could help (resources, skew) or not (everything else).
        let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
        let (mut unresolvable, mut resolvable) = (0usize, 0usize);
        let (mut best, mut best_score, mut ties, mut found) = (None, i64::MIN, 0u32, 0usize);
        let mut last = None;
        for k in 0..fit.ok.len() {
            let i = fit.ok[(start + k) % fit.ok.len()];
            last = Some(i);
            let ni = &pass.cluster.nodes[i];
            if !ni.fits(req) {
                for r in ni.misfit(req) {
                    *reasons.entry(r).or_default() += 1;
                }
                resolvable += 1;
                continue;
            }
            if let Some((r, hard)) = spread.check(&prepared, i) {
                *reasons.entry(r).or_default() += 1;
                if hard {
                    unresolvable += 1;
                } else {
                    resolvable += 1;
                }
                continue;
            }
            // LeastAllocated; equal scores are broken uniformly at random (reservoir sampling, as upstream).
            let score = ni.score(req);
            if score > best_score {
                (best, best_score, ties) = (Some(i), score, 1);
            } else if score == best_score {
                ties += 1;
                if st.rng.random_range(0..ties) == 0 {
                    best = Some(i);
                }
            }
            found += 1;
            if found >= want {
                break;
            }
        }
        if let Some(l) = last {
            self.next_start = (l + 1) % n.max(1);
        }
        let Some(best) = best else {
            let mut all: BTreeMap<String, usize> = fit.reasons.clone();
            unresolvable += fit.reasons.values().sum::<usize>();
            for (r, c) in reasons {
                *all.entry(r.to_string()).or_default() += c;
            }
            let never = spec.preemption_policy.as_deref() == Some("Never");
            let msg = failure_message(n, &all, unresolvable, resolvable, never);
            self.unschedulable(st, pod, &msg);
            return;
        };
        let mut next = (**pod).clone();
        next.spec.get_or_insert_with(Default::default).node_name = Some(pass.cluster.nodes[best].name.clone());
        set_pod_condition(&mut next, "PodScheduled", "True", None, None, st.now);
        let stored = st.put(next, EventType::Modified);
        pass.cluster.nodes[best].used.add(req, 1);
        spread.bound(&stored, best);
        self.failed.remove(uid(&pod.metadata));
    }

    fn unschedulable(&mut self, st: &mut State, pod: &Pod, msg: &str) {
        let (ns, pod_name) = key_of(pod);
        self.failed.insert(uid(&pod.metadata).to_string(), (self.epoch, ns, pod_name));
        let current = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
        if current.is_some_and(|c| c.status == "False" && c.message.as_deref() == Some(msg)) {
            return;
        }
        let mut next = pod.clone();
        set_pod_condition(&mut next, "PodScheduled", "False", Some("Unschedulable"), Some(msg), st.now);
        st.put(next, EventType::Modified);
        record_event(st, pod, "Warning", "FailedScheduling", msg);
    }
}

/// A core/v1 Event about a pod from the scheduler.
fn record_event(st: &mut State, pod: &Pod, ty: &str, reason: &str, msg: &str) {
    let ns = namespace(&pod.metadata).to_string();
    let now = st.now;
    let ev = Event {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", name(&pod.metadata), now.as_nanosecond() as u64)),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: pod.metadata.name.clone(),
            namespace: Some(ns.clone()),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(msg.into()),
        type_: Some(ty.into()),
        source: Some(EventSource { component: Some(SCHEDULER_NAME.into()), host: None }),
        reporting_component: Some(SCHEDULER_NAME.into()),
        reporting_instance: Some(format!("{SCHEDULER_NAME}-kubesim")),
        action: Some("Scheduling".into()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        ..Default::default()
    };
    if let Err(e) = st.create(ev, Some(&ns), false) {
        tracing::debug!(pod = name(&pod.metadata), error = %e, "recording event failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_node_count_follows_the_adaptive_percentage() {
        assert_eq!(feasible_nodes_to_find(3), 3);
        assert_eq!(feasible_nodes_to_find(99), 99);
        assert_eq!(feasible_nodes_to_find(150), 100);
        assert_eq!(feasible_nodes_to_find(1000), 420);
        assert_eq!(feasible_nodes_to_find(5000), 500);
        assert_eq!(feasible_nodes_to_find(10_000), 500);
    }

    #[test]
    fn failure_message_has_upstream_shape() {
        let mut reasons = BTreeMap::new();
        reasons.insert("node(s) were unschedulable".to_string(), 1);
        reasons.insert("Insufficient cpu".to_string(), 2);
        assert_eq!(
            failure_message(3, &reasons, 1, 2, false),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: 0/3 nodes are \
             available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.."
        );
        assert_eq!(
            failure_message(1, &reasons, 1, 0, true),
            "0/1 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: not eligible \
             due to preemptionPolicy=Never.."
        );
    }
}
