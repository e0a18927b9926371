//! The Deployment controller (`pkg/controller/deployment`): owns ReplicaSets named
//! `<deployment>-<pod-template-hash>`, rolls a template change out with maxSurge/maxUnavailable (defaults
//! 25%/25%) the way `rolling.go` does, or Recreate, trims history, and reports status with the Available and
//! Progressing conditions.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::Reconciler;
use super::changes::{Changes, Gate};
use super::pods::{
    annotation, children_of, controller_of, controller_ref, controller_uid, created, is_finished, name, namespace,
    scaled_value, template_hash, uid, with_labels,
};
use crate::store::State;
use crate::store::kinds::key_of;
use crate::store::objects::{DeleteOpts, Part};

pub const HASH_LABEL: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";

#[derive(Debug, Default)]
pub struct DeploymentController {
    gate: Gate,
}

impl DeploymentController {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Reconciler for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let seen = self.gate.seen();
        let deployments = Changes::since(&st.deployments, seen);
        let sets = Changes::since(&st.replicasets, seen);
        if !self.gate.open(st, deployments.any() || sets.any()) {
            return None;
        }
        let targets: Vec<Arc<Deployment>> = if deployments.is_unknown() || sets.is_unknown() {
            st.deployments.iter().cloned().collect()
        } else {
            let mut keys: BTreeSet<(String, String)> = deployments.touched().map(key_of).collect();
            for rs in sets.touched() {
                if let Some(r) = controller_of(&rs.metadata).filter(|r| r.kind == "Deployment") {
                    keys.insert((namespace(&rs.metadata).to_string(), r.name.clone()));
                }
            }
            keys.iter().filter_map(|(ns, n)| st.deployments.get(ns, n).cloned()).collect()
        };
        let mut owned = children_of::<ReplicaSet>(st, "Deployment", targets.iter().map(|d| &d.metadata));
        for d in targets {
            if d.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let rss = owned.remove(uid(&d.metadata)).unwrap_or_default();
            sync(st, &d, rss);
        }
        self.gate.close(st, None)
    }
}

/// One ReplicaSet and the replica count this sync wants for it.
struct Entry {
    rs: Arc<ReplicaSet>,
    replicas: i32,
}

impl Entry {
    fn available(&self) -> i32 {
        self.rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
    }
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(0)
}

/// A template without the hash label, with an empty label map meaning none, for comparisons.
fn normalized(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(m) = t.metadata.as_mut() {
        if let Some(l) = m.labels.as_mut() {
            l.remove(HASH_LABEL);
            if l.is_empty() {
                m.labels = None;
            }
        }
        if *m == ObjectMeta::default() {
            t.metadata = None;
        }
    }
    t
}

/// `(maxSurge, maxUnavailable)` resolved against the replica count (`ResolveFenceposts`).
fn fenceposts(d: &Deployment, desired: i32) -> (i32, i32) {
    let ru = d.spec.strategy.as_ref().and_then(|s| s.rolling_update.as_ref());
    let quarter = k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("25%".into());
    let surge = scaled_value(Some(ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&quarter)), desired, true, 0);
    let unavailable =
        scaled_value(Some(ru.and_then(|r| r.max_unavailable.as_ref()).unwrap_or(&quarter)), desired, false, 0);
    if surge <= 0 && unavailable <= 0 {
        return (0, 1);
    }
    (surge.max(0), unavailable.clamp(0, desired.max(0)))
}

fn sync(st: &mut State, d: &Deployment, mut rss: Vec<Arc<ReplicaSet>>) {
    rss.sort_by(|a, b| created(&a.metadata).cmp(&created(&b.metadata)).then(name(&a.metadata).cmp(name(&b.metadata))));
    let desired = d.spec.replicas.unwrap_or(1).max(0);
    let template = normalized(&d.spec.template);
    let mut entries: Vec<Entry> = rss.into_iter().map(|rs| Entry { replicas: spec_replicas(&rs), rs }).collect();
    let mut new_idx =
        entries.iter().position(|e| e.rs.spec.template.as_ref().map(normalized) == Some(template.clone()));
    let paused = d.spec.paused == Some(true);
    let recreate = d.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let (surge, unavailable) = fenceposts(d, desired);

    if !paused {
        if recreate {
            if !rollout_recreate(st, d, &mut entries, &mut new_idx, desired) {
                return;
            }
        } else {
            if new_idx.is_none() {
                let total: i32 = entries.iter().map(|e| e.replicas).sum();
                let replicas = new_replicas(desired, surge, total, 0);
                match create_new_rs(st, d, &entries, replicas) {
                    Some(rs) => {
                        entries.push(Entry { replicas, rs });
                        new_idx = Some(entries.len() - 1);
                    }
                    None => return,
                }
            } else if let Some(i) = new_idx {
                let total: i32 = entries.iter().map(|e| e.replicas).sum();
                entries[i].replicas = new_replicas(desired, surge, total, entries[i].replicas);
            }
            if let Some(i) = new_idx {
                scale_down_old(&mut entries, i, desired, unavailable);
            }
        }
        for e in &entries {
            if e.replicas != spec_replicas(&e.rs) {
                scale(st, &e.rs, e.replicas);
            }
        }
        cleanup_history(st, d, &entries, new_idx);
    }
    update_status(st, d, &entries, new_idx, desired, unavailable);
}

/// `NewRSNewReplicas` for RollingUpdate.
fn new_replicas(desired: i32, surge: i32, total: i32, current: i32) -> i32 {
    if current >= desired {
        return desired;
    }
    let max_total = desired + surge;
    if total >= max_total {
        return current;
    }
    current + (max_total - total).min(desired - current)
}

/// `reconcileOldReplicaSets`: first drop unhealthy old replicas, then scale old sets down as far as
/// availability allows.
fn scale_down_old(entries: &mut [Entry], new: usize, desired: i32, unavailable: i32) {
    let old_total: i32 = entries.iter().enumerate().filter(|(i, _)| *i != new).map(|(_, e)| e.replicas).sum();
    if old_total == 0 {
        return;
    }
    let all: i32 = entries.iter().map(|e| e.replicas).sum();
    let min_available = desired - unavailable;
    let new_unavailable = entries[new].replicas - entries[new].available();
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return;
    }
    let mut cleaned = 0;
    for (_, e) in entries.iter_mut().enumerate().filter(|(i, _)| *i != new) {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = e.replicas - e.available();
        if e.replicas == 0 || unhealthy <= 0 {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(unhealthy);
        e.replicas -= n;
        cleaned += n;
    }
    let available: i32 = entries.iter().map(Entry::available).sum();
    if available <= min_available {
        return;
    }
    let mut budget = available - min_available;
    for (_, e) in entries.iter_mut().enumerate().filter(|(i, _)| *i != new) {
        if budget <= 0 {
            break;
        }
        let n = e.replicas.min(budget);
        e.replicas -= n;
        budget -= n;
    }
}

/// Recreate: old sets to zero, wait until their pods are gone, then the new set at full size. Returns false
/// when it wrote and the rest waits for the next round.
fn rollout_recreate(
    st: &mut State,
    d: &Deployment,
    entries: &mut Vec<Entry>,
    new_idx: &mut Option<usize>,
    desired: i32,
) -> bool {
    let mut scaled = false;
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) != *new_idx && e.replicas > 0 {
            e.replicas = 0;
            scale(st, &e.rs, 0);
            scaled = true;
        }
    }
    if scaled {
        return false;
    }
    let old_uids: Vec<&str> =
        entries.iter().enumerate().filter(|(i, _)| Some(*i) != *new_idx).map(|(_, e)| uid(&e.rs.metadata)).collect();
    let old_pods = st
        .pods
        .in_namespace(namespace(&d.metadata))
        .any(|p| !is_finished(p) && controller_uid(&p.metadata, "ReplicaSet").is_some_and(|u| old_uids.contains(&u)));
    if old_pods {
        return true;
    }
    match *new_idx {
        Some(i) => entries[i].replicas = desired,
        None => match create_new_rs(st, d, entries, desired) {
            Some(rs) => {
                entries.push(Entry { replicas: desired, rs });
                *new_idx = Some(entries.len() - 1);
            }
            None => return false,
        },
    }
    true
}

fn create_new_rs(st: &mut State, d: &Deployment, entries: &[Entry], replicas: i32) -> Option<Arc<ReplicaSet>> {
    let ns = namespace(&d.metadata).to_string();
    let collisions = d.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    let hash = template_hash(&d.spec.template, collisions);
    let template = with_labels(&d.spec.template, &[(HASH_LABEL, &hash)]);
    let mut selector = d.spec.selector.clone();
    selector.match_labels.get_or_insert_with(Default::default).insert(HASH_LABEL.into(), hash.clone());
    let revision = entries
        .iter()
        .filter_map(|e| annotation(&e.rs.metadata, REVISION).and_then(|r| r.parse::<i64>().ok()))
        .max()
        .unwrap_or(0)
        + 1;
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(REVISION.to_string(), revision.to_string());
    annotations
        .insert("deployment.kubernetes.io/desired-replicas".to_string(), d.spec.replicas.unwrap_or(1).to_string());
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", name(&d.metadata))),
            namespace: Some(ns.clone()),
            labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref("Deployment", &d.metadata)]),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: d.spec.min_ready_seconds,
            selector,
            template: Some(template),
        },
        status: None,
    };
    match st.create(rs, Some(&ns), false) {
        Ok(rs) => {
            set_revision(st, d, revision);
            Some(rs)
        }
        Err(e) if e.code == 409 => {
            // A set of that name exists with another template: hash again with a bumped collision count.
            let mut next = d.clone();
            next.status.get_or_insert_with(Default::default).collision_count = Some(collisions + 1);
            if let Err(e) = st.update(next, Part::Status, false) {
                tracing::warn!(deployment = name(&d.metadata), error = %e, "collision count update failed");
            }
            None
        }
        Err(e) => {
            tracing::warn!(deployment = name(&d.metadata), error = %e, "creating replica set failed");
            None
        }
    }
}

fn set_revision(st: &mut State, d: &Deployment, revision: i64) {
    let Some(current) = st.get::<Deployment>(namespace(&d.metadata), name(&d.metadata)) else { return };
    if annotation(&current.metadata, REVISION) == Some(revision.to_string().as_str()) {
        return;
    }
    let mut next = (*current).clone();
    next.metadata.annotations.get_or_insert_with(Default::default).insert(REVISION.into(), revision.to_string());
    if let Err(e) = st.update(next, Part::Main, false) {
        tracing::warn!(deployment = name(&d.metadata), error = %e, "revision annotation update failed");
    }
}

fn scale(st: &mut State, rs: &ReplicaSet, replicas: i32) {
    let Some(current) = st.get::<ReplicaSet>(namespace(&rs.metadata), name(&rs.metadata)) else { return };
    let mut next = (*current).clone();
    next.spec.replicas = Some(replicas);
    if let Err(e) = st.update(next, Part::Main, false) {
        tracing::warn!(rs = name(&rs.metadata), error = %e, "scaling replica set failed");
    }
}

/// Deletes the oldest fully scaled-down sets beyond `revisionHistoryLimit`.
fn cleanup_history(st: &mut State, d: &Deployment, entries: &[Entry], new_idx: Option<usize>) {
    let limit = d.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
    let idle: Vec<&Entry> = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            Some(*i) != new_idx
                && e.replicas == 0
                && e.rs.status.as_ref().is_none_or(|s| s.replicas == 0)
                && e.rs.metadata.deletion_timestamp.is_none()
        })
        .map(|(_, e)| e)
        .collect();
    if idle.len() <= limit {
        return;
    }
    for e in &idle[..idle.len() - limit] {
        if let Err(err) =
            st.delete::<ReplicaSet>(namespace(&e.rs.metadata), name(&e.rs.metadata), &DeleteOpts::default())
        {
            tracing::warn!(rs = name(&e.rs.metadata), error = %err, "history cleanup failed");
        }
    }
}

fn set_condition(
    conds: &mut Vec<DeploymentCondition>,
    ty: &str,
    status: &str,
    reason: &str,
    msg: String,
    now: Timestamp,
) {
    let now = Time(now);
    if let Some(c) = conds.iter_mut().find(|c| c.type_.as_deref() == Some(ty)) {
        if c.status.as_deref() != Some(status) {
            c.last_transition_time = Some(now.clone());
        }
        if c.status.as_deref() != Some(status)
            || c.reason.as_deref() != Some(reason)
            || c.message.as_ref() != Some(&msg)
        {
            c.last_update_time = Some(now);
        }
        c.status = Some(status.into());
        c.reason = Some(reason.into());
        c.message = Some(msg);
    } else {
        conds.push(DeploymentCondition {
            type_: Some(ty.into()),
            status: Some(status.into()),
            reason: Some(reason.into()),
            message: Some(msg),
            last_transition_time: Some(now.clone()),
            last_update_time: Some(now),
        });
    }
}

fn update_status(
    st: &mut State,
    d: &Deployment,
    entries: &[Entry],
    new_idx: Option<usize>,
    desired: i32,
    unavailable: i32,
) {
    let stat = |e: &Entry| e.rs.status.clone().unwrap_or_default();
    let replicas: i32 = entries.iter().map(|e| stat(e).replicas).sum();
    let ready: i32 = entries.iter().map(|e| stat(e).ready_replicas.unwrap_or(0)).sum();
    let available: i32 = entries.iter().map(Entry::available).sum();
    let total: i32 = entries.iter().map(|e| e.replicas).sum();
    let updated = new_idx.map_or(0, |i| stat(&entries[i]).replicas);
    let old = d.status.clone().unwrap_or_default();
    let mut conds = old.conditions.clone().unwrap_or_default();
    if available >= desired - unavailable {
        set_condition(
            &mut conds,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            st.now,
        );
    } else {
        set_condition(
            &mut conds,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            st.now,
        );
    }
    if let Some(i) = new_idx {
        let rs_name = name(&entries[i].rs.metadata);
        let complete = updated == desired && replicas == desired && available == desired && total == desired;
        if complete {
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                st.now,
            );
        } else {
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs_name}\" is progressing."),
                st.now,
            );
        }
    }
    let status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: Some(conds),
        terminating_replicas: old.terminating_replicas,
    };
    if status == old {
        return;
    }
    let Some(current) = st.get::<Deployment>(namespace(&d.metadata), name(&d.metadata)) else { return };
    let mut next = (*current).clone();
    next.status = Some(status);
    if let Err(e) = st.update(next, Part::Status, false) {
        tracing::warn!(deployment = name(&d.metadata), error = %e, "status update failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_replica_set_grows_within_surge() {
        // 3 replicas, surge 1: the new set starts at 1 while the old one holds 3.
        assert_eq!(new_replicas(3, 1, 3, 0), 1);
        // Nothing more while the total is at the cap.
        assert_eq!(new_replicas(3, 1, 4, 1), 1);
        // A fresh deployment goes straight to its size.
        assert_eq!(new_replicas(3, 1, 0, 0), 3);
        // Scaled down: never above desired.
        assert_eq!(new_replicas(2, 1, 5, 5), 2);
    }
}
