//! API faults: throttling with Retry-After and server errors are answers to wait on, not failures; an error
//! that stops the run is recorded as its failure.

use std::sync::Arc;

use poolshift::engine::{EngineError, Outcome};
use poolshift::model::checkpoint::{Phase, RunStatus};
use poolshift::ports::fake::{Fault, Script, ScriptedProvider};
use poolshift_provider_api::ErrorKind;
use poolshift_provider_sim::SimProvider;

use super::harness::{policy, rig, scenario};

#[tokio::test(start_paused = true)]
async fn upgrade_completes_through_api_throttling_and_errors() {
    let yaml = scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 12, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 2}}
  - {kind: StatefulSet, name: db, namespace: data, replicas: 3, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        "faults:
  api:
    - {verbs: [create], resources: [pods/eviction], error_rate: 0.15, throttle_rate: 0.15, retry_after_seconds: 2}
    - {verbs: [patch, update, get], error_rate: 0.05}
",
    );
    let r = rig(&yaml);
    let out = r.upgrade(&policy()).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let requests = r.recorder().requests;
    let evictions: u64 = requests.iter().filter(|(k, _)| k.contains("pods/eviction")).map(|(_, v)| v).sum();
    assert!(evictions > 15, "faults made some evictions repeat: {requests:?}");
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn a_run_stopped_by_an_error_is_recorded_as_failed_and_resume_continues_it() {
    let yaml = scenario(
        2,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 4, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        "",
    );
    let r = rig(&yaml);
    let plan = r.plan(&policy()).await;
    // `freeze_autoscaling` fails for good (not a transient error: no retry).
    let script = Arc::new(Script::new());
    script.fail_from(
        "freeze_autoscaling",
        1,
        Fault::provider(ErrorKind::Failed, "the autoscaling API answered garbage"),
    );
    let broken = ScriptedProvider::new(Arc::new(SimProvider::new(r.client.clone())), script.clone());
    let broken = r.session_with("agent-1", Arc::new(broken));
    let err = broken.engine.start(plan).await.unwrap_err();
    assert!(matches!(err, EngineError::Provider(_)), "{err}");
    let cp = r.checkpoint().await;
    let RunStatus::Failed(reason) = &cp.status else { panic!("the run is recorded as failed: {:?}", cp.status) };
    assert!(reason.contains("the autoscaling API answered garbage"), "{reason}");
    assert_eq!(script.count("freeze_autoscaling"), 1, "a failure that is not transient is not retried");
    assert_eq!(cp.phase, Phase::CordoningBlue);
    assert_eq!(r.session("reader").engine.lock.holder().await.unwrap(), None, "the lease is released");

    // Once the provider works again, resume continues the failed run to the end.
    let out = r.session("agent-2").engine.resume().await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert_eq!(r.checkpoint().await.status, RunStatus::Done);
    r.assert_safe();
}

/// A right taken away from the agent, as kubesim refuses it: 403 Forbidden worded as RBAC words it.
fn refuse(r: &super::harness::Rig, verb: &str, resource: &str, watch_cut_after: Option<&str>) {
    let faults = serde_json::json!({
        "api": [{"verbs": [verb], "resources": [resource], "forbidden": true}],
        "watch_cut_after": watch_cut_after,
    });
    r.sim.store().lock().faults = serde_json::from_value(faults).expect("faults");
}

fn web(nodes: u32, extra: &str) -> String {
    scenario(
        nodes,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 8, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        extra,
    )
}

#[tokio::test(start_paused = true)]
async fn a_refused_watch_stops_the_run_naming_verb_and_resource_instead_of_waiting_on_a_stale_view() {
    let r = rig(&web(2, ""));
    let plan = r.plan(&policy()).await;
    // Listing nodes is allowed, watching them is not: the view would never see green's nodes come Ready.
    refuse(&r, "watch", "nodes", None);
    let err = r.session("agent").engine.start(plan).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::Cluster(_)), "{text}");
    assert!(text.contains("cannot watch resource \"nodes\""), "{text}");
    let cp = r.checkpoint().await;
    let RunStatus::Failed(reason) = &cp.status else { panic!("recorded as failed: {:?}", cp.status) };
    assert!(reason.contains("cannot watch resource \"nodes\""), "{reason}");
    assert!(r.cordoned().is_empty(), "nothing cordoned: {:?}", r.cordoned());

    // With the right given back, resume finishes the run.
    r.sim.store().lock().faults = Default::default();
    let out = r.session("agent-2").engine.resume().await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn a_watch_refused_mid_drain_stops_the_run_and_loses_nothing() {
    // Every watch stream ends after 20 simulated seconds and is started again, as streams end on a real server.
    let r = rig(&web(4, "faults:\n  watch_cut_after: 20s\n"));
    let plan = r.plan(&policy()).await;
    let agent = r.session("agent");
    let run = tokio::spawn(async move { agent.engine.start(plan).await });
    r.wait_for_event(|e| matches!(e, poolshift::ports::report::Event::BatchStarted { .. })).await;
    // The pods watch's next start is refused.
    refuse(&r, "watch", "pods", Some("20s"));
    let err = run.await.expect("the run's task").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot watch resource \"pods\""), "{text}");
    assert!(matches!(r.checkpoint().await.status, RunStatus::Failed(_)));
    r.assert_safe();

    r.sim.store().lock().faults = Default::default();
    let out = r.session("agent-2").engine.resume().await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    r.assert_safe();
}
