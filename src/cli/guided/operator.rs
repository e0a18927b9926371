//! The operator at a terminal as a gatekeeper: at each stop point the cluster file names (all four by
//! default), shows where the run stands and asks: continue, pause, roll back, or show the blockers, the
//! plan, the current batch. A closed input or Ctrl-C at the question is a pause.

use std::sync::Arc;

use async_trait::async_trait;

use super::menu::{self, Reply};
use crate::model::stop::{StopKind, StopPoint};
use crate::ports::gate::{GateInput, Gatekeeper, Verdict};
use crate::ports::terminal::Terminal;

pub struct OperatorGate {
    terminal: Arc<dyn Terminal>,
    stops: Vec<StopKind>,
}

impl OperatorGate {
    /// Stops at the points of the kinds in `stops`.
    pub fn new(terminal: Arc<dyn Terminal>, stops: Vec<StopKind>) -> Self {
        Self { terminal, stops }
    }

    fn closed(at: StopPoint) -> Verdict {
        Verdict::Pause { reason: format!("paused at the stop {at}: no answer (input closed or Ctrl-C)") }
    }
}

#[async_trait]
impl Gatekeeper for OperatorGate {
    fn name(&self) -> String {
        "operator".into()
    }

    async fn check(&self, at: StopPoint, input: &GateInput) -> Verdict {
        if !self.stops.contains(&at.kind()) {
            return Verdict::Pass;
        }
        let cp = &input.checkpoint;
        self.terminal.say(&menu::header(at, cp));
        loop {
            let Some(answer) = self.terminal.ask(&format!("{}\n> ", menu::CHOICES)).await else {
                return Self::closed(at);
            };
            match menu::reply(&answer, at, cp) {
                Reply::Show(text) => self.terminal.say(&text),
                Reply::Decide(verdict) => return verdict,
                Reply::ConfirmRollback => {
                    let Some(answer) = self.terminal.ask(&menu::rollback_question(cp)).await else {
                        return Self::closed(at);
                    };
                    match menu::confirm_rollback(&answer, at) {
                        Some(verdict) => return verdict,
                        None => self.terminal.say("not rolled back\n"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::{Checkpoint, Phase};
    use crate::ports::fake::ScriptedTerminal;

    struct NoView;

    #[async_trait]
    impl crate::ports::LiveView for NoView {
        fn pods_on(&self, _: &str) -> Vec<Arc<crate::model::snapshot::PodInfo>> {
            Vec::new()
        }
        fn pods_of(&self, _: &crate::model::identity::WorkloadKey) -> Vec<Arc<crate::model::snapshot::PodInfo>> {
            Vec::new()
        }
        fn replicas(&self, _: &crate::model::identity::WorkloadKey) -> crate::ports::Replicas {
            Default::default()
        }
        fn pod(&self, _: &crate::model::identity::PodKey) -> Option<Arc<crate::model::snapshot::PodInfo>> {
            None
        }
        fn pdbs(&self, _: &str) -> Vec<Arc<crate::model::snapshot::PdbInfo>> {
            Vec::new()
        }
        fn nodes(&self) -> Vec<crate::model::snapshot::NodeInfo> {
            Vec::new()
        }
        fn scale(&self, _: &crate::model::identity::WorkloadKey) -> Option<i32> {
            None
        }
        async fn changed(&self) -> Result<(), crate::ports::ClusterError> {
            Ok(())
        }
    }

    fn input() -> GateInput {
        let plan: crate::model::plan::UpgradePlan =
            serde_json::from_str(include_str!("../../../tests/golden/demo.json")).expect("the golden plan");
        let mut cp = Checkpoint::new("run-1", plan, "2026-12-01T10:00:00Z");
        cp.phase = Phase::Draining { batch: 1, of: 5 };
        let matcher =
            |v: &str| poolshift_provider_api::NodeMatcher { label: "kubesim.io/pool".into(), value: v.into() };
        GateInput {
            checkpoint: cp,
            live: Arc::new(NoView),
            green: matcher("green"),
            blue: matcher("blue"),
            now: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    async fn answer(typed: &[&str], stops: &[StopKind]) -> (Verdict, String) {
        let terminal = Arc::new(ScriptedTerminal::typing(typed));
        let gate = OperatorGate::new(terminal.clone(), stops.to_vec());
        let verdict = gate.check(StopPoint::AfterBatch { batch: 0, of: 5 }, &input()).await;
        (verdict, terminal.shown())
    }

    #[tokio::test]
    async fn looks_then_continues() {
        let (verdict, shown) = answer(&["b", "n", "v", "c"], &StopKind::ALL).await;
        assert_eq!(verdict, Verdict::Pass);
        assert!(shown.contains("== stop: after batch 1 of 5"), "{shown}");
        assert!(shown.contains("blockers:"), "{shown}");
        assert!(shown.contains("batch 2 of 5 (not started)"), "{shown}");
        assert!(shown.contains("plan: cluster "), "{shown}");
        assert_eq!(shown.matches("[c] continue").count(), 4, "asked four times: {shown}");
    }

    #[tokio::test]
    async fn rollback_needs_a_yes() {
        let (verdict, shown) = answer(&["r", "n", "r", "yes"], &StopKind::ALL).await;
        assert!(matches!(verdict, Verdict::RollBack { .. }), "{verdict:?}");
        assert!(shown.contains("not rolled back"), "{shown}");
        assert_eq!(shown.matches("Roll back pool ").count(), 2, "{shown}");
    }

    #[tokio::test]
    async fn pauses_on_request_or_when_the_input_closes() {
        let (verdict, _) = answer(&["p"], &StopKind::ALL).await;
        assert!(matches!(verdict, Verdict::Pause { ref reason } if reason.contains("by the operator")), "{verdict:?}");
        let (verdict, _) = answer(&[], &StopKind::ALL).await;
        assert!(matches!(verdict, Verdict::Pause { ref reason } if reason.contains("input closed")), "{verdict:?}");
    }

    #[tokio::test]
    async fn passes_points_the_file_does_not_name_without_asking() {
        let (verdict, shown) = answer(&["p"], &[StopKind::GreenReady, StopKind::BeforeBlueDeletion]).await;
        assert_eq!(verdict, Verdict::Pass);
        assert!(shown.is_empty(), "{shown}");
    }
}
