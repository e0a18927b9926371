//! How a run ended, told to the operator with what to do next, and the exit code it maps to.

use crate::engine::Outcome;
use crate::exit::Exit;
use crate::model::checkpoint::Blocker;

const PAUSE_RESUME: &str = "(runbook: pause-resume)";
const PDB_BLOCKED: &str = "(runbook: pdb-blocked)";
const LANDED_BACK: &str = "(runbook: landed-back)";
const PLAN_DRIFT: &str = "(runbook: plan-drift)";
const ROLLBACK: &str = "(runbook: rollback)";
const PERMISSIONS: &str = "(runbook: permissions)";
const WINDOWS_GATES: &str = "(runbook: windows-and-gates)";

/// The runbook for a run blocked with `reason` and `blockers`: replacements landing back on cordoned blue, a
/// batch that no longer matches the reviewed plan, a provider permission, a green pool (or a rollback) that
/// cannot go on, else pods held by their budgets or the plan's blockers.
pub fn blocked_runbook(reason: &str, blockers: &[Blocker]) -> &'static str {
    let landed = |r: &str| r.contains("landed back") || r.contains("land back");
    if blockers.iter().any(|b| landed(&b.reason)) {
        LANDED_BACK
    } else if reason.contains("no longer matches reviewed plan") {
        PLAN_DRIFT
    } else if reason.starts_with("gate ") {
        WINDOWS_GATES
    } else if reason.contains("(Permission)") {
        PERMISSIONS
    } else if blockers.is_empty() || reason.starts_with("rollback:") {
        ROLLBACK
    } else {
        PDB_BLOCKED
    }
}

/// The closing lines for `outcome` of `pool`; `args` is `-c FILE [--pool NAME]` for the hints.
pub fn render(outcome: &Outcome, pool: &str, args: &str) -> String {
    match outcome {
        Outcome::Done(s) => {
            let mut out = format!(
                "done: pool {pool} upgraded to green pool {}: {} pods moved in {} batches ({:.0}s), plan {}\n",
                s.green, s.moved, s.batches, s.seconds, s.plan_id
            );
            if !s.quarantined.is_empty() {
                out.push_str(&format!(
                    "quarantined nodes left cordoned for an operator: {} {PDB_BLOCKED}\n",
                    s.quarantined.join(", ")
                ));
            }
            out
        }
        Outcome::Paused(reason) => format!(
            "paused: {reason}\n`poolshift resume {args}` continues; `poolshift rollback {args}` undoes the upgrade {PAUSE_RESUME}\n"
        ),
        Outcome::Blocked { reason, blockers } => {
            let mut out = format!("blocked: {reason}\n");
            out.push_str(&blocker_lines(blockers, "  "));
            out.push_str(&format!(
                "resolve them, then `poolshift resume {args}`; or `poolshift rollback {args}` to undo the upgrade {}\n",
                blocked_runbook(reason, blockers)
            ));
            out
        }
        Outcome::RolledBack => format!("rolled back: pool {pool} is back in service, the green pool is deleted\n"),
        Outcome::Aborted => {
            format!(
                "aborted: the run of pool {pool} was ended by `poolshift abort`; the cluster is left as it is {ROLLBACK}\n"
            )
        }
        Outcome::Failed(reason) => format!(
            "failed: {reason}\n`poolshift resume {args}` retries from the checkpoint; `poolshift rollback {args}` undoes the upgrade {PAUSE_RESUME}\n"
        ),
    }
}

/// One line per blocker: pod, node, PDB and the reason, each line starting with `indent`.
pub fn blocker_lines(blockers: &[Blocker], indent: &str) -> String {
    blockers
        .iter()
        .map(|b| {
            let node = if b.node.is_empty() { String::new() } else { format!(" on {}", b.node) };
            let pdb = b.pdb.as_ref().map(|p| format!(" (PDB {p})")).unwrap_or_default();
            format!("{indent}{}{node}{pdb}: {}\n", b.pod, b.reason)
        })
        .collect()
}

/// The exit code `outcome` maps to.
pub fn exit_code(outcome: &Outcome) -> Exit {
    match outcome {
        Outcome::Done(_) | Outcome::RolledBack | Outcome::Aborted => Exit::Done,
        Outcome::Paused(_) => Exit::Paused,
        Outcome::Blocked { .. } => Exit::Blocked,
        Outcome::Failed(_) => Exit::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::identity::PdbKey;

    fn blocker(reason: &str) -> Blocker {
        Blocker {
            pod: "shop/web-1".parse().expect("a pod"),
            node: "blue-1".into(),
            pdb: Some(PdbKey::new("shop", "web")),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_blocked_run_names_the_runbook_for_its_cause() {
        let budget = blocker("The disruption budget web needs 2 healthy pods and has 2 currently");
        let landed = blocker("landed back on cordoned blue node blue-2 after the drain started: ...");
        let held = blocker("not evicted: replacements of shop/web land back on cordoned blue nodes ...");
        let cases: Vec<(&str, Vec<Blocker>, &str)> = vec![
            ("batch 1 of 3: drain timeout reached; resolve the blockers", vec![budget.clone()], PDB_BLOCKED),
            ("batch 1 of 3: pods cannot be moved", vec![budget.clone(), held], LANDED_BACK),
            ("batch 2 of 3: pods cannot be moved", vec![landed], LANDED_BACK),
            ("batch 2 of 3: the cluster no longer matches reviewed plan ab12: ...", vec![], PLAN_DRIFT),
            ("creating green pool g failed: eks create failed (Permission): AccessDenied", vec![], PERMISSIONS),
            ("green pool g: 1 of 3 nodes Ready after the green ready timeout", vec![], ROLLBACK),
            (
                "rollback: green pool g cannot be drained; resolve and `poolshift rollback` again",
                vec![budget],
                ROLLBACK,
            ),
        ];
        for (reason, blockers, want) in cases {
            assert_eq!(blocked_runbook(reason, &blockers), want, "{reason}");
        }
    }

    #[test]
    fn outcomes_that_wait_for_an_operator_name_a_runbook() {
        let args = "-c prod.yaml";
        let blocked =
            Outcome::Blocked { reason: "batch 1 of 2: drain timeout reached".into(), blockers: vec![blocker("x")] };
        for (outcome, id) in [
            (Outcome::Paused("paused by ops/1".into()), PAUSE_RESUME),
            (Outcome::Failed("eks delete failed".into()), PAUSE_RESUME),
            (blocked, PDB_BLOCKED),
            (Outcome::Aborted, ROLLBACK),
        ] {
            let text = render(&outcome, "workers", args);
            assert!(text.trim_end().ends_with(id), "{outcome:?}: {text}");
        }
        assert!(!render(&Outcome::RolledBack, "workers", args).contains("runbook"));
    }
}
