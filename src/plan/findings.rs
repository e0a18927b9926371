//! Findings the reviewer needs: blockers (from pod dispositions), risky budgets and pods, capacity.

use std::collections::{BTreeMap, HashMap};

use crate::model::plan::{Batch, Disposition, Finding, Severity};
use crate::model::snapshot::{PdbInfo, PodInfo, Resources, Snapshot};

pub(super) fn collect(
    snap: &Snapshot,
    blue_nodes: &[String],
    batches: &[Batch],
    pods_by_node: &HashMap<&str, Vec<&PodInfo>>,
    pdbs_by_ns: &HashMap<&str, Vec<&PdbInfo>>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    // Blockers, grouped by reason kind.
    let mut blocked: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for p in batches.iter().flat_map(|b| &b.pods) {
        if let Disposition::Blocked(r) = &p.disposition {
            let code = serde_json::to_value(r)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .unwrap_or_else(|| "blocked".into());
            let e = blocked.entry(format!("{code}:{r}")).or_insert_with(|| (code.clone(), Vec::new()));
            e.1.push(p.key());
        }
    }
    for (key, (code, objects)) in blocked {
        let message = key.split_once(':').map(|x| x.1).unwrap_or(&key).to_string();
        out.push(Finding { severity: Severity::Blocker, code: code.replace('_', "-"), message, objects });
    }
    let mut pods_by_ns: HashMap<&str, Vec<&PodInfo>> = HashMap::new();
    for p in &snap.pods {
        pods_by_ns.entry(p.namespace.as_str()).or_default().push(p);
    }
    // Budgets already at zero now (not structurally): evictions will wait for them.
    for (ns, pdbs) in pdbs_by_ns {
        let ns_pods = pods_by_ns.get(ns).map(Vec::as_slice).unwrap_or(&[]);
        for pdb in pdbs {
            if pdb.disruptions_allowed == 0 && pdb.structurally_blocked().is_none() && pdb.sync_failed.is_none() {
                out.push(Finding {
                    severity: Severity::Risk,
                    code: "pdb-at-budget".into(),
                    message: format!(
                        "PodDisruptionBudget {} allows no disruption now (needs {} healthy, has {}): evictions will wait",
                        pdb.key(),
                        pdb.desired_healthy,
                        pdb.current_healthy
                    ),
                    objects: vec![pdb.key()],
                });
            }
            if !ns_pods.iter().any(|p| pdb.selects(p)) {
                out.push(Finding {
                    severity: Severity::Risk,
                    code: "pdb-matches-nothing".into(),
                    message: format!("PodDisruptionBudget {} selects no pod: it protects nothing", pdb.key()),
                    objects: vec![pdb.key()],
                });
            }
        }
    }
    // Pods that tolerate every taint can be scheduled back onto cordoned blue nodes.
    let tolerate_all: Vec<String> = blue_nodes
        .iter()
        .flat_map(|n| pods_by_node.get(n.as_str()).into_iter().flatten())
        .filter(|p| p.tolerates_all && p.owner_kind() != Some("DaemonSet") && !p.finished())
        .map(|p| p.key())
        .collect();
    if !tolerate_all.is_empty() {
        out.push(Finding {
            severity: Severity::Risk,
            code: "tolerates-everything".into(),
            message: "pods tolerate every taint: their replacements may land back on cordoned blue nodes".into(),
            objects: tolerate_all,
        });
    }
    // Capacity: requests of the pods that move vs what blue offers today (green is created at blue's size).
    let mut moving = Resources::default();
    for p in batches.iter().flat_map(|b| &b.pods).filter(|p| p.disposition == Disposition::Evict) {
        if let Some(pi) = pods_by_node.get(p.node.as_str()).and_then(|v| v.iter().find(|x| x.uid == p.uid)) {
            moving.add(&pi.requests);
        }
    }
    let mut blue_alloc = Resources::default();
    for n in snap.nodes.iter().filter(|n| blue_nodes.contains(&n.name)) {
        blue_alloc.add(&n.allocatable);
    }
    out.push(Finding {
        severity: Severity::Info,
        code: "capacity".into(),
        message: format!(
            "pods moving request {} mCPU and {} MiB; green at blue's size offers {} mCPU and {} MiB",
            moving.cpu_millis,
            moving.memory_bytes / (1024 * 1024),
            blue_alloc.cpu_millis,
            blue_alloc.memory_bytes / (1024 * 1024)
        ),
        objects: Vec::new(),
    });
    out.sort_by(|a, b| (a.severity, &a.code, &a.message).cmp(&(b.severity, &b.code, &b.message)));
    out
}
