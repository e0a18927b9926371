//! The StatefulSet controller (`pkg/controller/statefulset`): pods `<sts>-<ordinal>` with stable names.
//! OrderedReady creates ordinal i only when all lower ordinals are Running and Ready and removes from the
//! top one at a time; Parallel acts on all at once. A pod that is deleted comes back with the same name (and
//! a new UID) only once the old object is gone. RollingUpdate replaces outdated pods from the highest ordinal
//! down, one at a time.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;

use super::Reconciler;
use super::changes::{Changes, Gate, OwnerIndex, earliest};
use super::pods::{
    availability, controller_ref, is_finished, is_ready, is_terminating, name, namespace, owner_keys, phase,
    pod_from_template, template_hash, uid, with_labels,
};
use crate::store::kinds::key_of;
use crate::store::objects::{DeleteOpts, Part};
use crate::store::{EventType, State};

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
pub const REVISION_LABEL: &str = "controller-revision-hash";

#[derive(Debug)]
pub struct StatefulSetController {
    gate: Gate,
    pods: OwnerIndex,
}

impl Default for StatefulSetController {
    fn default() -> Self {
        Self { gate: Gate::default(), pods: OwnerIndex::new("StatefulSet") }
    }
}

impl StatefulSetController {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Reconciler for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let seen = self.gate.seen();
        let pods = Changes::since(&st.pods, seen);
        let sets = Changes::since(&st.statefulsets, seen);
        let timer_due = self.gate.timer_due(st);
        if !self.gate.open(st, pods.any() || sets.any()) {
            return self.gate.timer();
        }
        let full = timer_due || pods.is_unknown() || sets.is_unknown();
        let targets: Vec<Arc<StatefulSet>> = if full {
            st.statefulsets.iter().cloned().collect()
        } else {
            let mut keys: BTreeSet<(String, String)> = sets.touched().map(key_of).collect();
            owner_keys(pods.touched(), "StatefulSet", &mut keys);
            // A pod of a member's name that goes away (whoever owned it) may unblock that member.
            for p in pods.events().iter().filter(|e| e.ty == EventType::Deleted).map(|e| &e.object) {
                if let Some((set, _)) = name(&p.metadata).rsplit_once('-') {
                    keys.insert((namespace(&p.metadata).to_string(), set.to_string()));
                }
            }
            keys.iter().filter_map(|(ns, n)| st.statefulsets.get(ns, n).cloned()).collect()
        };
        self.pods.update(st, &pods);
        let mut timer = if full { None } else { self.gate.timer() };
        for sts in targets {
            let pods = self.pods.pods(uid(&sts.metadata));
            let acted = sts.metadata.deletion_timestamp.is_none() && sync(st, &sts, &pods);
            if !acted {
                timer = earliest(timer, update_status(st, &sts, &pods));
            }
        }
        self.gate.close(st, timer)
    }
}

fn ordinal(sts_name: &str, pod: &Pod) -> Option<i32> {
    name(&pod.metadata).strip_prefix(sts_name)?.strip_prefix('-')?.parse().ok()
}

fn running_and_ready(p: &Pod) -> bool {
    phase(p) == "Running" && is_ready(p)
}

fn revision(sts: &StatefulSet) -> String {
    format!("{}-{}", name(&sts.metadata), template_hash(&sts.spec.template, 0))
}

fn pod_revision(p: &Pod) -> Option<&str> {
    p.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)).map(String::as_str)
}

/// One pass of `updateStatefulSet`. Returns whether it wrote.
fn sync(st: &mut State, sts: &StatefulSet, pods: &[Arc<Pod>]) -> bool {
    let sts_name = name(&sts.metadata).to_string();
    let ns = namespace(&sts.metadata).to_string();
    let replicas = sts.spec.replicas.unwrap_or(1).max(0);
    let ordered = sts.spec.pod_management_policy.as_deref() != Some("Parallel");
    let by_ordinal: HashMap<i32, &Arc<Pod>> = pods.iter().filter_map(|p| Some((ordinal(&sts_name, p)?, p))).collect();
    let rev = revision(sts);
    let mut wrote = false;

    for i in 0..replicas {
        let pod_name = format!("{sts_name}-{i}");
        let Some(pod) = by_ordinal.get(&i) else {
            // Any object of that name (the old pod still terminating, a stranger) blocks the creation.
            if st.pods.get(&ns, &pod_name).is_some() {
                if ordered {
                    return wrote;
                }
                continue;
            }
            create_pod(st, sts, i, &rev);
            wrote = true;
            if ordered {
                return wrote;
            }
            continue;
        };
        if is_terminating(pod) {
            if ordered {
                return wrote;
            }
            continue;
        }
        if is_finished(pod) {
            // A failed (or completed) member is deleted and recreated.
            delete(st, &ns, &pod_name);
            wrote = true;
            if ordered {
                return wrote;
            }
            continue;
        }
        if ordered && !running_and_ready(pod) {
            return wrote;
        }
    }

    // Condemned pods: ordinals at or above replicas, highest first.
    let mut condemned: Vec<(i32, &Arc<Pod>)> =
        by_ordinal.iter().filter(|(i, _)| **i >= replicas).map(|(i, p)| (*i, *p)).collect();
    condemned.sort_by_key(|c| std::cmp::Reverse(c.0));
    if ordered {
        if condemned.iter().any(|(_, p)| is_terminating(p)) {
            return wrote;
        }
        if let Some((_, p)) = condemned.first() {
            delete(st, &ns, name(&p.metadata));
            return true;
        }
    } else {
        for (_, p) in condemned.iter().filter(|(_, p)| !is_terminating(p)) {
            delete(st, &ns, name(&p.metadata));
            wrote = true;
        }
    }

    // RollingUpdate: replace the highest outdated pod at or above the partition once everything is healthy.
    let strategy = sts.spec.update_strategy.as_ref();
    if strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete") || wrote {
        return wrote;
    }
    let partition = strategy.and_then(|s| s.rolling_update.as_ref()).and_then(|r| r.partition).unwrap_or(0);
    let members: Vec<&Arc<Pod>> = (0..replicas).filter_map(|i| by_ordinal.get(&i).copied()).collect();
    let healthy =
        members.len() == replicas as usize && members.iter().all(|p| !is_terminating(p) && running_and_ready(p));
    if !healthy {
        return wrote;
    }
    if let Some(p) =
        (partition..replicas).rev().filter_map(|i| by_ordinal.get(&i)).find(|p| pod_revision(p) != Some(&rev))
    {
        delete(st, &ns, name(&p.metadata));
        wrote = true;
    }
    wrote
}

fn create_pod(st: &mut State, sts: &StatefulSet, i: i32, rev: &str) {
    let ns = namespace(&sts.metadata).to_string();
    let pod_name = format!("{}-{i}", name(&sts.metadata));
    let index = i.to_string();
    let template = with_labels(
        &sts.spec.template,
        &[(POD_NAME_LABEL, &pod_name), (POD_INDEX_LABEL, &index), (REVISION_LABEL, rev)],
    );
    let mut pod = pod_from_template(&template, &ns, controller_ref("StatefulSet", &sts.metadata));
    pod.metadata.name = Some(pod_name.clone());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(pod_name.clone());
    if let Some(svc) = sts.spec.service_name.as_deref().filter(|s| !s.is_empty()) {
        spec.subdomain = Some(svc.to_string());
    }
    if let Err(e) = st.create(pod, Some(&ns), false) {
        tracing::warn!(pod = pod_name, error = %e, "creating stateful pod failed");
    }
}

fn delete(st: &mut State, ns: &str, pod: &str) {
    if let Err(e) = st.delete::<Pod>(ns, pod, &DeleteOpts::default()) {
        tracing::warn!(pod, error = %e, "deleting stateful pod failed");
    }
}

fn update_status(st: &mut State, sts: &StatefulSet, pods: &[Arc<Pod>]) -> Option<Timestamp> {
    let min_ready = sts.spec.min_ready_seconds.unwrap_or(0);
    let rev = revision(sts);
    let old = sts.status.clone().unwrap_or_default();
    let current_rev = old.current_revision.clone().unwrap_or_else(|| rev.clone());
    let (mut replicas, mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0, 0);
    let mut timer = None;
    for p in pods.iter().filter(|p| !is_finished(p)) {
        replicas += 1;
        if running_and_ready(p) {
            ready += 1;
            let (avail, at) = availability(p, min_ready, st.now);
            if avail {
                available += 1;
            }
            timer = earliest(timer, at);
        }
        if !is_terminating(p) && pod_revision(p) == Some(current_rev.as_str()) {
            current += 1;
        }
        if !is_terminating(p) && pod_revision(p) == Some(rev.as_str()) {
            updated += 1;
        }
    }
    let want = sts.spec.replicas.unwrap_or(1).max(0);
    // The rollout is complete when every replica runs the update revision.
    let (current_rev, current) =
        if updated == want && ready == want { (rev.clone(), updated) } else { (current_rev, current) };
    let status = StatefulSetStatus {
        observed_generation: sts.metadata.generation,
        replicas,
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        current_replicas: Some(current),
        updated_replicas: Some(updated),
        current_revision: Some(current_rev),
        update_revision: Some(rev),
        collision_count: Some(old.collision_count.unwrap_or(0)),
        conditions: old.conditions.clone(),
    };
    if status != old {
        let mut next = sts.clone();
        next.status = Some(status);
        if let Err(e) = st.update(next, Part::Status, false) {
            tracing::warn!(sts = name(&sts.metadata), error = %e, "status update failed");
        }
    }
    timer
}
