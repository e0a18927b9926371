//! Pure decisions of the run loop: what a run does next given its checkpoint (requests from other
//! processes, the phase), and how a batch whose pods cannot move is escalated. The executor in `flow`
//! performs what these return; nothing here does I/O.

use std::collections::BTreeSet;

use super::steps;
use super::tracker::Stuck;
use crate::model::checkpoint::{Checkpoint, Phase, RollbackStep, RunStatus};
use crate::model::identity::PodKey;
use crate::model::policy::{Escalation, Policy};

/// What the run loop does before the phase's own step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// `abort` ended the run from another process: stop, leaving everything as it is.
    Aborted,
    /// A rollback was asked for and is still possible: enter the rollback.
    StartRollback,
    /// A rollback was asked for too late (blue deletion started): drop the request, say so, go on.
    IgnoreRollback,
    /// A pause request or Ctrl-C: stop at this safe point with the reason.
    Pause(String),
    /// Nothing pending: perform the phase's step.
    Proceed,
}

/// The gate for `cp`; `interrupted` is Ctrl-C (or SIGTERM) in this process. Requests are taken in order of
/// precedence: abort, rollback, pause.
pub fn gate(cp: &Checkpoint, interrupted: bool) -> Gate {
    if cp.status == RunStatus::Aborted {
        return Gate::Aborted;
    }
    let rolling_back = matches!(cp.phase, Phase::RollingBack { .. });
    if cp.requests.rollback.is_some() && !rolling_back {
        return if steps::can_roll_back(cp) { Gate::StartRollback } else { Gate::IgnoreRollback };
    }
    let finished = matches!(cp.phase, Phase::Done | Phase::RolledBack);
    if !finished {
        if let Some(r) = &cp.requests.pause {
            return Gate::Pause(format!("paused by {} at {}", r.by, r.at));
        }
        if interrupted {
            return Gate::Pause("interrupted (Ctrl-C)".to_string());
        }
    }
    Gate::Proceed
}

/// The step the run performs in its current phase (after the [`gate`] said proceed), and the phase it leads
/// to when it succeeds, where that does not depend on what the step finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do in this phase: go on to the next.
    Advance(Phase),
    /// Ask the provider for the green pool (adopting one an earlier attempt created).
    CreateGreen { then: Phase },
    /// Wait for the provider and Kubernetes to report green and its nodes Ready.
    WaitGreenReady { then: Phase },
    /// Check green (versions, labels, taints) before anything moves.
    ValidateGreen { then: Phase },
    /// Freeze blue's autoscaling and cordon every blue node; the next phase is the first batch not done.
    CordonBlue,
    /// Drain batch `batch`; the drain decides what follows.
    DrainBatch { batch: usize },
    /// Wait `duration` (reading requests), then go on.
    Soak { what: &'static str, duration: std::time::Duration, then: Phase },
    /// Delete blue once no workload pod runs on it.
    DeleteBlue { then: Phase },
    /// Perform this rollback step.
    Rollback(RollbackStep),
    /// The run is over: record this status.
    Finish(RunStatus),
}

/// The action of `cp`'s phase.
pub fn action(cp: &Checkpoint) -> Action {
    match &cp.phase {
        Phase::Planned => Action::Advance(Phase::CreatingGreen),
        Phase::CreatingGreen => Action::CreateGreen { then: Phase::WaitingGreenReady },
        Phase::WaitingGreenReady => Action::WaitGreenReady { then: Phase::Validating },
        Phase::Validating => Action::ValidateGreen { then: Phase::CordoningBlue },
        Phase::CordoningBlue => Action::CordonBlue,
        Phase::Draining { batch, .. } => Action::DrainBatch { batch: *batch },
        Phase::PoolSoaking => Action::Soak {
            what: "pool soak before deleting blue",
            duration: cp.plan.policy.pool_soak,
            then: Phase::DeletingBlue,
        },
        Phase::DeletingBlue => Action::DeleteBlue { then: Phase::Done },
        Phase::Done => Action::Finish(RunStatus::Done),
        Phase::RollingBack { step } => Action::Rollback(*step),
        Phase::RolledBack => Action::Finish(RunStatus::RolledBack),
    }
}

/// What to do with a batch whose pods cannot move now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escalate {
    /// Leave these nodes cordoned with their pods, record them, go on with the next batch.
    Quarantine { nodes: Vec<String> },
    /// Delete these pods (bypassing their budgets), then drain the batch again.
    Force { pods: Vec<PodKey> },
    /// Stop for an operator with this reason.
    Block { reason: String },
}

/// The escalation of batch `batch` (0-based) of `of` under `policy`. `timed_out` when the drain timeout
/// expired (otherwise the pods can never move as things stand).
pub fn escalate(policy: &Policy, batch: usize, of: usize, stuck: &[Stuck], timed_out: bool) -> Escalate {
    let why = if timed_out { "drain timeout reached" } else { "pods cannot be moved" };
    match policy.escalation {
        Escalation::Quarantine => {
            let nodes: BTreeSet<&str> = stuck.iter().map(|s| s.node.as_str()).filter(|n| !n.is_empty()).collect();
            Escalate::Quarantine { nodes: nodes.into_iter().map(str::to_string).collect() }
        }
        // Only pods on a node can be deleted: a replacement that cannot be scheduled has none. Deleting a pod
        // whose replacements land back on cordoned blue would only repeat.
        Escalation::Force
            if policy.force_allowed
                && stuck.iter().any(|s| !s.node.is_empty())
                && !stuck.iter().any(|s| s.landed_back) =>
        {
            Escalate::Force {
                pods: stuck.iter().filter(|s| !s.node.is_empty()).filter_map(|s| s.pod.pod().cloned()).collect(),
            }
        }
        Escalation::Force | Escalation::Pause => {
            let extra = match policy.escalation {
                Escalation::Force if !policy.force_allowed => {
                    " (escalation force is configured but force was not enabled for this run)"
                }
                Escalation::Force if stuck.iter().any(|s| s.landed_back) => {
                    " (force deletes nothing here: the replacements of these pods land back on cordoned blue)"
                }
                Escalation::Force => " (force deletes pods on nodes only; these have none)",
                _ => "",
            };
            Escalate::Block {
                reason: format!(
                    "batch {} of {of}: {why}{extra}; resolve the blockers and run `poolshift resume`, or `poolshift rollback`",
                    batch + 1
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::Request;

    fn checkpoint(phase: Phase) -> Checkpoint {
        let plan: crate::model::plan::UpgradePlan =
            serde_json::from_str(include_str!("../../tests/golden/demo.json")).expect("the golden plan");
        let mut cp = Checkpoint::new("run-1", plan, "2026-12-01T10:00:00Z");
        cp.phase = phase;
        cp
    }

    fn req() -> Option<Request> {
        Some(Request { by: "ops/1".into(), at: "2026-12-01T10:05:00Z".into() })
    }

    #[test]
    fn the_gate_for_every_phase_and_request() {
        let draining = Phase::Draining { batch: 1, of: 5 };
        let rolling = Phase::RollingBack { step: RollbackStep::DrainGreen };
        let paused = Gate::Pause("paused by ops/1 at 2026-12-01T10:05:00Z".into());
        let ctrl_c = Gate::Pause("interrupted (Ctrl-C)".into());
        // (phase, aborted, rollback asked, pause asked, Ctrl-C) -> gate
        let cases: Vec<(Phase, bool, bool, bool, bool, Gate)> = vec![
            (Phase::Planned, false, false, false, false, Gate::Proceed),
            (Phase::CreatingGreen, false, false, true, false, paused.clone()),
            (Phase::WaitingGreenReady, false, false, false, true, ctrl_c.clone()),
            (draining.clone(), false, true, false, false, Gate::StartRollback),
            (draining.clone(), false, true, true, true, Gate::StartRollback),
            (draining.clone(), true, true, true, true, Gate::Aborted),
            (Phase::PoolSoaking, false, true, false, false, Gate::StartRollback),
            (Phase::DeletingBlue, false, true, false, false, Gate::IgnoreRollback),
            (Phase::DeletingBlue, false, false, true, false, paused.clone()),
            (Phase::Done, false, false, true, true, Gate::Proceed),
            (Phase::Done, false, true, false, false, Gate::IgnoreRollback),
            (rolling.clone(), false, true, false, false, Gate::Proceed),
            (rolling.clone(), false, true, true, false, paused.clone()),
            (Phase::RolledBack, false, false, true, false, Gate::Proceed),
        ];
        for (phase, aborted, rollback, pause, interrupted, want) in cases {
            let mut cp = checkpoint(phase.clone());
            if aborted {
                cp.status = RunStatus::Aborted;
            }
            if rollback {
                cp.requests.rollback = req();
            }
            if pause {
                cp.requests.pause = req();
            }
            assert_eq!(gate(&cp, interrupted), want, "{phase} aborted={aborted} rollback={rollback} pause={pause}");
        }
        // At the stop point before blue's deletion (not passed yet), a rollback is still taken.
        let mut cp = checkpoint(Phase::DeletingBlue);
        cp.passed = vec![crate::model::stop::StopPoint::GreenReady];
        cp.requests.rollback = req();
        assert_eq!(gate(&cp, false), Gate::StartRollback);
        cp.passed.push(crate::model::stop::StopPoint::BeforeBlueDeletion);
        assert_eq!(gate(&cp, false), Gate::IgnoreRollback);
    }

    #[test]
    fn the_action_of_every_phase() {
        let soak = checkpoint(Phase::Planned).plan.policy.pool_soak;
        let cases: Vec<(Phase, Action)> = vec![
            (Phase::Planned, Action::Advance(Phase::CreatingGreen)),
            (Phase::CreatingGreen, Action::CreateGreen { then: Phase::WaitingGreenReady }),
            (Phase::WaitingGreenReady, Action::WaitGreenReady { then: Phase::Validating }),
            (Phase::Validating, Action::ValidateGreen { then: Phase::CordoningBlue }),
            (Phase::CordoningBlue, Action::CordonBlue),
            (Phase::Draining { batch: 3, of: 5 }, Action::DrainBatch { batch: 3 }),
            (
                Phase::PoolSoaking,
                Action::Soak { what: "pool soak before deleting blue", duration: soak, then: Phase::DeletingBlue },
            ),
            (Phase::DeletingBlue, Action::DeleteBlue { then: Phase::Done }),
            (Phase::Done, Action::Finish(RunStatus::Done)),
            (Phase::RollingBack { step: RollbackStep::DeleteGreen }, Action::Rollback(RollbackStep::DeleteGreen)),
            (Phase::RolledBack, Action::Finish(RunStatus::RolledBack)),
        ];
        for (phase, want) in cases {
            assert_eq!(action(&checkpoint(phase.clone())), want, "{phase}");
        }
        assert!(soak > std::time::Duration::ZERO, "the golden plan soaks: the duration is the policy's");
    }

    fn stuck(pod: &str, node: &str) -> Stuck {
        Stuck {
            pod: pod.parse().expect("a subject"),
            node: node.into(),
            pdb: None,
            reason: "budget".into(),
            landed_back: false,
        }
    }

    fn key(pod: &str) -> PodKey {
        pod.parse().expect("a pod key")
    }

    fn landed_back(pod: &str, node: &str) -> Stuck {
        Stuck { landed_back: true, ..stuck(pod, node) }
    }

    #[test]
    fn every_escalation() {
        let policy = |escalation, force_allowed| Policy { escalation, force_allowed, ..Policy::default() };
        let on_nodes = vec![stuck("a/x", "n2"), stuck("a/y", "n1"), stuck("a/z", "n2")];
        let unschedulable = vec![stuck("Deployment/a/web", "")];
        let mixed = vec![stuck("a/x", "n1"), stuck("Deployment/a/web", "")];
        let back = vec![stuck("a/x", "n1"), landed_back("a/tolerant-1", "n2")];
        let block = |why: &str, extra: &str| Escalate::Block {
            reason: format!(
                "batch 2 of 4: {why}{extra}; resolve the blockers and run `poolshift resume`, or `poolshift rollback`"
            ),
        };
        let not_enabled = " (escalation force is configured but force was not enabled for this run)";
        let cases: Vec<(Policy, &Vec<Stuck>, bool, Escalate)> = vec![
            (policy(Escalation::Pause, false), &on_nodes, false, block("pods cannot be moved", "")),
            (policy(Escalation::Pause, true), &on_nodes, true, block("drain timeout reached", "")),
            (
                policy(Escalation::Quarantine, false),
                &on_nodes,
                true,
                Escalate::Quarantine { nodes: vec!["n1".into(), "n2".into()] },
            ),
            (policy(Escalation::Quarantine, false), &unschedulable, false, Escalate::Quarantine { nodes: vec![] }),
            (policy(Escalation::Force, false), &on_nodes, true, block("drain timeout reached", not_enabled)),
            (
                policy(Escalation::Force, true),
                &on_nodes,
                true,
                Escalate::Force { pods: vec![key("a/x"), key("a/y"), key("a/z")] },
            ),
            (policy(Escalation::Force, true), &mixed, true, Escalate::Force { pods: vec![key("a/x")] }),
            (
                policy(Escalation::Force, true),
                &back,
                true,
                block(
                    "drain timeout reached",
                    " (force deletes nothing here: the replacements of these pods land back on cordoned blue)",
                ),
            ),
            (
                policy(Escalation::Quarantine, false),
                &back,
                false,
                Escalate::Quarantine { nodes: vec!["n1".into(), "n2".into()] },
            ),
            (
                policy(Escalation::Force, true),
                &unschedulable,
                false,
                block("pods cannot be moved", " (force deletes pods on nodes only; these have none)"),
            ),
        ];
        for (policy, stuck, timed_out, want) in cases {
            assert_eq!(escalate(&policy, 1, 4, stuck, timed_out), want, "{:?} {stuck:?}", policy.escalation);
        }
    }
}
