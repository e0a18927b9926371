//! How a run ended, told to the operator with what to do next, and the exit code it maps to.

use crate::engine::Outcome;
use crate::exit::Exit;
use crate::model::checkpoint::Blocker;

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
                    "quarantined nodes left cordoned for an operator: {}\n",
                    s.quarantined.join(", ")
                ));
            }
            out
        }
        Outcome::Paused(reason) => format!(
            "paused: {reason}\n`poolshift resume {args}` continues; `poolshift rollback {args}` undoes the upgrade\n"
        ),
        Outcome::Blocked { reason, blockers } => {
            let mut out = format!("blocked: {reason}\n");
            out.push_str(&blocker_lines(blockers, "  "));
            out.push_str(&format!(
                "resolve them, then `poolshift resume {args}`; or `poolshift rollback {args}` to undo the upgrade\n"
            ));
            out
        }
        Outcome::RolledBack => format!("rolled back: pool {pool} is back in service, the green pool is deleted\n"),
        Outcome::Aborted => {
            format!("aborted: the run of pool {pool} was ended by `poolshift abort`; the cluster is left as it is\n")
        }
        Outcome::Failed(reason) => format!(
            "failed: {reason}\n`poolshift resume {args}` retries from the checkpoint; `poolshift rollback {args}` undoes the upgrade\n"
        ),
    }
}

/// One line per blocker: pod, node, PDB and the reason, each line starting with `indent`.
pub fn blocker_lines(blockers: &[Blocker], indent: &str) -> String {
    blockers
        .iter()
        .map(|b| {
            let node = if b.node.is_empty() { String::new() } else { format!(" on {}", b.node) };
            let pdb = b.pdb.as_deref().map(|p| format!(" (PDB {p})")).unwrap_or_default();
            format!("{indent}{}{node}{pdb}: {}\n", b.pod, b.reason)
        })
        .collect()
}

pub fn exit_code(outcome: &Outcome) -> Exit {
    match outcome {
        Outcome::Done(_) | Outcome::RolledBack | Outcome::Aborted => Exit::Done,
        Outcome::Paused(_) => Exit::Paused,
        Outcome::Blocked { .. } => Exit::Blocked,
        Outcome::Failed(_) => Exit::Failed,
    }
}
