//! `-o text`: the report for a terminal, lines of at most 100 columns (long words aside).

use std::fmt::Write;

use super::facts::{self, Headline};
use crate::model::plan::{Severity, UpgradePlan};
use crate::model::review::VolumeSource;
use crate::text_table;

pub const WIDTH: usize = 100;

/// Word-wraps `text` to `WIDTH`: the first line starts with `first`, the others with `indent` spaces.
pub fn wrap(first: &str, indent: usize, text: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

pub fn render(plan: &UpgradePlan) -> String {
    let h = facts::headline(plan);
    let mut out = String::new();
    header(&mut out, plan, &h);
    findings(&mut out, plan);
    versions(&mut out, plan);
    green(&mut out, plan);
    capacity(&mut out, plan);
    batches(&mut out, plan);
    pdbs(&mut out, plan);
    preflight(&mut out, plan);
    timeline(&mut out, plan);
    out
}

fn header(out: &mut String, plan: &UpgradePlan, h: &Headline) {
    let _ = writeln!(
        out,
        "poolshift plan: cluster {}, pool {}: {} -> {} (plan {})",
        plan.cluster, plan.pool, plan.blue.version, plan.target.version, plan.plan_id
    );
    let verdict = if h.blocked_pods > 0 { "exit 5 (blockers)" } else { "exit 0 (no blockers)" };
    out.push_str(&wrap(
        "",
        2,
        &format!(
            "Result: {}, {}: {verdict}",
            facts::plural(h.blockers, "blocker", "blockers"),
            facts::plural(h.risks, "risk", "risks")
        ),
    ));
    let skipped: usize = plan.batches.iter().map(|b| facts::count(b, "skip")).sum();
    let waiting: usize = plan.batches.iter().map(|b| facts::count(b, "wait")).sum();
    out.push_str(&wrap(
        "  ",
        2,
        &format!(
            "{} blue nodes in {} (batch {}); {} pods to move, {} blocked, {} waited for, {} skipped",
            plan.blue_nodes.len(),
            facts::plural(plan.batches.len(), "batch", "batches"),
            facts::batch_rule(plan),
            h.to_move,
            h.blocked_pods,
            waiting,
            skipped
        ),
    ));
    out.push_str(&wrap(
        "  ",
        2,
        &format!(
            "green pool {}: {} nodes of {} in {}",
            plan.green.name,
            plan.green.size.desired,
            plan.green.instance_types.join(", "),
            if plan.green.zones.is_empty() { "(zones not reported)".into() } else { plan.green.zones.join(", ") }
        ),
    ));
}

fn findings(out: &mut String, plan: &UpgradePlan) {
    for (severity, title) in [(Severity::Blocker, "Blockers"), (Severity::Risk, "Risks"), (Severity::Info, "Notes")] {
        let list: Vec<_> = facts::findings(plan, severity).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        for f in list {
            out.push_str(&wrap("  - ", 4, &format!("{}: {}", f.code, f.message)));
            if !f.objects.is_empty() {
                let shown: Vec<&str> = f.objects.iter().take(facts::NAMES_SHOWN * 2).map(String::as_str).collect();
                let more = f.objects.len().saturating_sub(shown.len());
                let mut objects = shown.join(", ");
                if more > 0 {
                    objects.push_str(&format!(" +{more} more"));
                }
                out.push_str(&wrap("    ", 4, &objects));
            }
        }
    }
}

fn versions(out: &mut String, plan: &UpgradePlan) {
    let v = &plan.review.versions;
    let skew = &v.skew;
    let rows = vec![
        vec!["control plane".to_string(), plan.control_plane.to_string()],
        vec!["blue".into(), format!("{} (kubelet {})", plan.blue.version, facts::kubelets(&v.blue_kubelets))],
        vec![
            "target".into(),
            format!("{}: {} (policy {})", plan.target.version, plan.target.reason, plan.target.policy),
        ],
        vec!["offered".into(), facts::versions(&v.offered)],
        vec![
            "skew".into(),
            format!(
                "kubelet {} on control plane {}: {} minor(s) behind, at most {} allowed, never newer: ok",
                plan.target.version, plan.control_plane, skew.minors_behind, skew.max_behind
            ),
        ],
    ];
    out.push_str("\nVersions\n");
    for r in rows {
        out.push_str(&wrap(&format!("  {:<15}", r[0]), 17, &r[1]));
    }
}

fn green(out: &mut String, plan: &UpgradePlan) {
    let _ = writeln!(out, "\nGreen pool {}: blue's settings at the target version", plan.green.name);
    for row in facts::green_diff(plan) {
        let text =
            if row.changed() { format!("{} -> {}", row.blue, row.green) } else { format!("{} (unchanged)", row.green) };
        out.push_str(&wrap(&format!("  {:<19}", row.setting), 21, &text));
    }
}

fn capacity(out: &mut String, plan: &UpgradePlan) {
    let c = &plan.review.capacity;
    out.push_str("\nCapacity\n");
    out.push_str(&wrap(
        "  ",
        2,
        &format!(
            "Per green node: {} (blue's smallest node); DaemonSets take {} of it.",
            facts::resources(&c.per_node),
            facts::resources(&c.daemonset_overhead)
        ),
    ));
    let rows: Vec<Vec<String>> = c
        .zones
        .iter()
        .map(|z| {
            vec![
                facts::zone_name(&z.zone).to_string(),
                z.blue_nodes.to_string(),
                z.green_nodes.to_string(),
                z.moving_pods.to_string(),
                format!("{} / {}", facts::cpu(z.moving.cpu_millis), facts::cpu(z.green_free.cpu_millis)),
                format!("{} / {}", facts::gib(z.moving.memory_bytes), facts::gib(z.green_free.memory_bytes)),
                z.nodes_needed.to_string(),
            ]
        })
        .collect();
    out.push_str(&text_table::render(
        "  ",
        &["ZONE", "BLUE", "GREEN", "PODS MOVING", "CPU MOVING / FREE", "MEMORY MOVING / FREE", "NODES NEEDED"],
        &rows,
    ));
    out.push_str(&wrap(
        "  ",
        2,
        &format!(
            "Green is planned with {} nodes; {} needed zone by zone for the requests of the pods that move.",
            c.green_nodes, c.nodes_needed
        ),
    ));
    let v = &plan.review.volumes;
    let how = match v.source {
        VolumeSource::PersistentVolumes => "zones and local volumes read from the PersistentVolumes",
        VolumeSource::AssumedNodeZone => {
            "PersistentVolumes were not readable: each claim's volume is assumed to be in its pod's node zone, \
             and local volumes cannot be recognised"
        }
    };
    let problems: Vec<_> = v.claims.iter().filter(|c| c.problem.is_some()).collect();
    out.push_str(&wrap(
        "  ",
        2,
        &format!(
            "Volumes: {} of the plan's pods, {} that cannot follow to green ({how}).",
            facts::plural(v.claims.len(), "claim", "claims"),
            problems.len()
        ),
    ));
    for c in problems {
        out.push_str(&wrap(
            "    - ",
            6,
            &format!("{} claim {}: {}", c.pod, c.claim, c.problem.as_deref().unwrap_or("")),
        ));
    }
}

fn batches(out: &mut String, plan: &UpgradePlan) {
    out.push_str("\nBatches (pods by owner; -o json lists every pod)\n");
    let of = plan.batches.len();
    for b in &plan.batches {
        out.push_str(&wrap(
            &format!("  batch {} of {of}: ", b.index + 1),
            4,
            &format!("{}: {}", facts::plural(b.nodes.len(), "node", "nodes"), b.nodes.join(", ")),
        ));
        let _ = writeln!(
            out,
            "    {} to evict, {} blocked, {} waited for, {} skipped",
            facts::count(b, "evict"),
            facts::count(b, "BLOCKED"),
            facts::count(b, "wait"),
            facts::count(b, "skip")
        );
        for g in facts::groups(b) {
            out.push_str(&wrap(
                &format!("    {:<8} ", g.action),
                13,
                &format!("{} ({}): {}", g.owner, g.pods.len(), g.names(false)),
            ));
            if g.action == "BLOCKED" || g.action == "wait" {
                out.push_str(&wrap(&" ".repeat(13), 13, &g.detail));
            }
        }
    }
}

fn pdbs(out: &mut String, plan: &UpgradePlan) {
    let list = &plan.review.pdbs;
    let _ = writeln!(
        out,
        "\nPodDisruptionBudgets ({} guarding pods of the plan, or with findings)",
        facts::plural(list.len(), "budget", "budgets")
    );
    if list.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.rule.clone(),
                p.expected.to_string(),
                p.desired.to_string(),
                p.current.to_string(),
                p.allowed.to_string(),
                p.pods_in_plan.to_string(),
                if p.findings.is_empty() { "-".into() } else { p.findings.join(", ") },
            ]
        })
        .collect();
    let table =
        text_table::render("  ", &["PDB", "RULE", "PODS", "NEEDED", "HEALTHY", "ALLOWED", "PLAN", "FINDINGS"], &rows);
    if table.lines().all(|l| l.chars().count() <= WIDTH) {
        out.push_str(&wrap(
            "  ",
            2,
            "PODS: the pods it expects; NEEDED: healthy pods it needs; ALLOWED: disruptions allowed now; PLAN: \
             its pods in this plan.",
        ));
        out.push_str(&table);
    } else {
        // Long names: one entry per budget instead of a table.
        for p in list {
            out.push_str(&wrap(
                "  ",
                4,
                &format!(
                    "{}: {}; {} expected, {} needed, {} healthy, {} allowed now; {} in the plan{}",
                    p.name,
                    p.rule,
                    p.expected,
                    p.desired,
                    p.current,
                    p.allowed,
                    p.pods_in_plan,
                    if p.findings.is_empty() { String::new() } else { format!("; {}", p.findings.join(", ")) }
                ),
            ));
        }
    }
    for p in list {
        for n in &p.notes {
            out.push_str(&wrap("  - ", 4, &format!("{}: {n}", p.name)));
        }
    }
}

fn preflight(out: &mut String, plan: &UpgradePlan) {
    out.push_str("\nPreflight: each eviction of the plan sent to the API server as a dry run (dryRun=All)\n");
    let Some(p) = &plan.review.preflight else {
        out.push_str("  not checked: the plan was made offline, from a snapshot file\n");
        return;
    };
    let _ = writeln!(out, "  {} checked: {} allowed now, {} not", p.checked, p.allowed, p.refused.len());
    for g in facts::refused_groups(p) {
        let pdb = g.pdb.map(|p| format!(" (PDB {p})")).unwrap_or_default();
        out.push_str(&wrap(
            "  - ",
            4,
            &format!("{}{pdb}, {}: {}", g.answer, facts::plural(g.pods.len(), "pod", "pods"), g.message),
        ));
        out.push_str(&wrap("    ", 4, &facts::some(&g.pods, facts::NAMES_SHOWN)));
    }
    out.push_str(&wrap(
        "  ",
        2,
        "Each eviction is checked alone: a dry run consumes no budget, so evictions allowed now may still \
         wait for their turn.",
    ));
}

fn timeline(out: &mut String, plan: &UpgradePlan) {
    let Some(r) = &plan.review.rehearsal else {
        out.push_str("\nTimeline: not rehearsed (--rehearse runs the plan on a simulated copy of the cluster)\n");
        return;
    };
    out.push_str(&wrap(
        "\n",
        0,
        &format!(
            "Timeline, rehearsed by the upgrade engine on a simulated copy of the cluster in virtual time: {} in \
             total, {}",
            facts::seconds(r.total_seconds),
            r.outcome
        ),
    ));
    let rows: Vec<Vec<String>> = facts::timeline_steps(r)
        .into_iter()
        .map(|(what, start, end)| vec![what, facts::seconds(start), facts::seconds(end), facts::seconds(end - start)])
        .collect();
    out.push_str(&text_table::render("  ", &["STEP", "START", "END", "TOOK"], &rows));
    for b in &r.batches {
        for w in &b.waits {
            out.push_str(&wrap(
                "  - ",
                4,
                &format!(
                    "batch {} waited on PDB {} for {} (first refused at {}): {}",
                    b.batch,
                    w.pdb,
                    facts::plural(w.pods, "pod", "pods"),
                    facts::seconds(w.first),
                    w.message
                ),
            ));
        }
    }
    out.push_str("  Assumptions:\n");
    for a in &r.assumptions {
        out.push_str(&wrap("  - ", 4, a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_the_width_with_a_hanging_indent() {
        let text = "word ".repeat(60);
        let out = wrap("  - ", 4, &text);
        assert!(out.lines().all(|l| l.chars().count() <= WIDTH), "{out}");
        assert!(out.lines().skip(1).all(|l| l.starts_with("    word")), "{out}");
        assert_eq!(out.split_whitespace().filter(|w| *w == "word").count(), 60);
    }
}
