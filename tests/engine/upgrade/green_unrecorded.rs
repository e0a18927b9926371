//! The agent killed after the provider accepted the green pool but before the checkpoint recorded it: the
//! checkpoint says "not created" while the pool exists. Rollback, abort and resume all ask the provider.

use std::sync::Arc;
use std::time::Duration;

use poolshift::engine::{EngineError, LeaseAfterAbort, LeftBehind, Outcome, StepPoint};
use poolshift::model::checkpoint::{Phase, RunStatus};
use poolshift::ports::report::Event;
use poolshift_provider_api::PoolState;

use super::harness::{Rig, policy, rig, scenario};

const GREEN: &str = "blue-v1-31-4";

fn cluster() -> String {
    scenario(
        2,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 4, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        "",
    )
}

/// Starts a run that dies (like kill -9: no save, no release) right after the provider accepted green, and
/// waits until its lease has expired.
async fn killed_after_green_accepted() -> Rig {
    let r = rig(&cluster());
    let plan = r.plan(&policy()).await;
    let mut agent = r.session("doomed");
    agent.engine.hook = Some(Arc::new(|p: &StepPoint| *p != StepPoint::GreenAccepted));
    let err = agent.engine.start(plan).await.unwrap_err();
    assert!(matches!(err, EngineError::Halted(_)), "{err}");
    let cp = r.checkpoint().await;
    assert_eq!(cp.phase, Phase::CreatingGreen);
    assert!(!cp.green.created, "the checkpoint never learnt of green");
    assert!(r.pools().contains(&GREEN.to_string()), "but the provider has it: {:?}", r.pools());
    tokio::time::sleep(Duration::from_secs(31)).await;
    r
}

#[tokio::test(start_paused = true)]
async fn rollback_deletes_the_green_pool_the_checkpoint_did_not_record() {
    let r = killed_after_green_accepted().await;
    let out = r.session("operator").engine.rollback().await.unwrap();
    assert_eq!(out, Outcome::RolledBack);
    assert_eq!(r.pools(), vec!["blue".to_string()], "green is really deleted, not only said to be");
    let cp = r.checkpoint().await;
    assert_eq!(cp.status, RunStatus::RolledBack);
    assert!(cp.history.iter().any(|h| h.message.contains("had not recorded")), "{:?}", cp.history);
    r.assert_safe_evicting_from(&["blue", GREEN]);
}

#[tokio::test(start_paused = true)]
async fn abort_reports_the_green_pool_and_clears_the_dead_agents_lease() {
    let r = killed_after_green_accepted().await;
    let operator = r.session("operator");
    let report = operator.engine.abort().await.unwrap();
    assert!(
        report.left.iter().any(|l| matches!(l, LeftBehind::GreenPool { name, recorded: false, .. } if name == GREEN)),
        "{report:?}"
    );
    let LeaseAfterAbort::ClearedExpired { previous } = &report.lease else { panic!("{report:?}") };
    assert_eq!(previous.holder, "doomed");
    assert_eq!(operator.engine.lock.holder().await.unwrap(), None, "no lease is left behind");
    let cp = r.checkpoint().await;
    assert_eq!(cp.status, RunStatus::Aborted);
    assert!(cp.green.created, "the checkpoint now records the green pool the run left");
    // Abort changes nothing: green is still there.
    assert!(r.pools().contains(&GREEN.to_string()));
}

#[tokio::test(start_paused = true)]
async fn resume_adopts_the_green_pool_and_says_so() {
    let r = killed_after_green_accepted().await;
    let out = r.session("rescuer").engine.resume().await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert!(r.reporter.matching(|e| matches!(e, Event::GreenCreated { .. })).is_empty(), "nothing was created");
    let adopted = r.reporter.matching(|e| matches!(e, Event::GreenAdopted { .. }));
    assert!(
        matches!(&adopted[..], [Event::GreenAdopted { pool, state: PoolState::Creating | PoolState::Ready }] if pool == GREEN),
        "{adopted:?}"
    );
    let took = r.reporter.matching(|e| matches!(e, Event::TookOver { .. }));
    assert!(
        matches!(&took[..], [Event::TookOver { previous, expired_at: Some(_), since: Some(_), .. }] if previous == "doomed"),
        "{took:?}"
    );
    assert_eq!(r.pools(), vec![GREEN.to_string()]);
    r.assert_safe();
}
