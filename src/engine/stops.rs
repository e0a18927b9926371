//! Where the run stands between steps: the stop point its phase starts at, if it has not passed it yet.
//! Pure: the engine asks its gatekeepers (windows, gates, the guided operator) at the point this returns.

use crate::model::checkpoint::{BatchState, Checkpoint, Phase};
pub use crate::model::stop::{StopKind, StopPoint};

/// The stop point at which `cp`'s phase starts, unless the run already passed it.
///
/// - `Validating`: green is Ready ([`StopPoint::GreenReady`]);
/// - `CordoningBlue`: before the first batch;
/// - `Draining` batch i > 0 that has not started: after batch i-1 (the batch before it in the plan, done or
///   quarantined);
/// - `PoolSoaking`: after the last batch;
/// - `DeletingBlue`: before blue is deleted.
pub fn pending(cp: &Checkpoint) -> Option<StopPoint> {
    let of = cp.batches.len();
    let at = match &cp.phase {
        Phase::Validating => StopPoint::GreenReady,
        Phase::CordoningBlue => StopPoint::BeforeFirstBatch,
        Phase::Draining { batch, .. } if *batch > 0 && cp.batches.get(*batch)?.state == BatchState::Pending => {
            StopPoint::AfterBatch { batch: batch - 1, of }
        }
        Phase::PoolSoaking if of > 0 => StopPoint::AfterBatch { batch: of - 1, of },
        Phase::DeletingBlue => StopPoint::BeforeBlueDeletion,
        _ => return None,
    };
    (!cp.passed.contains(&at)).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::RollbackStep;

    fn checkpoint(phase: Phase) -> Checkpoint {
        let plan: crate::model::plan::UpgradePlan =
            serde_json::from_str(include_str!("../../tests/golden/demo.json")).expect("the golden plan");
        let mut cp = Checkpoint::new("run-1", plan, "2026-12-01T10:00:00Z");
        cp.phase = phase;
        cp
    }

    /// (phase, state of that batch, points passed before) -> the pending point.
    type Case = (Phase, Option<BatchState>, Vec<StopPoint>, Option<StopPoint>);

    #[test]
    fn the_stop_point_of_every_phase() {
        let of = checkpoint(Phase::Planned).batches.len();
        assert!(of >= 3, "the golden plan has several batches");
        let draining = |batch| Phase::Draining { batch, of };
        // (phase, state of that batch, passed before) -> point
        let cases: Vec<Case> = vec![
            (Phase::Planned, None, vec![], None),
            (Phase::CreatingGreen, None, vec![], None),
            (Phase::WaitingGreenReady, None, vec![], None),
            (Phase::Validating, None, vec![], Some(StopPoint::GreenReady)),
            (Phase::Validating, None, vec![StopPoint::GreenReady], None),
            (Phase::CordoningBlue, None, vec![StopPoint::GreenReady], Some(StopPoint::BeforeFirstBatch)),
            (draining(0), Some(BatchState::Pending), vec![], None),
            (draining(1), Some(BatchState::Pending), vec![], Some(StopPoint::AfterBatch { batch: 0, of })),
            // A batch that started (a resumed run) is past its stop point.
            (draining(1), Some(BatchState::Draining), vec![], None),
            (draining(1), Some(BatchState::Soaking), vec![], None),
            (draining(2), Some(BatchState::Pending), vec![StopPoint::AfterBatch { batch: 0, of }], {
                Some(StopPoint::AfterBatch { batch: 1, of })
            }),
            (draining(2), Some(BatchState::Pending), vec![StopPoint::AfterBatch { batch: 1, of }], None),
            (Phase::PoolSoaking, None, vec![], Some(StopPoint::AfterBatch { batch: of - 1, of })),
            (Phase::PoolSoaking, None, vec![StopPoint::AfterBatch { batch: of - 1, of }], None),
            (Phase::DeletingBlue, None, vec![], Some(StopPoint::BeforeBlueDeletion)),
            (Phase::DeletingBlue, None, vec![StopPoint::BeforeBlueDeletion], None),
            (Phase::Done, None, vec![], None),
            (Phase::RollingBack { step: RollbackStep::DrainGreen }, None, vec![], None),
            (Phase::RolledBack, None, vec![], None),
        ];
        for (phase, state, passed, want) in cases {
            let mut cp = checkpoint(phase.clone());
            if let (Phase::Draining { batch, .. }, Some(s)) = (&phase, state) {
                cp.batches[*batch].state = s;
            }
            cp.passed = passed.clone();
            assert_eq!(pending(&cp), want, "{phase} {state:?} passed {passed:?}");
        }
    }

    #[test]
    fn no_batches_means_no_after_batch_point() {
        let mut cp = checkpoint(Phase::PoolSoaking);
        cp.batches.clear();
        assert_eq!(pending(&cp), None);
    }
}
