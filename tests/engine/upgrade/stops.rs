//! Stop points: the engine asks its gatekeepers at each one (after green is Ready, before the first batch,
//! after each batch, before blue is deleted) and performs their answer: pass, pause (exit 3), block with the
//! output recorded (exit 4), or roll back. A point passed is never asked again; a point where the run
//! stopped is asked again on resume.

use std::sync::Arc;

use poolshift::engine::Outcome;
use poolshift::model::checkpoint::{BatchState, Phase, RunStatus};
use poolshift::model::stop::StopPoint;
use poolshift::ports::fake::ScriptedGatekeeper;
use poolshift::ports::gate::Verdict;
use poolshift::ports::report::Event;

use super::harness::{Rig, policy, rig, scenario};

fn cluster() -> String {
    scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 6, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}
  - {kind: DaemonSet, name: agent, namespace: kube-system, requests: {cpu: 10m, memory: 16Mi}}",
        "",
    )
}

/// Every stop point of a two-batch run, in order.
fn all_points() -> Vec<StopPoint> {
    vec![
        StopPoint::GreenReady,
        StopPoint::BeforeFirstBatch,
        StopPoint::AfterBatch { batch: 0, of: 2 },
        StopPoint::AfterBatch { batch: 1, of: 2 },
        StopPoint::BeforeBlueDeletion,
    ]
}

async fn run_with(r: &Rig, keeper: &Arc<ScriptedGatekeeper>) -> Outcome {
    let plan = r.plan(&policy()).await;
    let mut agent = r.session("agent-1");
    agent.engine.gatekeepers = vec![keeper.clone()];
    agent.engine.start(plan).await.expect("engine runs")
}

async fn resume_with(r: &Rig, keeper: &Arc<ScriptedGatekeeper>) -> Outcome {
    let mut agent = r.session("agent-2");
    agent.engine.gatekeepers = vec![keeper.clone()];
    agent.engine.resume().await.expect("engine resumes")
}

fn passed_events(r: &Rig) -> Vec<StopPoint> {
    r.reporter
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::StopPassed { at, .. } => Some(at),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_run_passes_every_stop_point_once_in_order() {
    let r = rig(&cluster());
    let keeper = Arc::new(ScriptedGatekeeper::new("check"));
    let out = run_with(&r, &keeper).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert_eq!(keeper.asked(), all_points());
    assert_eq!(passed_events(&r), all_points());
    assert_eq!(r.checkpoint().await.passed, all_points());
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn without_gatekeepers_the_points_are_passed_and_reported() {
    let r = rig(&cluster());
    let out = r.upgrade(&policy()).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert_eq!(passed_events(&r), all_points());
}

#[tokio::test(start_paused = true)]
async fn a_pause_after_a_batch_stops_before_the_next_and_resume_asks_again() {
    let r = rig(&cluster());
    let after_first = StopPoint::AfterBatch { batch: 0, of: 2 };
    let keeper = Arc::new(
        ScriptedGatekeeper::new("window").answer(after_first, Verdict::Pause { reason: "window closed".into() }),
    );
    let out = run_with(&r, &keeper).await;
    assert_eq!(out, Outcome::Paused("window closed".into()));
    let cp = r.checkpoint().await;
    assert_eq!(cp.status, RunStatus::Paused("window closed".into()));
    assert_eq!(cp.phase, Phase::Draining { batch: 1, of: 2 });
    assert_eq!(cp.batches[0].state, BatchState::Done);
    assert_eq!(cp.batches[1].state, BatchState::Pending, "the next batch has not started");
    assert!(!cp.passed.contains(&after_first));
    let evicted_before = r.evicted_events();

    let out = resume_with(&r, &keeper).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let mut want = all_points();
    want.insert(3, after_first); // asked again on resume, then the rest once
    assert_eq!(keeper.asked(), want);
    assert!(r.evicted_events() > evicted_before);
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn a_failed_gate_blocks_with_its_output_recorded_and_resume_checks_again() {
    let r = rig(&cluster());
    let keeper = Arc::new(ScriptedGatekeeper::new("gate smoke").answer(
        StopPoint::GreenReady,
        Verdict::Block {
            reason: "gate smoke failed after green is Ready".into(),
            output: Some("curl: (7) connection refused\n".into()),
        },
    ));
    let out = run_with(&r, &keeper).await;
    let Outcome::Blocked { reason, blockers } = out else { panic!("{out:?}") };
    assert_eq!(reason, "gate smoke failed after green is Ready");
    assert!(blockers.is_empty());
    let cp = r.checkpoint().await;
    assert_eq!(cp.status, RunStatus::Blocked(reason));
    assert_eq!(cp.phase, Phase::Validating);
    assert!(r.cordoned().is_empty(), "nothing on blue changed");
    assert!(
        cp.history.iter().any(|h| h.message.contains("gate smoke: output:\ncurl: (7) connection refused")),
        "{:?}",
        cp.history
    );

    let out = resume_with(&r, &keeper).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert_eq!(keeper.asked().iter().filter(|p| **p == StopPoint::GreenReady).count(), 2);
}

#[tokio::test(start_paused = true)]
async fn rolling_back_before_blue_is_deleted_keeps_blue() {
    let r = rig(&cluster());
    let keeper = Arc::new(
        ScriptedGatekeeper::new("operator")
            .answer(StopPoint::BeforeBlueDeletion, Verdict::RollBack { reason: "chose roll back".into() }),
    );
    let out = run_with(&r, &keeper).await;
    assert_eq!(out, Outcome::RolledBack);
    assert_eq!(r.pools(), vec!["blue".to_string()], "green deleted, blue kept");
    assert!(r.cordoned().is_empty(), "blue uncordoned");
    assert_eq!(r.workload_pods_on("blue").len(), 6, "the workload is back on blue");
    r.assert_safe_evicting_from(&["blue", &r.checkpoint().await.green.name]);
}
