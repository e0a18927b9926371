//! Pure phase logic: the order of phases, what each implies about the cluster, what comes next.

use crate::model::checkpoint::{BatchState, Checkpoint, Phase, RollbackStep};

/// Rollback is possible until blue deletion starts.
pub fn can_roll_back(phase: &Phase) -> bool {
    !matches!(phase, Phase::DeletingBlue | Phase::Done | Phase::RolledBack)
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

    #[test]
    fn rollback_window_closes_at_blue_deletion() {
        assert!(can_roll_back(&Phase::Draining { batch: 2, of: 5 }));
        assert!(can_roll_back(&Phase::PoolSoaking));
        assert!(!can_roll_back(&Phase::DeletingBlue));
        assert!(!can_roll_back(&Phase::Done));
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
