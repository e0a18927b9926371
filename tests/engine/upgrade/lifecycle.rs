//! Pause and resume, rollback from mid-drain, two agents racing for the lease, and crash safety: the
//! engine killed at every phase boundary and at points inside a batch, then resumed by another agent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use poolshift::engine::{EngineError, Outcome, StepPoint};
use poolshift::model::checkpoint::Phase;
use poolshift::ports::LockError;
use poolshift::ports::report::Event;
use poolshift_provider_api::Provider;

use super::harness::{policy, rig, scenario};

fn cluster() -> String {
    scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 8, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}, ready_delay: 4s}
  - {kind: StatefulSet, name: db, namespace: data, replicas: 2, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}
  - {kind: DaemonSet, name: agent, namespace: kube-system, requests: {cpu: 10m, memory: 16Mi}}",
        "",
    )
}

const MOVABLE: usize = 10;

#[tokio::test(start_paused = true)]
async fn pause_from_another_process_then_resume() {
    let r = rig(&cluster());
    let plan = r.plan(&policy()).await;
    let agent = r.session("agent-1");
    let engine = agent.engine.clone();
    let run = tokio::spawn(async move { engine.start(plan).await });
    r.wait_for_event(|e| matches!(e, Event::PodEvicted { .. })).await;
    r.session("operator").engine.request_pause().await.unwrap();
    let out = run.await.unwrap().unwrap();
    let Outcome::Paused(reason) = out else { panic!("{out:?}") };
    assert!(reason.contains("operator"), "{reason}");
    let moved_before = r.evicted_events();
    assert!(moved_before < MOVABLE, "paused before the end ({moved_before})");
    r.assert_safe();

    let out = r.session("agent-2").engine.resume().await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert_eq!(r.evicted_events(), MOVABLE, "no pod evicted twice across the pause");
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn rollback_from_mid_drain_restores_blue() {
    let r = rig(&cluster());
    let provider = poolshift_provider_sim::SimProvider::new(r.client.clone());
    let prior = provider.describe_pool("blue").await.unwrap().autoscaling;
    let plan = r.plan(&policy()).await;
    let engine = r.session("agent-1").engine.clone();
    let run = tokio::spawn(async move { engine.start(plan).await });
    r.wait_for_event(|e| matches!(e, Event::PodMoved { .. })).await;
    r.session("operator").engine.request_pause().await.unwrap();
    assert!(matches!(run.await.unwrap().unwrap(), Outcome::Paused(_)));

    let out = r.session("operator").engine.rollback().await.unwrap();
    assert_eq!(out, Outcome::RolledBack);
    assert_eq!(r.pools(), vec!["blue".to_string()], "green deleted");
    assert_eq!(r.workload_pods_on("blue").len(), MOVABLE);
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(r.client.clone());
    for n in nodes.list(&Default::default()).await.unwrap() {
        assert_ne!(n.spec.and_then(|s| s.unschedulable), Some(true), "blue node left cordoned");
    }
    assert_eq!(provider.describe_pool("blue").await.unwrap().autoscaling, prior, "autoscaling restored exactly");
    r.assert_safe_evicting_from(&["blue", "blue-v1-31-4"]);
}

#[tokio::test(start_paused = true)]
async fn a_second_agent_is_refused_with_the_holder_and_its_age() {
    let r = rig(&cluster());
    let plan = r.plan(&policy()).await;
    let engine = r.session("agent-A").engine.clone();
    let first = tokio::spawn({
        let plan = plan.clone();
        async move { engine.start(plan).await }
    });
    r.wait_for_event(|e| matches!(e, Event::Phase { phase: Phase::WaitingGreenReady })).await;
    let err = r.session("agent-B").engine.start(plan).await.unwrap_err();
    let EngineError::Lock(LockError::Held { holder, .. }) = &err else { panic!("{err}") };
    assert_eq!(holder, "agent-A");
    assert!(err.to_string().contains("agent-A"), "{err}");
    assert!(matches!(first.await.unwrap().unwrap(), Outcome::Done(_)));
    assert_eq!(r.pools().len(), 1);
    r.assert_safe();
}

/// Runs with a hook that stops the engine (without releasing anything, like `kill -9`) at the `n`-th point
/// matching `at`; then another agent resumes after the lease expired.
async fn crash_then_resume(at: impl Fn(&StepPoint) -> bool + Send + Sync + 'static, n: usize) -> Option<String> {
    let r = rig(&cluster());
    let plan = r.plan(&policy()).await;
    let mut agent = r.session("doomed");
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    agent.engine.hook = Some(Arc::new(move |p: &StepPoint| !(at(p) && s.fetch_add(1, Ordering::SeqCst) + 1 == n)));
    let first = agent.engine.start(plan).await;
    let crashed_at = match first {
        Err(EngineError::Halted(p)) => p,
        Ok(Outcome::Done(_)) => return None, // fewer such points than n: nothing to test
        other => panic!("unexpected first run: {other:?}"),
    };
    // The crashed agent's lease has to expire before anyone else may run.
    let err = r.session("rescuer").engine.resume().await.unwrap_err();
    assert!(matches!(err, EngineError::Lock(LockError::Held { .. })), "{err}");
    tokio::time::sleep(Duration::from_secs(31)).await;
    let out = r.session("rescuer").engine.resume().await.unwrap();
    let Outcome::Done(summary) = out else { panic!("after crash at {crashed_at}: {out:?}") };
    // Pods moved before the crash count too.
    assert_eq!(summary.moved, MOVABLE as u64, "pods moved (crash at {crashed_at})");
    assert_eq!(r.checkpoint().await.moved, MOVABLE as u64);
    // The rescuer says whose run it took over.
    let took = r.reporter.matching(|e| matches!(e, Event::TookOver { previous, .. } if previous == "doomed"));
    assert_eq!(took.len(), 1, "crash at {crashed_at}");
    assert!(
        r.checkpoint()
            .await
            .history
            .iter()
            .any(|h| h.message.starts_with("rescuer took over from doomed, whose lease expired at "))
    );
    assert_eq!(r.pools(), vec!["blue-v1-31-4".to_string()], "one green pool, blue deleted (crash at {crashed_at})");
    assert_eq!(
        r.evicted_events(),
        MOVABLE,
        "no pod evicted twice, no finished batch re-drained (crash at {crashed_at})"
    );
    assert_eq!(r.workload_pods_on("blue-v1-31-4").len(), MOVABLE);
    r.assert_safe();
    Some(crashed_at)
}

#[tokio::test(start_paused = true)]
async fn crash_at_every_phase_boundary_then_resume() {
    let mut crashed = Vec::new();
    for n in 1..=12 {
        match crash_then_resume(|p| matches!(p, StepPoint::Saved(_)), n).await {
            Some(at) => crashed.push(at),
            None => break,
        }
    }
    // CreatingGreen, WaitingGreenReady, Validating, CordoningBlue, 2 batches, PoolSoaking, DeletingBlue, Done.
    assert!(crashed.len() >= 8, "{crashed:?}");
}

#[tokio::test(start_paused = true)]
async fn crash_inside_a_batch_then_resume() {
    for n in [1, 4, 7, 10] {
        assert!(crash_then_resume(|p| matches!(p, StepPoint::Evicted { .. }), n).await.is_some(), "eviction {n}");
    }
}
