//! Findings from the pods' dispositions and the budgets: blockers (grouped by reason), budgets already at
//! zero that guard pods of the plan, budgets that select nothing, pods that tolerate every taint.

use std::collections::BTreeMap;

use super::Ctx;
use crate::model::plan::{Disposition, Finding, Severity};

pub(super) fn collect(ctx: &Ctx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    // Blockers, grouped by reason kind.
    let mut blocked: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for p in ctx.planned() {
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
    for pdb in &ctx.snap.pdbs {
        let key = pdb.key();
        let guarded = ctx.in_plan.get(&key).copied().unwrap_or(0);
        // Budgets already at zero now (not structurally): evictions of the plan's pods will wait for them.
        if guarded > 0
            && pdb.disruptions_allowed == 0
            && pdb.structurally_blocked().is_none()
            && pdb.sync_failed.is_none()
        {
            out.push(Finding {
                severity: Severity::Risk,
                code: "pdb-at-budget".into(),
                message: format!(
                    "PodDisruptionBudget {key} allows no disruption now (needs {} healthy, has {}): evictions will wait",
                    pdb.desired_healthy, pdb.current_healthy
                ),
                objects: vec![key.clone()],
            });
        }
        if ctx.pdb_usage.get(&key).is_none_or(|u| u.pods == 0) {
            out.push(Finding {
                severity: Severity::Risk,
                code: "pdb-matches-nothing".into(),
                message: format!("PodDisruptionBudget {key} selects no pod: it protects nothing"),
                objects: vec![key],
            });
        }
    }
    // Pods that tolerate every taint can be scheduled back onto cordoned blue nodes.
    let tolerate_all: Vec<String> = ctx
        .blue_nodes
        .iter()
        .flat_map(|n| ctx.pods_by_node.get(n.as_str()).into_iter().flatten())
        .filter(|p| p.tolerates_all && p.owner_kind() != Some("DaemonSet") && !p.finished() && !p.mirror)
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
    out
}
