//! Risks a reviewer should weigh: pods evicted although they would block by default (the operator allowed
//! it), volumes that cannot follow, replacements green cannot place (zones, node selectors, spread
//! constraints), Jobs that hold their nodes, and green's capacity zone by zone.

use std::collections::{BTreeMap, BTreeSet};

use super::Ctx;
use super::review::green_zones;
use crate::model::plan::{Disposition, Finding, Severity};
use crate::model::review::Review;
use crate::model::snapshot::{LABEL_ZONE, PodInfo};

/// Node labels every node has, or that follow from settings green shares with blue.
const PORTABLE_LABELS: &[&str] = &[
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "topology.kubernetes.io/region",
];
const INSTANCE_TYPE_LABELS: &[&str] = &["node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type"];

fn risk(code: &str, message: String, objects: Vec<String>) -> Finding {
    Finding { severity: Severity::Risk, code: code.into(), message, objects }
}

pub(super) fn collect(ctx: &Ctx<'_>, review: &Review) -> Vec<Finding> {
    let mut out = Vec::new();
    allowed_evictions(ctx, &mut out);
    jobs(ctx, &mut out);
    placement(ctx, &mut out);
    volumes(review, &mut out);
    capacity(ctx, review, &mut out);
    out
}

/// Pods that block by default but that this run may evict (`allow`): what is lost.
fn allowed_evictions(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in ctx.planned().filter(|p| p.disposition == Disposition::Evict) {
        let Some(info) = ctx.pod(p) else { continue };
        let safe = info.safe_to_evict.as_deref();
        if info.do_not_disrupt.as_deref().is_some_and(|v| v != "false") {
            groups.entry("do-not-disrupt").or_default().push(p.key());
        }
        if safe == Some("false") {
            groups.entry("safe-to-evict-false").or_default().push(p.key());
        }
        if safe != Some("true") && info.controller.is_none() {
            groups.entry("bare-pod").or_default().push(p.key());
        }
        if safe != Some("true") && info.empty_dir {
            groups.entry("empty-dir").or_default().push(p.key());
        }
    }
    for (what, objects) in groups {
        let message = match what {
            "do-not-disrupt" => "pods annotated karpenter.sh/do-not-disrupt will be evicted (allowed by the policy)",
            "safe-to-evict-false" => "pods annotated safe-to-evict=false will be evicted (allowed by the policy)",
            "bare-pod" => "bare pods will be evicted and nothing recreates them (allowed by the policy)",
            _ => "pods with emptyDir volumes will be evicted and lose that data (allowed by the policy)",
        };
        out.push(risk(&format!("evicting-{what}"), message.into(), objects));
    }
}

/// Job pods are not evicted: their nodes (and blue's deletion) wait until they finish.
fn jobs(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let waiting: Vec<String> =
        ctx.planned().filter(|p| p.disposition == Disposition::WaitForCompletion).map(|p| p.key()).collect();
    if !waiting.is_empty() {
        out.push(risk(
            "job-running",
            "Job pods run on blue nodes: their nodes drain only once they finish (or the drain timeout \
             escalates); let them finish first, or plan the upgrade between runs"
                .into(),
            waiting,
        ));
    }
}

/// Replacements green cannot place: node selectors green's nodes will not satisfy, zone spread over zones
/// green lacks.
fn placement(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let zones = green_zones(ctx);
    let mut selector_problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Workload -> (max skew, zones its blue pods are in that green lacks, pods).
    let mut spread: BTreeMap<String, (i32, BTreeSet<String>, Vec<String>)> = BTreeMap::new();
    for p in ctx.planned().filter(|p| p.disposition == Disposition::Evict) {
        let Some(info) = ctx.pod(p) else { continue };
        for (k, v) in &info.node_selector {
            if let Some(problem) = selector_problem(ctx, &zones, info, k, v) {
                selector_problems.entry(problem).or_default().push(p.key());
            }
        }
        if let Some(s) = info.spread.iter().find(|s| s.key == LABEL_ZONE)
            && let Some(z) = ctx.zone_of(&p.node)
            && !zones.iter().any(|g| g == z)
        {
            let w = match &p.workload {
                Some(w) => format!("{} {}/{}", w.kind, p.namespace, w.name),
                None => p.key(),
            };
            let e = spread.entry(w).or_insert_with(|| (s.max_skew, BTreeSet::new(), Vec::new()));
            e.1.insert(z.to_string());
            e.2.push(p.key());
        }
    }
    for (problem, objects) in selector_problems {
        out.push(risk("node-selector", format!("replacements cannot be scheduled on green: {problem}"), objects));
    }
    for (w, (skew, missing, objects)) in spread {
        let missing: Vec<String> = missing.into_iter().collect();
        out.push(risk(
            "topology-spread",
            format!(
                "{w} spreads over zones (maxSkew {skew}, DoNotSchedule) and has pods in {}, where green has no node: \
                 its replacements may stay Pending",
                missing.join(", ")
            ),
            objects,
        ));
    }
}

fn selector_problem(ctx: &Ctx<'_>, zones: &[String], pod: &PodInfo, k: &str, v: &str) -> Option<String> {
    let green = ctx.green;
    if PORTABLE_LABELS.contains(&k) || k.contains("capacity-type") || k.contains("capacityType") {
        return None;
    }
    if k == LABEL_ZONE {
        return (!zones.iter().any(|z| z == v)).then(|| format!("they select zone {v}, where green has no node"));
    }
    if INSTANCE_TYPE_LABELS.contains(&k) {
        return (!green.instance_types.iter().any(|t| t == v))
            .then(|| format!("they select instance type {v}, which green does not use"));
    }
    if k == "kubernetes.io/hostname" {
        return Some(format!("they are pinned to node {v} (kubernetes.io/hostname), which goes with blue"));
    }
    if k == ctx.matcher.label {
        return (v == ctx.matcher.value)
            .then(|| format!("they select {k}={v}, blue's own pool label: green's nodes carry {k}={}", green.name));
    }
    match green.labels.get(k) {
        Some(g) if g == v => None,
        Some(g) => Some(format!("they select {k}={v}, green's nodes carry {k}={g}")),
        None => {
            let node = pod.node.as_deref().and_then(|n| ctx.nodes.get(n));
            node.is_some_and(|n| n.labels.get(k).is_some_and(|x| x == v))
                .then(|| format!("they select {k}={v}, a label blue's nodes carry but the pool's settings do not set"))
        }
    }
}

fn volumes(review: &Review, out: &mut Vec<Finding>) {
    let mut local = Vec::new();
    let mut zonal = Vec::new();
    for c in review.volumes.claims.iter().filter(|c| c.problem.is_some()) {
        let what = format!("{} (claim {})", c.pod, c.claim);
        if c.local_node.is_some() { local.push(what) } else { zonal.push(what) }
    }
    if !local.is_empty() {
        out.push(risk(
            "local-volume",
            "pods use local volumes pinned to blue nodes: their replacements cannot start on green".into(),
            local,
        ));
    }
    if !zonal.is_empty() {
        out.push(risk(
            "zonal-volume",
            "pods use volumes in zones where green has no node: their replacements cannot start".into(),
            zonal,
        ));
    }
}

fn capacity(ctx: &Ctx<'_>, review: &Review, out: &mut Vec<Finding>) {
    let cap = &review.capacity;
    let mib = |b: u64| b / (1024 * 1024);
    let missing: Vec<String> = cap
        .zones
        .iter()
        .filter(|z| z.moving_pods > 0 && z.green_nodes == 0)
        .map(|z| format!("{} ({} pods)", if z.zone.is_empty() { "(no zone)" } else { &z.zone }, z.moving_pods))
        .collect();
    if !missing.is_empty() {
        out.push(risk(
            "capacity-zone-missing",
            format!("pods move out of zones where green has no node: {}", missing.join(", ")),
            Vec::new(),
        ));
    }
    if cap.nodes_needed > cap.green_nodes {
        out.push(risk(
            "capacity-short",
            format!(
                "green needs {} nodes, zone by zone, for the requests of the pods that move; it is planned with {}",
                cap.nodes_needed, cap.green_nodes
            ),
            Vec::new(),
        ));
    }
    let moving = cap.zones.iter().fold(crate::model::snapshot::Resources::default(), |mut acc, z| {
        acc.add(&z.moving);
        acc
    });
    let free = cap.zones.iter().fold(crate::model::snapshot::Resources::default(), |mut acc, z| {
        acc.add(&z.green_free);
        acc
    });
    out.push(Finding {
        severity: Severity::Info,
        code: "capacity".into(),
        message: format!(
            "pods moving request {} mCPU and {} MiB; green ({} nodes of {}) offers {} mCPU and {} MiB after DaemonSets; \
             {} nodes needed",
            moving.cpu_millis,
            mib(moving.memory_bytes),
            cap.green_nodes,
            ctx.green.instance_types.join(", "),
            free.cpu_millis,
            mib(free.memory_bytes),
            cap.nodes_needed
        ),
        objects: Vec::new(),
    });
}
