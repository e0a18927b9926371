//! The guided stop's menu: what the operator sees at a stop point and what each answer does. Pure: the
//! operator gate (`operator.rs`) shows the texts and reads the answers.

use crate::model::checkpoint::{BatchState, Checkpoint};
use crate::model::plan::Disposition;
use crate::model::stop::StopPoint;
use crate::ports::gate::Verdict;

/// The line of choices under every stop.
pub const CHOICES: &str =
    "[c] continue  [p] pause  [r] roll back  [b] show blockers  [v] show the plan  [n] show the current batch";

/// What an answer at the menu leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Show this text and ask again.
    Show(String),
    /// Ask to confirm the rollback.
    ConfirmRollback,
    /// Leave the stop with this verdict.
    Decide(Verdict),
}

/// The answer `key` (as typed, trimmed) at `at`.
pub fn reply(key: &str, at: StopPoint, cp: &Checkpoint) -> Reply {
    match key.trim().to_ascii_lowercase().as_str() {
        "c" | "continue" => Reply::Decide(Verdict::Pass),
        "p" | "pause" => Reply::Decide(Verdict::Pause { reason: format!("paused by the operator at the stop {at}") }),
        "r" | "rollback" | "roll back" => Reply::ConfirmRollback,
        "b" | "blockers" => Reply::Show(blockers(cp)),
        "v" | "plan" => Reply::Show(crate::cli::plan::summary(&cp.plan)),
        "n" | "batch" => Reply::Show(current_batch(at, cp)),
        "" => Reply::Show(format!("choose one: {CHOICES}\n")),
        other => Reply::Show(format!("\"{other}\" is not a choice: {CHOICES}\n")),
    }
}

/// The answer to "roll back?": yes rolls back, anything else returns to the menu.
pub fn confirm_rollback(answer: &str, at: StopPoint) -> Option<Verdict> {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
        .then(|| Verdict::RollBack { reason: format!("rollback chosen by the operator at the stop {at}") })
}

/// The rollback question.
pub fn rollback_question(cp: &Checkpoint) -> String {
    format!(
        "Roll back pool {}: uncordon blue, move the pods back, delete green pool {}? [y/N] ",
        cp.pool, cp.green.name
    )
}

/// The header of a stop: where the run stands.
pub fn header(at: StopPoint, cp: &Checkpoint) -> String {
    let planned = cp.plan.to_evict();
    let mut out = format!("\n== stop: {at} (pool {}, run {}) ==\n", cp.pool, cp.run_id);
    out.push_str(&format!(
        "  {} -> {} on green pool {}; {} of {planned} pods moved\n",
        cp.plan.blue.version, cp.plan.target.version, cp.green.name, cp.moved
    ));
    let next = match at {
        StopPoint::GreenReady => "next: validate green, then cordon blue and drain the first batch".to_string(),
        StopPoint::BeforeFirstBatch => {
            format!("next: cordon every blue node, then drain batch 1 of {}", cp.batches.len())
        }
        StopPoint::AfterBatch { batch, of } if batch + 1 < of => format!("next: drain batch {} of {of}", batch + 2),
        StopPoint::AfterBatch { .. } => {
            format!("next: the pool soak ({}s), then blue is deleted", cp.plan.policy.pool_soak.as_secs())
        }
        StopPoint::BeforeBlueDeletion => {
            format!("next: delete blue pool {} (the last point a rollback is possible)", cp.pool)
        }
    };
    out.push_str(&format!("  {next}\n"));
    let quarantined = &cp.quarantined;
    if !quarantined.is_empty() {
        out.push_str(&format!("  quarantined (left cordoned with their pods): {}\n", quarantined.join(", ")));
    }
    out
}

/// The pods that did not move or will not: stuck pods of the run's batches, and the plan's blocked pods.
pub fn blockers(cp: &Checkpoint) -> String {
    let mut out = String::new();
    for b in &cp.batches {
        for x in &b.blockers {
            let pdb = x.pdb.as_ref().map(|p| format!(", PDB {p}")).unwrap_or_default();
            let node = if x.node.is_empty() { String::new() } else { format!(" on {}", x.node) };
            out.push_str(&format!("  batch {}: {}{node}{pdb}: {}\n", b.index + 1, x.pod, x.reason));
        }
    }
    for p in cp.plan.blocked() {
        if let Disposition::Blocked(reason) = &p.disposition {
            out.push_str(&format!("  planned as blocked: {} on {}: {reason}\n", p.key(), p.node));
        }
    }
    if out.is_empty() { "blockers: none\n".to_string() } else { format!("blockers:\n{out}") }
}

/// The batch the stop is about: the one about to drain (or, after the last, the one just done).
pub fn current_batch(at: StopPoint, cp: &Checkpoint) -> String {
    let of = cp.batches.len();
    let i = match at {
        StopPoint::GreenReady | StopPoint::BeforeFirstBatch => 0,
        StopPoint::AfterBatch { batch, .. } if batch + 1 < of => batch + 1,
        StopPoint::AfterBatch { batch, .. } => batch,
        StopPoint::BeforeBlueDeletion => of.saturating_sub(1),
    };
    let Some(progress) = cp.batches.get(i) else { return "no batches: blue has no nodes to drain\n".into() };
    let state = match progress.state {
        BatchState::Pending => "not started",
        BatchState::Draining => "draining",
        BatchState::Soaking => "soaking",
        BatchState::Done => "done",
        BatchState::Quarantined => "quarantined",
    };
    let mut out = format!("batch {} of {of} ({state}): nodes {}\n", i + 1, cp.batch_nodes(i).join(", "));
    match cp.plan.batches.get(i) {
        Some(planned) => {
            for p in &planned.pods {
                let what = match &p.disposition {
                    Disposition::Evict => "evict".to_string(),
                    Disposition::Blocked(reason) => format!("blocked: {reason}"),
                    Disposition::Skip(why) => format!("stays ({why:?})"),
                    Disposition::WaitForCompletion => "waits until it finishes".to_string(),
                };
                out.push_str(&format!("  {} on {}: {what}\n", p.key(), p.node));
            }
        }
        None => out.push_str("  (blue nodes that joined after planning: their pods are read when it drains)\n"),
    }
    if progress.moved > 0 {
        out.push_str(&format!("  moved so far: {}\n", progress.moved));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::{Blocker, Phase};
    use crate::model::identity::{PodKey, Subject};

    fn checkpoint() -> Checkpoint {
        let plan: crate::model::plan::UpgradePlan =
            serde_json::from_str(include_str!("../../../tests/golden/demo.json")).expect("the golden plan");
        let mut cp = Checkpoint::new("run-1", plan, "2026-12-01T10:00:00Z");
        cp.phase = Phase::Draining { batch: 1, of: 5 };
        cp
    }

    #[test]
    fn every_answer_and_what_it_does() {
        let cp = checkpoint();
        let at = StopPoint::AfterBatch { batch: 0, of: 5 };
        assert_eq!(reply("c", at, &cp), Reply::Decide(Verdict::Pass));
        assert_eq!(reply(" Continue ", at, &cp), Reply::Decide(Verdict::Pass));
        assert_eq!(
            reply("p", at, &cp),
            Reply::Decide(Verdict::Pause { reason: "paused by the operator at the stop after batch 1 of 5".into() })
        );
        assert_eq!(reply("r", at, &cp), Reply::ConfirmRollback);
        let Reply::Show(plan) = reply("v", at, &cp) else { panic!("the plan is shown") };
        assert!(plan.starts_with("plan: cluster "), "{plan}");
        let Reply::Show(batch) = reply("n", at, &cp) else { panic!("the batch is shown") };
        assert!(batch.starts_with("batch 2 of 5 (not started): nodes "), "{batch}");
        let Reply::Show(help) = reply("x", at, &cp) else { panic!("help is shown") };
        assert!(help.contains("\"x\" is not a choice") && help.contains("[c] continue"), "{help}");
        assert_eq!(
            confirm_rollback("y", at),
            Some(Verdict::RollBack { reason: "rollback chosen by the operator at the stop after batch 1 of 5".into() })
        );
        assert_eq!(confirm_rollback("", at), None);
        assert_eq!(confirm_rollback("no", at), None);
    }

    #[test]
    fn blockers_list_stuck_and_planned_ones() {
        let mut cp = checkpoint();
        cp.batches[0].blockers.push(Blocker {
            pod: Subject::Pod(PodKey::new("shop", "legacy-0")),
            node: "node-3".into(),
            pdb: None,
            reason: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        });
        let text = blockers(&cp);
        assert!(text.contains("batch 1: shop/legacy-0 on node-3: Cannot evict pod"), "{text}");
        let planned = cp.plan.blocked().count();
        assert_eq!(text.matches("planned as blocked:").count(), planned, "{text}");
        cp.batches[0].blockers.clear();
        cp.plan.batches.iter_mut().for_each(|b| b.pods.retain(|p| p.disposition == Disposition::Evict));
        assert_eq!(blockers(&cp), "blockers: none\n");
    }

    #[test]
    fn the_header_says_what_comes_next() {
        let cp = checkpoint();
        let h = header(StopPoint::AfterBatch { batch: 4, of: 5 }, &cp);
        assert!(h.contains("== stop: after batch 5 of 5"), "{h}");
        assert!(h.contains("next: the pool soak"), "{h}");
        let h = header(StopPoint::BeforeBlueDeletion, &cp);
        assert!(h.contains("the last point a rollback is possible"), "{h}");
    }
}
