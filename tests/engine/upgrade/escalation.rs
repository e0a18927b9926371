//! Pods that cannot move: structural PDB blocks, multi-PDB, no room on green, stuck Terminating — and the
//! escalation policy (pause, quarantine, force) applied to them.

use std::time::Duration;

use poolshift::engine::Outcome;
use poolshift::model::checkpoint::{BatchState, Phase, RunStatus};
use poolshift::model::policy::Escalation;

use super::harness::{policy, rig, scenario};

const WEB: &str = "  - {kind: Deployment, name: web, namespace: shop, replicas: 4, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}";

#[tokio::test(start_paused = true)]
async fn single_replica_min_available_one_pauses_by_default_and_never_breaks_the_budget() {
    let yaml = scenario(
        2,
        &format!(
            "{WEB}\n  - {{kind: Deployment, name: solo, namespace: fin, replicas: 1, requests: {{cpu: 100m, memory: 64Mi}}, pdb: {{min_available: 1}}}}"
        ),
        "",
    );
    let r = rig(&yaml);
    let out = r.upgrade(&policy()).await;
    let Outcome::Blocked { blockers, reason } = out else { panic!("expected Blocked, got {out:?}") };
    let b =
        blockers.iter().find(|b| b.pod.to_string().starts_with("fin/solo-")).expect("the single replica is reported");
    assert_eq!(b.pdb.as_ref().map(ToString::to_string).as_deref(), Some("fin/solo"));
    assert!(b.reason.contains("needs 1 healthy pods out of 1 expected"), "{b:?}");
    assert!(reason.contains("poolshift resume"), "{reason}");
    assert_eq!(r.workload_pods_on("blue").iter().filter(|p| p.starts_with("fin/solo-")).count(), 1, "never deleted");
    r.assert_safe();

    // The operator fixes the budget the usual way (two replicas) and resumes: the run completes.
    let deploys: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::namespaced(r.client.clone(), "fin");
    let patch = serde_json::json!({"spec": {"replicas": 2}});
    deploys.patch("solo", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    let out = r.session("agent-2").engine.resume().await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert!(r.workload_pods_on("blue").is_empty());
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn quarantine_leaves_the_node_cordoned_goes_on_and_keeps_blue() {
    let yaml = scenario(
        2,
        &format!(
            "{WEB}\n  - {{kind: Deployment, name: solo, namespace: fin, replicas: 1, requests: {{cpu: 100m, memory: 64Mi}}, pdb: {{max_unavailable: 0}}}}"
        ),
        "",
    );
    let r = rig(&yaml);
    let mut p = policy();
    p.escalation = Escalation::Quarantine;
    let out = r.upgrade(&p).await;
    let Outcome::Blocked { reason, .. } = out else {
        panic!("blue must not be deleted while a quarantined node holds workloads: {out:?}")
    };
    assert!(reason.contains("quarantined"), "{reason}");
    let st = r.session("reader").engine.store.load().await.unwrap().unwrap().checkpoint;
    assert_eq!(st.phase, Phase::DeletingBlue);
    assert_eq!(st.quarantined.len(), 1);
    assert!(st.batches.iter().any(|b| b.state == BatchState::Quarantined));
    assert!(st.batches.iter().any(|b| b.state == BatchState::Done), "the other batch went on");
    assert!(r.pools().contains(&"blue".to_string()));
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn max_unavailable_zero_and_overlapping_pdbs_are_blockers_with_the_servers_words() {
    let yaml = scenario(
        2,
        &format!(
            "{WEB}\n  - {{kind: Deployment, name: frozen, namespace: shop, replicas: 2, requests: {{cpu: 100m, memory: 64Mi}}, pdb: {{max_unavailable: 0}}}}"
        ),
        "pdbs:\n  - {name: web-extra, namespace: shop, selector: {app: web}, min_available: 1}\n",
    );
    let r = rig(&yaml);
    let plan = r.plan(&policy()).await;
    let reasons: Vec<String> = plan.blocked().map(|p| format!("{} {:?}", p.name, p.disposition)).collect();
    assert!(reasons.iter().any(|r| r.starts_with("frozen-") && r.contains("ZeroBudget")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("web-") && r.contains("MultiplePdbs")), "{reasons:?}");
    let out = r.session("agent").engine.start(plan).await.unwrap();
    let Outcome::Blocked { blockers, .. } = out else { panic!("{out:?}") };
    assert!(blockers.iter().any(|b| b.reason.contains("more than one PodDisruptionBudget")), "{blockers:?}");
    assert!(blockers.iter().any(|b| b.reason.contains("maxUnavailable is 0")), "{blockers:?}");
    assert_eq!(r.workload_pods_on("blue").len(), 6, "nothing was deleted");
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn no_room_on_green_stops_the_batch_with_the_schedulers_reason() {
    // Pods pinned to the blue pool by a nodeSelector: their replacements can never schedule on green.
    let yaml = scenario(
        2,
        "  - {kind: Deployment, name: pinned, namespace: shop, replicas: 4, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}, pool: blue}",
        "",
    );
    let r = rig(&yaml);
    let started = tokio::time::Instant::now();
    let out = r.upgrade(&policy()).await;
    let Outcome::Blocked { blockers, .. } = out else { panic!("{out:?}") };
    assert!(
        blockers.iter().any(|b| b.reason.contains("cannot be scheduled") && b.reason.contains("nodes are available")),
        "{blockers:?}"
    );
    // It stopped long before the 600 s drain timeout.
    assert!(started.elapsed() < Duration::from_secs(400), "{:?}", started.elapsed());
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn pod_stuck_terminating_is_reported_after_the_drain_timeout() {
    let yaml = scenario(2, WEB, "faults:\n  pods_stuck_terminating: [{namespace: shop, selector: \"app=web\"}]\n");
    let r = rig(&yaml);
    let mut p = policy();
    p.drain_timeout = Duration::from_secs(120);
    let out = r.upgrade(&p).await;
    let Outcome::Blocked { blockers, .. } = out else { panic!("{out:?}") };
    assert!(blockers.iter().any(|b| b.reason.contains("still terminating")), "{blockers:?}");
    let st = r.session("reader").engine.store.load().await.unwrap().unwrap().checkpoint;
    assert!(matches!(st.status, RunStatus::Blocked(_)));
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn force_deletes_stuck_pods_only_when_the_operator_enabled_it() {
    let yaml = scenario(
        2,
        &format!(
            "{WEB}\n  - {{kind: Deployment, name: frozen, namespace: fin, replicas: 1, requests: {{cpu: 100m, memory: 64Mi}}, pdb: {{max_unavailable: 0}}}}"
        ),
        "",
    );
    // Escalation force configured, but force not enabled for this run: it stops like pause, and says why.
    let r = rig(&yaml);
    let mut p = policy();
    p.escalation = Escalation::Force;
    let out = r.upgrade(&p).await;
    let Outcome::Blocked { reason, .. } = out else { panic!("{out:?}") };
    assert!(reason.contains("force was not enabled for this run"), "{reason}");
    assert_eq!(r.workload_pods_on("blue").iter().filter(|p| p.starts_with("fin/frozen-")).count(), 1);
    r.assert_safe();

    // Enabled: the stuck pod is deleted (its budget broken, by the operator's choice), and the run completes.
    let r = rig(&yaml);
    p.force_allowed = true;
    let out = r.upgrade(&p).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let st = r.session("reader").engine.store.load().await.unwrap().unwrap().checkpoint;
    assert!(st.history.iter().any(|h| h.message.starts_with("force-deleted fin/frozen-")), "{:?}", st.history);
    let rec = r.recorder();
    assert_eq!(rec.pdb_violations, 1, "the recorder counts the forced deletion: {rec:?}");
    assert_eq!(rec.lost_pods, 0, "its Deployment recreated it on green");
}
