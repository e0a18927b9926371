//! `-o markdown`: for a pull request or a change ticket. The summary comes first (verdict, blockers,
//! risks), the details follow in collapsible `<details>` sections.

use std::fmt::Write;

use super::facts;
use crate::model::plan::{Severity, UpgradePlan};
use crate::model::review::VolumeSource;

/// Escapes what would break a table cell or start markup.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;").replace('\n', " ")
}

fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

fn details(out: &mut String, summary: &str, body: &str) {
    let _ = write!(out, "\n<details>\n<summary>{summary}</summary>\n\n{body}\n</details>\n");
}

pub fn render(plan: &UpgradePlan) -> String {
    let h = facts::headline(plan);
    let mut out = format!("# Upgrade plan: pool {} of cluster {}\n\n", code(&plan.pool), code(&plan.cluster));
    let verdict = if h.blocked_pods > 0 {
        format!(
            "**BLOCKED**: {} (exit 5)",
            facts::plural(h.blocked_pods, "pod cannot be evicted", "pods cannot be evicted")
        )
    } else {
        "**No blockers** (exit 0)".to_string()
    };
    let _ = writeln!(out, "{verdict}\n");
    let _ = writeln!(out, "| | |\n| --- | --- |");
    let _ = writeln!(
        out,
        "| Version | {} -> **{}** ({}; policy {}) |",
        plan.blue.version,
        plan.target.version,
        cell(&plan.target.reason),
        code(&plan.target.policy)
    );
    let _ = writeln!(out, "| Control plane | {} |", plan.control_plane);
    let _ = writeln!(out, "| Plan id | {} (`poolshift upgrade --plan FILE` executes this plan) |", code(&plan.plan_id));
    let _ = writeln!(
        out,
        "| Green pool | {}: {} nodes of {} |",
        code(&plan.green.name),
        plan.green.size.desired,
        cell(&plan.green.instance_types.join(", "))
    );
    let _ = writeln!(
        out,
        "| Drain | {} blue nodes in {} (batch {}) |",
        plan.blue_nodes.len(),
        facts::plural(plan.batches.len(), "batch", "batches"),
        facts::batch_rule(plan)
    );
    let _ = writeln!(out, "| Pods | {} to move, {} blocked |", h.to_move, h.blocked_pods);
    let _ = writeln!(
        out,
        "| Findings | {}, {} |",
        facts::plural(h.blockers, "blocker", "blockers"),
        facts::plural(h.risks, "risk", "risks")
    );
    if let Some(p) = &plan.review.preflight {
        let _ = writeln!(out, "| Preflight (dry-run evictions) | {} checked, {} allowed now |", p.checked, p.allowed);
    }
    if let Some(r) = &plan.review.rehearsal {
        let _ = writeln!(out, "| Rehearsed duration | {} ({}) |", facts::seconds(r.total_seconds), cell(&r.outcome));
    }
    for (severity, title) in [(Severity::Blocker, "Blockers"), (Severity::Risk, "Risks")] {
        let list: Vec<_> = facts::findings(plan, severity).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {title}\n");
        for f in list {
            let _ = write!(out, "- {} {}", code(&f.code), cell(&f.message));
            if !f.objects.is_empty() {
                let shown: Vec<String> = f.objects.iter().take(facts::NAMES_SHOWN * 2).map(|o| code(o)).collect();
                let more = f.objects.len() - shown.len();
                let _ = write!(out, ": {}", shown.join(", "));
                if more > 0 {
                    let _ = write!(out, " +{more} more");
                }
            }
            out.push('\n');
        }
    }
    versions(&mut out, plan);
    green(&mut out, plan);
    capacity(&mut out, plan);
    batches(&mut out, plan);
    pdbs(&mut out, plan);
    preflight(&mut out, plan);
    timeline(&mut out, plan);
    notes(&mut out, plan);
    out
}

fn versions(out: &mut String, plan: &UpgradePlan) {
    let v = &plan.review.versions;
    let mut b = String::from("| | |\n| --- | --- |\n");
    let _ = writeln!(b, "| Control plane | {} |", plan.control_plane);
    let _ = writeln!(b, "| Blue | {} (kubelet {}) |", plan.blue.version, facts::kubelets(&v.blue_kubelets));
    let _ = writeln!(
        b,
        "| Target | **{}**: {} (policy {}) |",
        plan.target.version,
        cell(&plan.target.reason),
        code(&plan.target.policy)
    );
    let _ = writeln!(b, "| Offered | {} |", facts::versions(&v.offered));
    let _ = writeln!(
        b,
        "| Skew | kubelet {} on control plane {}: {} minor(s) behind, at most {} allowed, never newer: ok |",
        plan.target.version, plan.control_plane, v.skew.minors_behind, v.skew.max_behind
    );
    details(out, "Versions", &b);
}

fn green(out: &mut String, plan: &UpgradePlan) {
    let mut b = String::from("| Setting | Blue | Green |\n| --- | --- | --- |\n");
    for row in facts::green_diff(plan) {
        let g = if row.changed() { format!("**{}**", cell(&row.green)) } else { cell(&row.green) };
        let _ = writeln!(b, "| {} | {} | {g} |", row.setting, cell(&row.blue));
    }
    details(out, &format!("Green pool {} and its diff against blue", code(&plan.green.name)), &b);
}

fn capacity(out: &mut String, plan: &UpgradePlan) {
    let c = &plan.review.capacity;
    let mut b = format!(
        "Per green node: {} (blue's smallest node); DaemonSets take {} of it.\n\n",
        facts::resources(&c.per_node),
        facts::resources(&c.daemonset_overhead)
    );
    b.push_str(
        "| Zone | Blue nodes | Green nodes | Pods moving | CPU moving / free | Memory moving / free | Nodes needed |\n",
    );
    b.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for z in &c.zones {
        let _ = writeln!(
            b,
            "| {} | {} | {} | {} | {} / {} | {} / {} | {} |",
            cell(facts::zone_name(&z.zone)),
            z.blue_nodes,
            z.green_nodes,
            z.moving_pods,
            facts::cpu(z.moving.cpu_millis),
            facts::cpu(z.green_free.cpu_millis),
            facts::gib(z.moving.memory_bytes),
            facts::gib(z.green_free.memory_bytes),
            z.nodes_needed
        );
    }
    let _ = writeln!(
        b,
        "\nGreen is planned with {} nodes; {} needed zone by zone for the requests of the pods that move.",
        c.green_nodes, c.nodes_needed
    );
    let v = &plan.review.volumes;
    let how = match v.source {
        VolumeSource::PersistentVolumes => "zones and local volumes read from the PersistentVolumes",
        VolumeSource::AssumedNodeZone => {
            "PersistentVolumes were not readable: each claim's volume is assumed to be in its pod's node zone, and \
             local volumes cannot be recognised"
        }
    };
    let _ = writeln!(b, "\nVolumes: {} of the plan's pods ({how}).", facts::plural(v.claims.len(), "claim", "claims"));
    if !v.claims.is_empty() {
        b.push_str("\n| Pod | Claim | Zone | Problem |\n| --- | --- | --- | --- |\n");
        for c in &v.claims {
            let _ = writeln!(
                b,
                "| {} | {} | {} | {} |",
                code(&c.pod),
                code(&c.claim),
                cell(c.zone.as_deref().unwrap_or("-")),
                cell(c.problem.as_deref().unwrap_or("-"))
            );
        }
    }
    details(out, "Capacity per zone, and volumes", &b);
}

fn batches(out: &mut String, plan: &UpgradePlan) {
    let mut b = String::from("Pods grouped by owner (`-o json` lists every pod).\n");
    let of = plan.batches.len();
    for batch in &plan.batches {
        let _ = writeln!(
            b,
            "\n**Batch {} of {of}**: {} ({} to evict, {} blocked, {} waited for, {} skipped)\n",
            batch.index + 1,
            batch.nodes.iter().map(|n| code(n)).collect::<Vec<_>>().join(", "),
            facts::count(batch, "evict"),
            facts::count(batch, "BLOCKED"),
            facts::count(batch, "wait"),
            facts::count(batch, "skip")
        );
        b.push_str("| Disposition | Owner | Pods | Why |\n| --- | --- | --- | --- |\n");
        for g in facts::groups(batch) {
            let _ = writeln!(
                b,
                "| {} | {} | {}: {} | {} |",
                g.action,
                cell(&g.owner),
                g.pods.len(),
                cell(&g.names(false)),
                cell(&g.detail)
            );
        }
    }
    details(out, &format!("Batches ({of})"), &b);
}

fn pdbs(out: &mut String, plan: &UpgradePlan) {
    let list = &plan.review.pdbs;
    let mut b = String::from(
        "| PDB | Rule | Expected | Desired | Healthy | Allowed now | Pods in plan | Findings |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for p in list {
        let _ = writeln!(
            b,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            code(&p.name),
            cell(&p.rule),
            p.expected,
            p.desired,
            p.current,
            p.allowed,
            p.pods_in_plan,
            cell(&p.notes.join("; "))
        );
    }
    details(out, &format!("PodDisruptionBudgets ({})", list.len()), &b);
}

fn preflight(out: &mut String, plan: &UpgradePlan) {
    let b = match &plan.review.preflight {
        None => "Not checked: the plan was made offline, from a snapshot file.\n".to_string(),
        Some(p) => {
            let mut b = format!(
                "Each eviction of the plan was sent to the API server as a dry run (`dryRun=All`): {} checked, {} \
                 allowed now. Each is checked alone: a dry run consumes no budget, so evictions allowed now may \
                 still wait for their turn.\n",
                p.checked, p.allowed
            );
            if !p.refused.is_empty() {
                b.push_str("\n| Answer | PDB | Message | Pods |\n| --- | --- | --- | --- |\n");
                for g in facts::refused_groups(p) {
                    let pods: Vec<String> = g.pods.iter().take(facts::NAMES_SHOWN).map(|p| code(p)).collect();
                    let more = g.pods.len() - pods.len();
                    let _ = writeln!(
                        b,
                        "| {} | {} | {} | {}: {}{} |",
                        g.answer,
                        g.pdb.map(code).unwrap_or_else(|| "-".into()),
                        cell(g.message),
                        g.pods.len(),
                        pods.join(", "),
                        if more > 0 { format!(" +{more} more") } else { String::new() }
                    );
                }
            }
            b
        }
    };
    details(out, "Preflight: dry-run evictions", &b);
}

fn timeline(out: &mut String, plan: &UpgradePlan) {
    let Some(r) = &plan.review.rehearsal else {
        details(
            out,
            "Timeline",
            "Not rehearsed: `poolshift plan --rehearse` runs the plan on a simulated copy of the cluster.\n",
        );
        return;
    };
    let mut b = format!(
        "Rehearsed by the upgrade engine on a simulated copy of the cluster, in virtual time: {} in total, {}.\n\n\
         | Step | Start | End | Took |\n| --- | ---: | ---: | ---: |\n",
        facts::seconds(r.total_seconds),
        cell(&r.outcome)
    );
    for (what, start, end) in facts::timeline_steps(r) {
        let _ = writeln!(
            b,
            "| {} | {} | {} | {} |",
            cell(&what),
            facts::seconds(start),
            facts::seconds(end),
            facts::seconds(end - start)
        );
    }
    let waits: Vec<String> = r
        .batches
        .iter()
        .flat_map(|bt| {
            bt.waits.iter().map(move |w| {
                format!(
                    "- batch {} waited on PDB {} for {} (first refused at {}): {}",
                    bt.batch,
                    code(&w.pdb),
                    facts::plural(w.pods, "pod", "pods"),
                    facts::seconds(w.first),
                    cell(&w.message)
                )
            })
        })
        .collect();
    if !waits.is_empty() {
        let _ = writeln!(b, "\n{}", waits.join("\n"));
    }
    b.push_str("\nAssumptions:\n");
    for a in &r.assumptions {
        let _ = writeln!(b, "- {}", cell(a));
    }
    details(out, &format!("Timeline (rehearsed: {})", facts::seconds(r.total_seconds)), &b);
}

fn notes(out: &mut String, plan: &UpgradePlan) {
    let list: Vec<_> = facts::findings(plan, Severity::Info).collect();
    if list.is_empty() {
        return;
    }
    let body: Vec<String> = list.iter().map(|f| format!("- {} {}", code(&f.code), cell(&f.message))).collect();
    details(out, "Notes", &(body.join("\n") + "\n"));
}
