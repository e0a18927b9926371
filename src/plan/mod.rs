//! The planner: a pure, deterministic function from a cluster snapshot and a policy to an [`UpgradePlan`].

pub mod classify;
pub mod drift;
mod findings;
pub mod pdb_index;
mod review;
mod risks;
pub mod target;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use poolshift_provider_api::{NodeMatcher, OfferedVersions, PoolDescription, PoolSpec};

use crate::model::plan::{Batch, Disposition, PLAN_SCHEMA, PlannedPdb, PlannedPod, UpgradePlan};
use crate::model::policy::Policy;
use crate::model::snapshot::{NodeInfo, PodInfo, Snapshot};
use crate::model::version::{Version, VersionError};
use pdb_index::PdbIndex;
use target::{TargetError, TargetPolicy};

/// Everything the planner reads.
pub struct PlanInput<'a> {
    pub cluster: &'a str,
    pub snapshot: &'a Snapshot,
    pub blue: &'a PoolDescription,
    pub matcher: &'a NodeMatcher,
    pub offered: &'a OfferedVersions,
    pub target: &'a TargetPolicy,
    pub policy: &'a Policy,
    /// Green pool name for a target version (the provider's naming rule).
    pub green_name: &'a dyn Fn(&str) -> String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no node carries {label}={value}: is pool {pool} empty, or is its node label different?")]
    NoBlueNodes { pool: String, label: String, value: String },
    #[error("cannot read a version: {0}")]
    Version(#[from] VersionError),
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Builds the plan. Deterministic: the same input gives the same plan, byte for byte once serialised.
pub fn build(input: &PlanInput<'_>) -> Result<UpgradePlan, PlanError> {
    let snap = input.snapshot;
    let control_plane: Version = snap.server_version.parse()?;
    let current: Version = input.blue.version.parse()?;
    let offered: Vec<Version> = input.offered.node_versions.iter().filter_map(|v| v.parse().ok()).collect();
    let target = target::resolve(input.target, current, control_plane, &offered)?;

    let blue_nodes = order_nodes(snap.nodes.iter().filter(|n| input.matcher.matches(&n.labels)));
    if blue_nodes.is_empty() {
        return Err(PlanError::NoBlueNodes {
            pool: input.blue.name.clone(),
            label: input.matcher.label.clone(),
            value: input.matcher.value.clone(),
        });
    }
    let per_batch = input.policy.batch.nodes_for(blue_nodes.len());
    let pods_by_node = index_pods(&snap.pods);
    let pdb_index = PdbIndex::new(&snap.pdbs);
    // Pods of the plan each budget guards (skipped pods aside).
    let mut in_plan: HashMap<String, usize> = HashMap::new();

    let mut batches = Vec::new();
    for (index, chunk) in blue_nodes.chunks(per_batch).enumerate() {
        let mut pods = Vec::new();
        for node in chunk {
            for pod in pods_by_node.get(node.as_str()).into_iter().flatten() {
                if pod.terminating {
                    continue; // already going; the engine waits for it at run time
                }
                let pdbs = pdb_index.matching(pod);
                let disposition = classify::classify(pod, &pdbs, &input.policy.allow);
                if !matches!(disposition, Disposition::Skip(_)) {
                    for p in &pdbs {
                        *in_plan.entry(p.key()).or_default() += 1;
                    }
                }
                pods.push(PlannedPod {
                    namespace: pod.namespace.clone(),
                    name: pod.name.clone(),
                    uid: pod.uid.clone(),
                    node: node.clone(),
                    workload: pod.workload.clone(),
                    pdb: pdbs.first().map(|p| p.key()),
                    disposition,
                });
            }
        }
        batches.push(Batch { index, nodes: chunk.to_vec(), pods });
    }

    let green_name = (input.green_name)(&target.version.to_string());
    let green = PoolSpec::derive(input.blue, &green_name, &target.version.to_string());
    let ctx = Ctx {
        snap,
        green: &green,
        matcher: input.matcher,
        blue_nodes: &blue_nodes,
        nodes: snap.nodes.iter().map(|n| (n.name.as_str(), n)).collect(),
        pods_by_node: &pods_by_node,
        batches: &batches,
        pdb_usage: pdb_usage(snap, &pdb_index),
        in_plan,
    };
    let pdbs = planned_pdbs(snap, &batches);
    let mut findings = findings::collect(&ctx);
    let review = review::build(&ctx, &target.version, control_plane, offered);
    findings.extend(risks::collect(&ctx, &review));
    findings.sort_by(|a, b| (a.severity, &a.code, &a.message).cmp(&(b.severity, &b.code, &b.message)));
    Ok(UpgradePlan {
        schema: PLAN_SCHEMA,
        plan_id: String::new(),
        planned_at: String::new(),
        cluster: input.cluster.to_string(),
        pool: input.blue.name.clone(),
        control_plane,
        target,
        blue: input.blue.clone(),
        green,
        policy: input.policy.clone(),
        blue_nodes,
        batches,
        pdbs,
        findings,
        review,
    })
}

/// The budgets of every namespace with a pod to move or a blocked pod, sorted by name.
pub(crate) fn planned_pdbs(snap: &Snapshot, batches: &[Batch]) -> Vec<PlannedPdb> {
    let namespaces: BTreeSet<&str> = batches
        .iter()
        .flat_map(|b| &b.pods)
        .filter(|p| !matches!(p.disposition, Disposition::Skip(_)))
        .map(|p| p.namespace.as_str())
        .collect();
    let mut pdbs: Vec<PlannedPdb> =
        snap.pdbs.iter().filter(|p| namespaces.contains(p.namespace.as_str())).map(PlannedPdb::of).collect();
    pdbs.sort_by(|a, b| a.name.cmp(&b.name));
    pdbs
}

/// What the findings and the review read, indexed once.
pub(crate) struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub green: &'a PoolSpec,
    pub matcher: &'a NodeMatcher,
    pub blue_nodes: &'a [String],
    pub nodes: HashMap<&'a str, &'a NodeInfo>,
    pub pods_by_node: &'a HashMap<&'a str, Vec<&'a PodInfo>>,
    pub batches: &'a [Batch],
    /// Every budget's pods in the whole cluster, and the budgets it shares pods with.
    pub pdb_usage: HashMap<String, PdbUsage>,
    /// Pods of the plan (not skipped) each budget guards.
    pub in_plan: HashMap<String, usize>,
}

impl<'a> Ctx<'a> {
    /// The snapshot's record of a planned pod.
    pub fn pod(&self, p: &PlannedPod) -> Option<&'a PodInfo> {
        self.pods_by_node.get(p.node.as_str()).and_then(|v| v.iter().find(|x| x.uid == p.uid)).copied()
    }

    pub fn planned(&self) -> impl Iterator<Item = &'a PlannedPod> + use<'a, '_> {
        self.batches.iter().flat_map(|b| b.pods.iter())
    }

    pub fn zone_of(&self, node: &str) -> Option<&'a str> {
        self.nodes.get(node).and_then(|n| n.zone())
    }
}

#[derive(Debug, Default)]
pub(crate) struct PdbUsage {
    pub pods: usize,
    pub overlaps: BTreeSet<String>,
}

fn pdb_usage(snap: &Snapshot, index: &PdbIndex<'_>) -> HashMap<String, PdbUsage> {
    let mut usage: HashMap<String, PdbUsage> = HashMap::new();
    for pod in &snap.pods {
        let pdbs = index.matching(pod);
        for p in &pdbs {
            let u = usage.entry(p.key()).or_default();
            u.pods += 1;
            if pdbs.len() > 1 {
                u.overlaps.extend(pdbs.iter().filter(|o| o.name != p.name).map(|o| o.key()));
            }
        }
    }
    usage
}

/// Drain order: zones interleaved (first node of each zone, then the second ...), names sorted within a
/// zone, so that each batch takes a slice of every zone and zone-spread workloads stay balanced.
pub fn order_nodes<'a>(nodes: impl Iterator<Item = &'a NodeInfo>) -> Vec<String> {
    let mut by_zone: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for n in nodes {
        by_zone.entry(n.zone().unwrap_or("")).or_default().push(&n.name);
    }
    for names in by_zone.values_mut() {
        names.sort_unstable();
    }
    let longest = by_zone.values().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..longest {
        for names in by_zone.values() {
            if let Some(n) = names.get(i) {
                out.push((*n).to_string());
            }
        }
    }
    out
}

pub(crate) fn index_pods(pods: &[PodInfo]) -> HashMap<&str, Vec<&PodInfo>> {
    let mut m: HashMap<&str, Vec<&PodInfo>> = HashMap::new();
    for p in pods {
        if let Some(n) = &p.node {
            m.entry(n.as_str()).or_default().push(p);
        }
    }
    for v in m.values_mut() {
        v.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    }
    m
}

#[cfg(test)]
pub(crate) mod tests;
