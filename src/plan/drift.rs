//! Drift: how the cluster and the provider now differ from a reviewed plan, and whether that matters.
//!
//! `upgrade --plan FILE` executes the plan a reviewer approved. Before it starts, and before each batch, the
//! plan is compared with what is there now. *Benign* changes proceed and are reported: a pod replaced by its
//! controller, a replica count that changed while every pod still moves, a blocker that went away. *Material*
//! ones refuse: blue nodes added or gone, a PodDisruptionBudget added, removed or changed, a pod whose
//! disposition becomes blocked, another target version or green spec, another policy, a plan too old.
//!
//! Pure: the callers gather what is there now (a fresh plan from a snapshot, or the live view's pods and
//! budgets) and these functions compare.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::Serialize;

use super::classify::classify;
use super::pdb_index::PdbIndex;
use crate::model::identity::PdbKey;
use crate::model::plan::{Disposition, PlannedPdb, PlannedPod, UpgradePlan};
use crate::model::policy::{Allow, Policy};
use crate::model::snapshot::{PdbInfo, PodInfo};

/// What changed, and whether it stops the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// For people: names the objects and the before/after values.
    pub detail: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    // Material.
    PlanTooOld,
    ControlPlane,
    Target,
    GreenSpec,
    Policy,
    BlueVersion,
    BlueNodeAdded,
    BlueNodeGone,
    PdbAdded,
    PdbRemoved,
    PdbChanged,
    PodBlocked,
    // Benign.
    PodReplaced,
    PodGone,
    PodAdded,
    PodUnblocked,
    BlueSettings,
}

impl ChangeKind {
    pub fn material(self) -> bool {
        !matches!(
            self,
            ChangeKind::PodReplaced
                | ChangeKind::PodGone
                | ChangeKind::PodAdded
                | ChangeKind::PodUnblocked
                | ChangeKind::BlueSettings
        )
    }
}

/// The differences found, material and benign, each sorted as found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub material: Vec<Change>,
    pub benign: Vec<Change>,
}

impl Drift {
    fn push(&mut self, kind: ChangeKind, detail: String) {
        let change = Change { kind, detail };
        if kind.material() { self.material.push(change) } else { self.benign.push(change) }
    }

    pub fn is_material(&self) -> bool {
        !self.material.is_empty()
    }

    /// One line per change, material ones first, each prefixed with `prefix`.
    pub fn lines(&self, prefix: &str) -> String {
        let mut out = String::new();
        for c in &self.material {
            out.push_str(&format!("{prefix}refuses: {c}\n"));
        }
        for c in &self.benign {
            out.push_str(&format!("{prefix}proceeds: {c}\n"));
        }
        out
    }
}

/// What is there now, in the plan's terms: blue's nodes, the pods on the nodes compared (classified as the
/// planner would), and the budgets of the namespaces compared.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub blue_nodes: BTreeSet<String>,
    pub pods: Vec<PlannedPod>,
    pub pdbs: Vec<PlannedPdb>,
}

impl Observed {
    /// From a fresh plan of the cluster now, with every budget of the snapshot (filtered when compared).
    pub fn from_plan(fresh: &UpgradePlan, all_pdbs: &[PdbInfo]) -> Self {
        Self {
            blue_nodes: fresh.blue_nodes.iter().cloned().collect(),
            pods: fresh.pods().cloned().collect(),
            pdbs: all_pdbs.iter().map(PlannedPdb::of).collect(),
        }
    }

    /// From the live view: `blue_nodes` carry blue's label now; `pods` are the pods on the nodes compared
    /// (terminating ones are left out, as the planner does); `pdbs` the budgets of their namespaces.
    pub fn from_live(blue_nodes: BTreeSet<String>, pods: &[&PodInfo], pdbs: &[PdbInfo], allow: &Allow) -> Self {
        let index = PdbIndex::new(pdbs);
        let pods = pods
            .iter()
            .filter(|p| !p.terminating)
            .map(|pod| {
                let matching = index.matching(pod);
                PlannedPod {
                    namespace: pod.namespace.clone(),
                    name: pod.name.clone(),
                    uid: pod.uid.clone(),
                    node: pod.node.clone().unwrap_or_default(),
                    workload: pod.workload.clone(),
                    pdb: matching.first().map(|p| p.key()),
                    disposition: classify(pod, &matching, allow),
                }
            })
            .collect();
        Self { blue_nodes, pods, pdbs: pdbs.iter().map(PlannedPdb::of).collect() }
    }
}

/// What the check before the start needs besides the two plans.
pub struct StartCheck<'a> {
    /// The pool's policy in the configuration now.
    pub policy_now: &'a Policy,
    pub now: jiff::Timestamp,
    /// A plan older than this is refused.
    pub max_age: Duration,
}

/// Before the start: `reviewed` against `fresh`, the plan the cluster and provider give now (made with the
/// configuration's target and policy), and `observed` from the same snapshot.
pub fn before_start(reviewed: &UpgradePlan, fresh: &UpgradePlan, observed: &Observed, check: &StartCheck) -> Drift {
    let mut drift = Drift::default();
    match reviewed.planned_at.parse::<jiff::Timestamp>() {
        Ok(at) => {
            let age = check.now.duration_since(at);
            let max = jiff::SignedDuration::try_from(check.max_age).unwrap_or(jiff::SignedDuration::MAX);
            if age > max {
                drift.push(
                    ChangeKind::PlanTooOld,
                    format!(
                        "the plan was made at {at}, {} ago; plans older than {} are not executed (--max-plan-age)",
                        crate::text_table::human(age.unsigned_abs()),
                        crate::text_table::human(check.max_age)
                    ),
                );
            }
        }
        Err(_) => drift.push(
            ChangeKind::PlanTooOld,
            format!("the plan's planned_at {:?} is not a time: its age cannot be checked", reviewed.planned_at),
        ),
    }
    if fresh.control_plane != reviewed.control_plane {
        drift.push(
            ChangeKind::ControlPlane,
            format!(
                "the control plane is at {} now; the plan was made at {}",
                fresh.control_plane, reviewed.control_plane
            ),
        );
    }
    if fresh.blue.version != reviewed.blue.version {
        drift.push(
            ChangeKind::BlueVersion,
            format!(
                "pool {} is at {} now; the plan upgrades it from {}",
                reviewed.pool, fresh.blue.version, reviewed.blue.version
            ),
        );
    } else {
        let changed = changed_fields(&reviewed.blue, &fresh.blue);
        if !changed.is_empty() {
            drift.push(
                ChangeKind::BlueSettings,
                format!("pool {}'s settings changed at the provider: {}", reviewed.pool, changed.join("; ")),
            );
        }
    }
    if fresh.target.version != reviewed.target.version {
        drift.push(
            ChangeKind::Target,
            format!(
                "the target is {} now ({}: {}); the plan targets {}",
                fresh.target.version, fresh.target.policy, fresh.target.reason, reviewed.target.version
            ),
        );
    } else {
        let changed = changed_fields(&reviewed.green, &fresh.green);
        if !changed.is_empty() {
            drift.push(
                ChangeKind::GreenSpec,
                format!("green pool {}'s spec differs: {}", reviewed.green.name, changed.join("; ")),
            );
        }
    }
    let normalise = |p: &Policy| Policy { force_allowed: false, ..p.clone() };
    let changed = changed_fields(&normalise(&reviewed.policy), &normalise(check.policy_now));
    if !changed.is_empty() {
        drift.push(
            ChangeKind::Policy,
            format!(
                "pool {}'s policy in the configuration differs from the plan's: {}",
                reviewed.pool,
                changed.join("; ")
            ),
        );
    }
    let all: BTreeSet<&str> = reviewed.blue_nodes.iter().map(String::as_str).collect();
    compare_cluster(&mut drift, reviewed, &all, &all, observed);
    drift
}

/// Before batch `batch` (0-based): its nodes and every later batch's still there, no blue node added, the
/// batch's pods and their budgets as planned. `observed` holds the live pods of the batch's nodes.
pub fn before_batch(reviewed: &UpgradePlan, batch: usize, observed: &Observed) -> Drift {
    let mut drift = Drift::default();
    let remaining: BTreeSet<&str> =
        reviewed.batches.iter().skip(batch).flat_map(|b| b.nodes.iter().map(String::as_str)).collect();
    let this: BTreeSet<&str> =
        reviewed.batches.get(batch).map(|b| b.nodes.iter().map(String::as_str).collect()).unwrap_or_default();
    compare_cluster(&mut drift, reviewed, &remaining, &this, observed);
    drift
}

/// Nodes, pods and budgets. The nodes of `keep` must still be there; the pods of `compare` are compared.
fn compare_cluster(
    drift: &mut Drift,
    reviewed: &UpgradePlan,
    keep: &BTreeSet<&str>,
    compare: &BTreeSet<&str>,
    observed: &Observed,
) {
    let planned: BTreeSet<&str> = reviewed.blue_nodes.iter().map(String::as_str).collect();
    for n in observed.blue_nodes.iter().filter(|n| !planned.contains(n.as_str())) {
        drift.push(ChangeKind::BlueNodeAdded, format!("blue node {n} was added after the plan was made"));
    }
    for n in keep.iter().filter(|n| !observed.blue_nodes.contains(**n)) {
        drift.push(ChangeKind::BlueNodeGone, format!("blue node {n} of the plan is gone"));
    }
    let compared: BTreeSet<&str> = compare.iter().copied().filter(|n| observed.blue_nodes.contains(*n)).collect();
    let before: Vec<&PlannedPod> = reviewed.pods().filter(|p| compared.contains(p.node.as_str())).collect();
    let after: Vec<&PlannedPod> = observed.pods.iter().filter(|p| compared.contains(p.node.as_str())).collect();
    compare_pods(drift, &before, &after);

    let namespaces: BTreeSet<&str> = before
        .iter()
        .chain(after.iter())
        .filter(|p| !matches!(p.disposition, Disposition::Skip(_)))
        .map(|p| p.namespace.as_str())
        .collect();
    let in_scope = |name: &PdbKey| namespaces.contains(name.namespace.as_str());
    let was: BTreeMap<&PdbKey, &PlannedPdb> =
        reviewed.pdbs.iter().filter(|p| in_scope(&p.name)).map(|p| (&p.name, p)).collect();
    let now: BTreeMap<&PdbKey, &PlannedPdb> =
        observed.pdbs.iter().filter(|p| in_scope(&p.name)).map(|p| (&p.name, p)).collect();
    for (name, pdb) in &now {
        match was.get(name) {
            None => drift.push(ChangeKind::PdbAdded, format!("PodDisruptionBudget {name} was added ({})", pdb.rule())),
            Some(old) if old != pdb => {
                let changed = changed_fields(*old, *pdb);
                drift.push(
                    ChangeKind::PdbChanged,
                    format!("PodDisruptionBudget {name} changed: {}", changed.join("; ")),
                );
            }
            Some(_) => {}
        }
    }
    for name in was.keys().filter(|n| !now.contains_key(*n)) {
        drift.push(ChangeKind::PdbRemoved, format!("PodDisruptionBudget {name} was removed"));
    }
}

/// Pods matched by UID; a pod gone and a new pod of the same workload on the same node is a replacement.
fn compare_pods(drift: &mut Drift, before: &[&PlannedPod], after: &[&PlannedPod]) {
    let by_uid: HashMap<&str, &PlannedPod> = after.iter().map(|p| (p.uid.as_str(), *p)).collect();
    let known: BTreeSet<&str> = before.iter().map(|p| p.uid.as_str()).collect();
    let mut new: Vec<&PlannedPod> = after.iter().filter(|p| !known.contains(p.uid.as_str())).copied().collect();
    for old in before {
        match by_uid.get(old.uid.as_str()) {
            Some(now) => disposition_change(drift, old, now),
            None => {
                let same = |p: &&PlannedPod| p.node == old.node && p.workload.is_some() && p.workload == old.workload;
                match new.iter().position(same) {
                    Some(i) => {
                        let now = new.remove(i);
                        drift.push(
                            ChangeKind::PodReplaced,
                            format!(
                                "pod {} was replaced by {} ({}, node {})",
                                old.key(),
                                now.key(),
                                now.workload.as_ref().map(ToString::to_string).unwrap_or_default(),
                                now.node
                            ),
                        );
                        disposition_change(drift, old, now);
                    }
                    None => drift.push(ChangeKind::PodGone, format!("pod {} on node {} is gone", old.key(), old.node)),
                }
            }
        }
    }
    for p in new {
        match &p.disposition {
            Disposition::Blocked(reason) => drift.push(
                ChangeKind::PodBlocked,
                format!("pod {} appeared on blue node {} and is blocked: {reason}", p.key(), p.node),
            ),
            Disposition::Skip(_) => {}
            _ => drift
                .push(ChangeKind::PodAdded, format!("pod {} appeared on blue node {}: it moves too", p.key(), p.node)),
        }
    }
}

fn disposition_change(drift: &mut Drift, old: &PlannedPod, now: &PlannedPod) {
    match (&old.disposition, &now.disposition) {
        (Disposition::Blocked(_), Disposition::Blocked(_)) => {}
        (_, Disposition::Blocked(reason)) => drift.push(
            ChangeKind::PodBlocked,
            format!(
                "pod {} on node {} is blocked now: {reason} (planned: {})",
                now.key(),
                now.node,
                action(&old.disposition)
            ),
        ),
        (Disposition::Blocked(reason), d) => drift.push(
            ChangeKind::PodUnblocked,
            format!("pod {} is no longer blocked ({reason}): it will {}", now.key(), action(d)),
        ),
        _ => {}
    }
}

fn action(d: &Disposition) -> &'static str {
    match d {
        Disposition::Evict => "be evicted",
        Disposition::Skip(_) => "be left alone",
        Disposition::Blocked(_) => "be blocked",
        Disposition::WaitForCompletion => "be waited for",
    }
}

/// Top-level fields whose JSON differs, as `field: old -> new`.
fn changed_fields<T: Serialize>(old: &T, new: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec!["(not comparable)".to_string()];
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let null = serde_json::Value::Null;
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null));
            (x != y).then(|| format!("{k}: {x} -> {y}"))
        })
        .collect()
}

#[cfg(test)]
mod tests;
