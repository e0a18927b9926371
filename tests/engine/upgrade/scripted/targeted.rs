//! Faults whose consequences need more than the tables' checks: a refusal that blocks before anything is
//! touched, a lease lost mid-drain, a rollback after a failed cordon, the first save or the lease failing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use poolshift::engine::{EngineError, Outcome, StepPoint};
use poolshift::model::checkpoint::{Phase, RunStatus};
use poolshift::ports::fake::Fault;
use poolshift::ports::{CheckpointStore, Lock, LockError, StoreError};
use poolshift_provider_api::ErrorKind;

use super::super::harness::policy;
use super::ports::{GREEN, Ports, cluster};

#[tokio::test(start_paused = true)]
async fn a_quota_refusal_of_the_green_pool_blocks_before_anything_is_touched() {
    let r = cluster();
    let ports = Ports::new(&r);
    ports.script.fail_from("create_pool", 1, Fault::provider(ErrorKind::Quota, "vCPU quota exceeded in eu-west-1"));
    let out = ports.engine(&r, "agent").start(r.plan(&policy()).await).await.expect("the run ends");
    let Outcome::Blocked { reason, .. } = &out else { panic!("blocked (exit 4): {out:?}") };
    assert!(reason.contains("vCPU quota exceeded"), "{reason}");
    assert_eq!(ports.script.count("create_pool"), 1, "a quota refusal is not retried");
    assert_eq!(ports.script.count("set_cordon"), 0);
    assert_eq!(ports.script.count("evict"), 0);
    assert!(r.cordoned().is_empty(), "{:?}", r.cordoned());
    assert_eq!(r.pools(), vec!["blue".to_string()], "no green pool");
    let cp = ports.checkpoint().await;
    assert!(matches!(&cp.status, RunStatus::Blocked(why) if why == reason), "{:?}", cp.status);
    assert_eq!(cp.phase, Phase::CreatingGreen);
    assert!(!cp.green.created);
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_cannot_be_renewed_mid_drain_stops_every_eviction() {
    let r = cluster();
    let ports = Ports::new(&r);
    let mut agent = ports.engine(&r, "agent");
    // From the first accepted eviction on, every renewal fails.
    let (script, armed) = (ports.script.clone(), Arc::new(AtomicBool::new(false)));
    agent.hook = Some(Arc::new(move |p: &StepPoint| {
        if matches!(p, StepPoint::Evicted { .. }) && !armed.swap(true, Ordering::SeqCst) {
            script.fail_next_all("renew", Fault::lease_lost("it is now held by thief/9"));
        }
        true
    }));
    let err = agent.start(r.plan(&policy()).await).await.expect_err("the run stops");
    assert!(matches!(err, EngineError::Lock(LockError::Lost { .. })), "{err}");
    let failed = ports.fired("renew after the first eviction");
    let first = &failed[0];
    assert_eq!(first.op, "renew");
    let evictions = ports.script.calls("evict");
    assert!(!evictions.is_empty());
    let late: Vec<_> = evictions.iter().filter(|c| c.seq > first.seq).collect();
    assert!(late.is_empty(), "evictions after the lease was lost: {late:?}");
    assert_eq!(ports.script.count("renew"), first.n, "nothing renewed again after the loss");
    let cp = ports.checkpoint().await;
    assert!(matches!(cp.phase, Phase::Draining { batch: 0, .. }), "{}", cp.phase);
    assert_eq!(cp.status, RunStatus::Running, "the lease's new holder owns the checkpoint");
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn a_failed_cordon_then_rollback_leaves_no_node_cordoned() {
    let r = cluster();
    let ports = Ports::new(&r);
    ports.script.fail_nth("set_cordon", 3, Fault::transport("connection reset by peer"));
    let err = ports.engine(&r, "agent").start(r.plan(&policy()).await).await.expect_err("the run stops");
    assert!(matches!(err, EngineError::Cluster(_)), "{err}");
    assert_eq!(r.cordoned().len(), 2, "two blue nodes were cordoned before the failure: {:?}", r.cordoned());
    let cp = ports.checkpoint().await;
    assert_eq!(cp.phase, Phase::CordoningBlue);
    assert!(matches!(cp.status, RunStatus::Failed(_)), "{:?}", cp.status);

    let out = ports.engine(&r, "operator").rollback().await.expect("rollback runs");
    assert_eq!(out, Outcome::RolledBack);
    assert!(r.cordoned().is_empty(), "nodes left cordoned: {:?}", r.cordoned());
    assert_eq!(r.pools(), vec!["blue".to_string()], "green is deleted");
    assert_eq!(ports.checkpoint().await.status, RunStatus::RolledBack);
    assert_eq!(ports.script.calls("restore_autoscaling").len(), 1, "blue's autoscaling is put back");
    r.assert_safe_evicting_from(&["blue", GREEN]);
}

#[tokio::test(start_paused = true)]
async fn a_first_save_that_fails_leaves_nothing_and_a_new_start_runs() {
    let r = cluster();
    let ports = Ports::new(&r);
    ports.script.fail_nth("save", 1, Fault::api(500, "etcdserver: request timed out"));
    let plan = r.plan(&policy()).await;
    let err = ports.engine(&r, "agent").start(plan.clone()).await.expect_err("the run cannot start");
    assert!(matches!(err, EngineError::Store(StoreError::Io { .. })), "{err}");
    assert!(ports.store.load().await.expect("reads").is_none(), "no checkpoint");
    assert_eq!(ports.script.count("create_pool"), 0);
    assert_eq!(ports.lock.holder().await.expect("lease"), None, "the lease is released");
    let err = ports.engine(&r, "agent").resume().await.expect_err("nothing to resume");
    assert!(matches!(err, EngineError::NoRun { .. }), "{err}");

    let out = ports.engine(&r, "agent").start(plan).await.expect("the run starts");
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    ports.assert_invariants(&r, "first save fails");
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_cannot_be_taken_changes_nothing() {
    let r = cluster();
    let ports = Ports::new(&r);
    ports.script.fail_nth("acquire", 1, Fault::api(503, "ServiceUnavailable"));
    let err = ports.engine(&r, "agent").start(r.plan(&policy()).await).await.expect_err("the run cannot start");
    assert!(matches!(err, EngineError::Lock(LockError::Api { .. })), "{err}");
    let touched: Vec<_> = ports.script.journal().into_iter().filter(|c| c.op != "acquire").collect();
    assert!(touched.is_empty(), "calls after the refused lease: {touched:?}");
    assert!(ports.store.saved_seqs().is_empty());
    assert_eq!(r.pools(), vec!["blue".to_string()]);
}
