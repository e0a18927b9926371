//! The planner: a pure, deterministic function from a cluster snapshot and a policy to an [`UpgradePlan`].

pub mod classify;
mod findings;
pub mod target;

use std::collections::{BTreeMap, HashMap};

use poolshift_provider_api::{NodeMatcher, OfferedVersions, PoolDescription, PoolSpec};

use crate::model::plan::{Batch, PLAN_SCHEMA, PlannedPod, UpgradePlan};
use crate::model::policy::Policy;
use crate::model::snapshot::{NodeInfo, PdbInfo, PodInfo, Snapshot};
use crate::model::version::{Version, VersionError};
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

    let blue_nodes =
        order_nodes(snap.nodes.iter().filter(|n| n.labels.get(&input.matcher.label) == Some(&input.matcher.value)));
    if blue_nodes.is_empty() {
        return Err(PlanError::NoBlueNodes {
            pool: input.blue.name.clone(),
            label: input.matcher.label.clone(),
            value: input.matcher.value.clone(),
        });
    }
    let per_batch = input.policy.batch.nodes_for(blue_nodes.len());
    let pods_by_node = index_pods(&snap.pods);
    let pdbs_by_ns = index_pdbs(&snap.pdbs);

    let mut batches = Vec::new();
    for (index, chunk) in blue_nodes.chunks(per_batch).enumerate() {
        let mut pods = Vec::new();
        for node in chunk {
            for pod in pods_by_node.get(node.as_str()).into_iter().flatten() {
                if pod.terminating {
                    continue; // already going; the engine waits for it at run time
                }
                let pdbs: Vec<&PdbInfo> = pdbs_by_ns
                    .get(pod.namespace.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|p| p.selects(pod))
                    .copied()
                    .collect();
                let disposition = classify::classify(pod, &pdbs, &input.policy.allow);
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
    let findings = findings::collect(snap, &blue_nodes, &batches, &pods_by_node, &pdbs_by_ns);
    Ok(UpgradePlan {
        schema: PLAN_SCHEMA,
        cluster: input.cluster.to_string(),
        pool: input.blue.name.clone(),
        control_plane,
        target,
        blue: input.blue.clone(),
        green,
        policy: input.policy.clone(),
        blue_nodes,
        batches,
        findings,
    })
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

pub(crate) fn index_pdbs(pdbs: &[PdbInfo]) -> HashMap<&str, Vec<&PdbInfo>> {
    let mut m: HashMap<&str, Vec<&PdbInfo>> = HashMap::new();
    for p in pdbs {
        m.entry(p.namespace.as_str()).or_default().push(p);
    }
    for v in m.values_mut() {
        v.sort_by(|a, b| a.name.cmp(&b.name));
    }
    m
}

#[cfg(test)]
mod tests;
