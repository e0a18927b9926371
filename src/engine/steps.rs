//! Pure phase logic: the order of phases, what each implies about the cluster, what comes next.

use crate::model::checkpoint::{BatchState, Checkpoint, Phase, RollbackStep};
use crate::model::stop::StopPoint;

/// Rollback is possible until blue deletion starts: in phase `DeletingBlue`, only while the run stands at
/// its stop point before the deletion (the pass is saved before blue is touched). A checkpoint that records
/// no stop point at all was written before they existed: its `DeletingBlue` may have started.
pub fn can_roll_back(cp: &Checkpoint) -> bool {
    match cp.phase {
        Phase::DeletingBlue => !cp.passed.is_empty() && !cp.passed.contains(&StopPoint::BeforeBlueDeletion),
        Phase::Done | Phase::RolledBack => false,
        _ => true,
    }
}

/// Blue nodes may be cordoned in this phase (for reports and abort).
pub fn blue_cordoned(phase: &Phase) -> bool {
    matches!(phase, Phase::CordoningBlue | Phase::Draining { .. } | Phase::PoolSoaking | Phase::DeletingBlue)
        || matches!(phase, Phase::RollingBack { step: RollbackStep::UncordonBlue })
}

/// The phase after draining batch `i` (or after cordoning, with `i = None`).
pub fn after_batch(cp: &Checkpoint, done: Option<usize>) -> Phase {
    let of = cp.batches.len();
    let next = done.map_or(0, |i| i + 1);
    match (next..of).find(|i| !matches!(cp.batches[*i].state, BatchState::Done | BatchState::Quarantined)) {
        Some(i) => Phase::Draining { batch: i, of },
        None => Phase::PoolSoaking,
    }
}

pub fn next_rollback_step(step: RollbackStep) -> Option<RollbackStep> {
    use RollbackStep::*;
    match step {
        UncordonBlue => Some(CordonGreen),
        CordonGreen => Some(DrainGreen),
        DrainGreen => Some(DeleteGreen),
        DeleteGreen => Some(RestoreAutoscaling),
        RestoreAutoscaling => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(phase: Phase, passed: &[StopPoint]) -> Checkpoint {
        let plan: crate::model::plan::UpgradePlan =
            serde_json::from_str(include_str!("../../tests/golden/demo.json")).expect("the golden plan");
        let mut cp = Checkpoint::new("run-1", plan, "2026-12-01T10:00:00Z");
        cp.phase = phase;
        cp.passed = passed.to_vec();
        cp
    }

    #[test]
    fn rollback_window_closes_when_blue_deletion_starts() {
        let before = [StopPoint::GreenReady, StopPoint::BeforeFirstBatch];
        assert!(can_roll_back(&at(Phase::Draining { batch: 2, of: 5 }, &before)));
        assert!(can_roll_back(&at(Phase::PoolSoaking, &before)));
        // At the stop point before the deletion: still possible.
        assert!(can_roll_back(&at(Phase::DeletingBlue, &before)));
        let passed = [StopPoint::GreenReady, StopPoint::BeforeBlueDeletion];
        assert!(!can_roll_back(&at(Phase::DeletingBlue, &passed)));
        // Written before stop points existed: the deletion may have started.
        assert!(!can_roll_back(&at(Phase::DeletingBlue, &[])));
        assert!(!can_roll_back(&at(Phase::Done, &before)));
        assert!(!can_roll_back(&at(Phase::RolledBack, &before)));
    }

    #[test]
    fn rollback_steps_run_in_order() {
        let mut s = RollbackStep::UncordonBlue;
        let mut seen = vec![s];
        while let Some(n) = next_rollback_step(s) {
            seen.push(n);
            s = n;
        }
        assert_eq!(seen.len(), 5);
        assert_eq!(seen.last(), Some(&RollbackStep::RestoreAutoscaling));
    }
}
