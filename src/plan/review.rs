//! The review part of the plan: versions, capacity per zone, volumes of the pods that move, budgets.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Ctx;
use crate::model::plan::Disposition;
use crate::model::review::{
    Capacity, ClaimReport, PdbReport, Review, Skew, Versions, VolumeCheck, VolumeSource, ZoneCapacity,
};
use crate::model::snapshot::{PdbInfo, Resources};
use crate::model::version::{Version, max_minors_behind};

pub(super) fn build(ctx: &Ctx<'_>, target: &Version, control_plane: Version, mut offered: Vec<Version>) -> Review {
    offered.sort();
    offered.dedup();
    let mut blue_kubelets = BTreeMap::new();
    for n in ctx.blue_nodes.iter().filter_map(|n| ctx.nodes.get(n.as_str())) {
        let v = n.kubelet_version.parse::<Version>().map(|v| v.to_string()).unwrap_or(n.kubelet_version.clone());
        *blue_kubelets.entry(v).or_insert(0) += 1;
    }
    Review {
        versions: Versions {
            offered,
            blue_kubelets,
            skew: Skew { minors_behind: target.minors_behind(&control_plane), max_behind: max_minors_behind(target) },
        },
        capacity: capacity(ctx),
        volumes: volumes(ctx),
        pdbs: pdbs(ctx),
        preflight: None,
        rehearsal: None,
    }
}

/// Green's zones: its spec's, or (when the provider reports none) the zones blue's nodes are in.
pub(super) fn green_zones(ctx: &Ctx<'_>) -> Vec<String> {
    if !ctx.green.zones.is_empty() {
        return ctx.green.zones.clone();
    }
    let zones: BTreeSet<&str> = ctx.blue_nodes.iter().filter_map(|n| ctx.zone_of(n)).collect();
    zones.into_iter().map(str::to_string).collect()
}

fn min_resources(a: Resources, b: &Resources) -> Resources {
    Resources {
        cpu_millis: a.cpu_millis.min(b.cpu_millis),
        memory_bytes: a.memory_bytes.min(b.memory_bytes),
        pods: a.pods.min(b.pods),
    }
}

fn max_resources(a: Resources, b: &Resources) -> Resources {
    Resources {
        cpu_millis: a.cpu_millis.max(b.cpu_millis),
        memory_bytes: a.memory_bytes.max(b.memory_bytes),
        pods: a.pods.max(b.pods),
    }
}

fn minus(a: &Resources, b: &Resources) -> Resources {
    Resources {
        cpu_millis: a.cpu_millis.saturating_sub(b.cpu_millis),
        memory_bytes: a.memory_bytes.saturating_sub(b.memory_bytes),
        pods: a.pods.saturating_sub(b.pods),
    }
}

fn times(a: &Resources, n: u32) -> Resources {
    let n = u64::from(n);
    Resources { cpu_millis: a.cpu_millis * n, memory_bytes: a.memory_bytes * n, pods: a.pods * n }
}

/// Nodes of `free` each needed for `need`, the scarcest resource deciding.
fn nodes_for(need: &Resources, free: &Resources) -> u32 {
    let one = |need: u64, free: u64| if need == 0 { 0 } else { need.div_ceil(free.max(1)) };
    let n = one(need.cpu_millis, free.cpu_millis)
        .max(one(need.memory_bytes, free.memory_bytes))
        .max(one(need.pods, free.pods));
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn capacity(ctx: &Ctx<'_>) -> Capacity {
    let blue: Vec<_> = ctx.blue_nodes.iter().filter_map(|n| ctx.nodes.get(n.as_str())).collect();
    let per_node = blue
        .iter()
        .skip(1)
        .fold(blue.first().map(|n| n.allocatable).unwrap_or_default(), |acc, n| min_resources(acc, &n.allocatable));
    let mut daemonset_overhead = Resources::default();
    for n in &blue {
        let mut on_node = Resources::default();
        for p in ctx.pods_by_node.get(n.name.as_str()).into_iter().flatten() {
            if p.owner_kind() == Some("DaemonSet") && !p.finished() {
                on_node.add(&p.requests);
            }
        }
        daemonset_overhead = max_resources(daemonset_overhead, &on_node);
    }
    let free_per_node = minus(&per_node, &daemonset_overhead);

    let green = green_zones(ctx);
    let desired = ctx.green.size.desired;
    let mut zones: BTreeMap<String, ZoneCapacity> = BTreeMap::new();
    let count = green.len() as u32;
    for (i, z) in green.iter().enumerate() {
        let extra = u32::from((i as u32) < desired % count.max(1));
        let e = zones.entry(z.clone()).or_insert_with(|| ZoneCapacity { zone: z.clone(), ..Default::default() });
        e.green_nodes += desired / count.max(1) + extra;
    }
    for n in &blue {
        let z = n.zone().unwrap_or("").to_string();
        zones.entry(z.clone()).or_insert_with(|| ZoneCapacity { zone: z, ..Default::default() }).blue_nodes += 1;
    }
    for p in ctx.planned().filter(|p| p.disposition == Disposition::Evict) {
        let Some(info) = ctx.pod(p) else { continue };
        let z = ctx.zone_of(&p.node).unwrap_or("").to_string();
        let e = zones.entry(z.clone()).or_insert_with(|| ZoneCapacity { zone: z, ..Default::default() });
        e.moving_pods += 1;
        e.moving.add(&info.requests);
    }
    let mut zones: Vec<ZoneCapacity> = zones.into_values().collect();
    for z in &mut zones {
        z.green_free = times(&free_per_node, z.green_nodes);
        z.nodes_needed = nodes_for(&z.moving, &free_per_node);
    }
    Capacity {
        per_node,
        daemonset_overhead,
        green_nodes: desired,
        nodes_needed: zones.iter().map(|z| z.nodes_needed).fold(0u32, u32::saturating_add),
        zones,
    }
}

fn volumes(ctx: &Ctx<'_>) -> VolumeCheck {
    let green = green_zones(ctx);
    let known: Option<HashMap<(&str, &str), _>> =
        ctx.snap.volumes.as_ref().map(|vs| vs.iter().map(|v| ((v.namespace.as_str(), v.claim.as_str()), v)).collect());
    let source = if known.is_some() { VolumeSource::PersistentVolumes } else { VolumeSource::AssumedNodeZone };
    let mut claims = Vec::new();
    for p in ctx.planned().filter(|p| !matches!(p.disposition, Disposition::Skip(_))) {
        let Some(info) = ctx.pod(p) else { continue };
        for claim in &info.pvcs {
            let mut c = ClaimReport { pod: p.key(), claim: claim.clone(), ..Default::default() };
            match &known {
                Some(known) => match known.get(&(p.namespace.as_str(), claim.as_str())) {
                    Some(v) if v.local => {
                        let node = v.node.clone().unwrap_or_else(|| p.node.clone());
                        c.problem = Some(format!(
                            "local volume {} on node {node}: it goes with the blue node, a replacement cannot use it",
                            v.volume.as_deref().unwrap_or("?")
                        ));
                        c.local_node = Some(node);
                        c.zone = v.zone.clone();
                    }
                    Some(v) => c.zone = v.zone.clone(),
                    None => c.problem = Some("claim not found".into()),
                },
                None => c.zone = ctx.zone_of(&p.node).map(str::to_string),
            }
            if c.problem.is_none()
                && let Some(z) = &c.zone
                && !green.contains(z)
            {
                let assumed = if known.is_none() { " (assumed: its pod's node zone)" } else { "" };
                c.problem = Some(format!("volume in zone {z}{assumed}, where green has no node"));
            }
            claims.push(c);
        }
    }
    VolumeCheck { source, claims }
}

fn rule(pdb: &PdbInfo) -> String {
    crate::model::plan::budget_rule(pdb.min_available.as_ref(), pdb.max_unavailable.as_ref())
}

fn pdbs(ctx: &Ctx<'_>) -> Vec<PdbReport> {
    let mut out = Vec::new();
    for pdb in &ctx.snap.pdbs {
        let key = pdb.key();
        let pods_in_plan = ctx.in_plan.get(&key).copied().unwrap_or(0);
        let usage = ctx.pdb_usage.get(&key);
        let mut r = PdbReport {
            name: key.clone(),
            rule: rule(pdb),
            unhealthy_pod_eviction_policy: pdb.unhealthy_pod_eviction_policy.clone(),
            expected: pdb.expected_pods,
            desired: pdb.desired_healthy,
            current: pdb.current_healthy,
            allowed: pdb.disruptions_allowed,
            pods_in_plan,
            ..Default::default()
        };
        let mut note = |code: &str, text: String| {
            r.findings.push(code.to_string());
            r.notes.push(text);
        };
        if let Some(msg) = &pdb.sync_failed {
            note("sync-failed", format!("the disruption controller cannot compute it (SyncFailed): {msg}"));
        } else if let Some(why) = pdb.structurally_blocked() {
            note("zero-budget", format!("never allows a disruption: {why}"));
        } else if pdb.disruptions_allowed == 0 && pdb.expected_pods > 0 {
            note(
                "at-budget",
                format!(
                    "allows no disruption now: needs {} healthy, has {} (an unhealthy app)",
                    pdb.desired_healthy, pdb.current_healthy
                ),
            );
        }
        if let Some(u) = usage
            && !u.overlaps.is_empty()
        {
            let others: Vec<&str> = u.overlaps.iter().map(String::as_str).collect();
            note(
                "overlapping",
                format!("shares pods with {}: the API refuses those pods' evictions (500)", others.join(", ")),
            );
        }
        if usage.is_none_or(|u| u.pods == 0) {
            note("matches-nothing", "selects no pod: it protects nothing".into());
        }
        if pods_in_plan > 0 || r.findings.iter().any(|f| f == "matches-nothing") {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
