//! Eviction API and disruption controller semantics (semantics.md §2, §3, and the scenarios of §8 that the
//! API server and controllers decide). Each test is named after its scenario number.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::{DeleteParams, EvictParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::{Value, json};

use crate::pdb_fixture::{
    Counts, NS, PodState, assert_budget_429, assert_created, assert_still_processing, cluster, counts,
};

fn disruption_target(p: &Pod) -> Option<(String, Option<String>, Option<String>)> {
    let c = p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "DisruptionTarget")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn terminating(p: &Option<Pod>) -> bool {
    p.as_ref().is_some_and(|p| p.metadata.deletion_timestamp.is_some())
}

fn uid(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap()
}

#[tokio::test(start_paused = true)]
async fn scenario_01_max_unavailable_1_allows_one_eviction_at_a_time() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(c.counts("web-pdb").await, (3, 2, 3, 1));
    assert_eq!(c.condition("web-pdb").await, ("True".into(), "SufficientPods".into(), String::new()));

    // The first eviction goes through kube-rs's own Eviction call.
    let status = c.pods().evict("web-0", &EvictParams::default()).await.unwrap();
    assert_eq!((status.status, status.code), (Some(kube::core::response::StatusSummary::Success), 201));
    c.settle().await;
    let evicted = c.pod_state("web-0").await.unwrap();
    assert!(evicted.metadata.deletion_timestamp.is_some(), "evicted pod is terminating");
    assert_eq!(
        disruption_target(&evicted),
        Some(("True".into(), Some("EvictionByEvictionAPI".into()), Some("Eviction API: evicting".into())))
    );
    // The controller saw the deletion: the disruptedPods entry is gone, the pod no longer counts.
    let s = c.status("web-pdb").await;
    assert_eq!(counts(&s), (3, 2, 2, 0));
    assert!(s.disrupted_pods.unwrap_or_default().is_empty());
    assert_eq!(c.condition("web-pdb").await.1, "InsufficientPods");

    let r = c.evict("web-1").await;
    assert_budget_429(&r, "web-pdb", 2, 2);
    assert!(!terminating(&c.pod_state("web-1").await));

    // The replacement becomes Ready on green: one disruption again.
    c.pod_on("web-3", "web", Some(&rs), PodState::Ready, "green-1").await;
    assert_eq!(c.counts("web-pdb").await, (3, 2, 3, 1));
    assert_created(&c.evict("web-1").await);
    assert!(terminating(&c.pod_state("web-1").await));
}

#[tokio::test(start_paused = true)]
async fn scenario_02_single_replica_min_available_1_blocks_forever() {
    let c = cluster().await;
    let rs = c.deployment("solo", "solo", 1).await;
    c.pod("solo-0", "solo", Some(&rs), PodState::Ready).await;
    c.pdb("solo-pdb", json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "solo"}}})).await;
    assert_eq!(c.counts("solo-pdb").await, (1, 1, 1, 0));
    assert_eq!(c.condition("solo-pdb").await.0, "False");
    for _ in 0..3 {
        assert_budget_429(&c.evict("solo-0").await, "solo-pdb", 1, 1);
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let pod = c.pod_state("solo-0").await.unwrap();
    assert!(pod.metadata.deletion_timestamp.is_none());
    assert_eq!(disruption_target(&pod), None, "a refused eviction does not mark the pod");
}

#[tokio::test(start_paused = true)]
async fn scenario_03_max_unavailable_zero_always_429() {
    let c = cluster().await;
    let rs = c.deployment("db", "db", 5).await;
    c.replicas("db", "db", Some(&rs), 5).await;
    c.pdb("db-pdb", json!({"maxUnavailable": 0, "selector": {"matchLabels": {"app": "db"}}})).await;
    assert_eq!(c.counts("db-pdb").await, (5, 5, 5, 0));
    assert_budget_429(&c.evict("db-2").await, "db-pdb", 5, 5);
    // "0%" is the same budget.
    c.pdbs()
        .patch("db-pdb", &PatchParams::default(), &Patch::Merge(json!({"spec": {"maxUnavailable": "0%"}})))
        .await
        .unwrap();
    c.settle().await;
    assert_eq!(c.counts("db-pdb").await, (5, 5, 5, 0));
    assert_budget_429(&c.evict("db-4").await, "db-pdb", 5, 5);
}

#[tokio::test(start_paused = true)]
async fn scenario_04_min_available_100_percent_during_surge_allows_one() {
    let c = cluster().await;
    let old = c.deployment("api", "api", 2).await;
    let new = c.revision("api", "api-rs2", "api", 1).await;
    c.pod("api-a", "api", Some(&old), PodState::Ready).await;
    c.pod("api-b", "api", Some(&old), PodState::Ready).await;
    c.pod("api-c", "api", Some(&new), PodState::Ready).await;
    c.pdb("api-pdb", json!({"minAvailable": "100%", "selector": {"matchLabels": {"app": "api"}}})).await;
    // Expected pods come from the Deployment's scale (2), not from the 3 pods of its two ReplicaSets.
    assert_eq!(c.counts("api-pdb").await, (2, 2, 3, 1));
    assert_created(&c.evict("api-a").await);
    assert_budget_429(&c.evict("api-b").await, "api-pdb", 2, 2);
}

#[tokio::test(start_paused = true)]
async fn scenario_05_percentages_round_up() {
    let c = cluster().await;
    let cases = [
        ("a", 5, json!({"maxUnavailable": "30%"}), (5, 3, 5, 2)),
        ("b", 5, json!({"minAvailable": "30%"}), (5, 2, 5, 3)),
        ("c", 7, json!({"minAvailable": "50%"}), (7, 4, 7, 3)),
        ("d", 3, json!({"maxUnavailable": "10%"}), (3, 2, 3, 1)),
    ];
    for (app, replicas, mut spec, expected) in cases {
        let rs = c.deployment(app, app, replicas).await;
        c.replicas(app, app, Some(&rs), replicas as usize).await;
        spec["selector"] = json!({"matchLabels": {"app": app}});
        let pdb = format!("{app}-pdb");
        c.pdb(&pdb, spec).await;
        assert_eq!(c.counts(&pdb).await, expected, "{pdb}");
        // The server's rounding decides how many evictions pass, one by one.
        let allowed = expected.3 as usize;
        for i in 0..allowed {
            assert_created(&c.evict(&format!("{app}-{i}")).await);
        }
        let (_, desired, current, _) = c.counts(&pdb).await;
        assert_eq!(current, expected.2 - allowed as i32);
        assert_budget_429(&c.evict(&format!("{app}-{allowed}")).await, &pdb, desired, current);
    }
}

#[tokio::test(start_paused = true)]
async fn scenario_06_pod_matched_by_two_pdbs_is_500() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    let other = c.deployment("cache", "cache", 2).await;
    c.replicas("cache", "cache", Some(&other), 2).await;
    c.pdb("by-app", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    c.pdb("by-expr", json!({"minAvailable": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}}))
        .await;
    let r = c.evict("web-0").await;
    assert_eq!(r.code, 500, "{:?}", r.body);
    assert_eq!(r.body["status"], "Failure");
    assert_eq!(
        r.message(),
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );
    assert_eq!(r.retry_after, None);
    assert!(!terminating(&c.pod_state("web-0").await), "not deleted");
    assert_eq!(c.counts("by-app").await.3, 1, "no budget consumed");
    // Pods of other workloads are unaffected.
    assert_created(&c.evict("cache-0").await);
}

#[tokio::test(start_paused = true)]
async fn scenario_07_pdb_not_yet_observed_is_429_with_retry_after() {
    let c = cluster().await;
    c.sim.store().lock().timing.pdb_sync_delay = Duration::from_secs(30);
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    let pdb = c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(pdb.metadata.generation, Some(1));
    assert_eq!(pdb.status.and_then(|s| s.observed_generation), None);
    let r = c.evict("web-0").await;
    assert_still_processing(&r, "web-pdb");
    assert!(!terminating(&c.pod_state("web-0").await));

    // After the Retry-After, the controller has caught up.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(c.status("web-pdb").await.observed_generation, Some(1));
    assert_created(&c.evict("web-0").await);

    // An edit of the spec puts it behind again.
    c.pdbs()
        .patch("web-pdb", &PatchParams::default(), &Patch::Merge(json!({"spec": {"maxUnavailable": 2}})))
        .await
        .unwrap();
    c.settle().await;
    assert_eq!(c.pdbs().get("web-pdb").await.unwrap().metadata.generation, Some(2));
    assert_still_processing(&c.evict("web-1").await, "web-pdb");
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(c.counts("web-pdb").await, (3, 1, 2, 1));
    assert_created(&c.evict("web-1").await);
}

#[tokio::test(start_paused = true)]
async fn scenario_08_unready_pod_with_healthy_budget_is_evicted_without_decrement() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.set_state("web-0", PodState::NotReady).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(c.counts("web-pdb").await, (3, 2, 2, 0));
    let before = c.pdbs().get("web-pdb").await.unwrap();

    assert_created(&c.evict("web-0").await);
    assert!(terminating(&c.pod_state("web-0").await));
    let after = c.pdbs().get("web-pdb").await.unwrap();
    assert_eq!(after.status, before.status, "no decrement, no disruptedPods entry");

    assert_budget_429(&c.evict("web-1").await, "web-pdb", 2, 2);
    c.pod_on("web-3", "web", Some(&rs), PodState::Ready, "green-1").await;
    assert_created(&c.evict("web-1").await);
}

#[tokio::test(start_paused = true)]
async fn scenario_08_unready_pod_with_stale_uid_is_429_not_409() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.set_state("web-0", PodState::NotReady).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    let r = c.evict_with("web-0", json!({"preconditions": {"uid": "stale-uid"}}), "").await;
    assert_still_processing(&r, "web-pdb");
    assert!(!terminating(&c.pod_state("web-0").await));
    // With the caller's own resourceVersion precondition the conflict is reported as such.
    let r = c.evict_with("web-0", json!({"preconditions": {"uid": "stale-uid", "resourceVersion": "1"}}), "").await;
    assert_eq!(r.code, 409, "{:?}", r.body);
}

#[tokio::test(start_paused = true)]
async fn scenario_09_unready_pods_with_disrupted_budget_depend_on_policy() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.set_state("web-0", PodState::NotReady).await;
    c.set_state("web-1", PodState::NotReady).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(c.counts("web-pdb").await, (3, 2, 1, 0));

    // nil policy: IfHealthyBudget behaviour.
    assert_budget_429(&c.evict("web-0").await, "web-pdb", 2, 1);
    let set_policy = |p: &'static str| {
        let pdbs = c.pdbs();
        async move {
            let patch = Patch::Merge(json!({"spec": {"unhealthyPodEvictionPolicy": p}}));
            pdbs.patch("web-pdb", &PatchParams::default(), &patch).await.unwrap();
        }
    };
    set_policy("IfHealthyBudget").await;
    c.settle().await;
    assert_budget_429(&c.evict("web-0").await, "web-pdb", 2, 1);

    set_policy("AlwaysAllow").await;
    c.settle().await;
    let before = c.status("web-pdb").await;
    assert_created(&c.evict("web-0").await);
    assert!(terminating(&c.pod_state("web-0").await));
    let after = c.pdbs().get("web-pdb").await.unwrap().status.unwrap();
    assert_eq!(counts(&after), counts(&before));
    assert!(after.disrupted_pods.unwrap_or_default().is_empty());
    // Healthy pods stay under the budget.
    assert_budget_429(&c.evict("web-2").await, "web-pdb", 2, 1);
}

#[tokio::test(start_paused = true)]
async fn scenario_10_pending_pod_bypasses_the_budget() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 2).await;
    c.pod("web-0", "web", Some(&rs), PodState::Ready).await;
    c.pod("web-1", "web", Some(&rs), PodState::Pending).await;
    c.pdb("web-pdb", json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(c.counts("web-pdb").await, (2, 2, 1, 0));
    let before = c.status("web-pdb").await;
    assert_created(&c.evict("web-1").await);
    assert!(terminating(&c.pod_state("web-1").await), "bound Pending pod gets a grace period");
    let s = c.pdbs().get("web-pdb").await.unwrap().status.unwrap();
    assert_eq!(s.disruptions_allowed, before.disruptions_allowed);
    assert!(s.disrupted_pods.unwrap_or_default().is_empty());
    assert_budget_429(&c.evict("web-0").await, "web-pdb", 2, 1);
}

#[tokio::test(start_paused = true)]
async fn scenario_11_finished_pods_are_deleted_without_budget() {
    let c = cluster().await;
    c.pod("job-ok", "batch", None, PodState::Succeeded).await;
    c.pod("job-failed", "batch", None, PodState::Failed).await;
    c.pdb("batch-pdb", json!({"minAvailable": 5, "selector": {"matchLabels": {"app": "batch"}}})).await;
    assert_eq!(c.counts("batch-pdb").await, (2, 5, 0, 0));
    for name in ["job-ok", "job-failed"] {
        assert_created(&c.evict(name).await);
        assert!(c.pod_state(name).await.is_none(), "{name}: finished pods are removed at once");
    }
}

#[tokio::test(start_paused = true)]
async fn scenario_12_terminating_pod_is_re_deleted_without_budget() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_created(&c.evict("web-0").await);
    let first = c.pod_state("web-0").await.unwrap().metadata.deletion_timestamp.unwrap();
    assert_eq!(c.counts("web-pdb").await.3, 0);
    // Evicting it again (an agent restarted mid-batch) succeeds, uses no budget, and may shorten the grace.
    let r = c.evict_with("web-0", json!({"gracePeriodSeconds": 5}), "").await;
    assert_created(&r);
    let second = c.pod_state("web-0").await.unwrap().metadata.deletion_timestamp.unwrap();
    assert!(second.0 < first.0, "grace shortened: {second:?} < {first:?}");
    assert_eq!(c.counts("web-pdb").await, (3, 2, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn scenario_16_bare_pods_under_max_unavailable_are_unmanaged() {
    let c = cluster().await;
    for i in 0..3 {
        c.pod(&format!("bare-{i}"), "bare", None, PodState::Ready).await;
    }
    c.pdb("bare-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "bare"}}})).await;
    assert_eq!(c.counts("bare-pdb").await, (0, 0, 3, 0));
    let events = c.events("bare-pdb", "UnmanagedPods").await;
    assert_eq!(events.len(), 1);
    assert!(events[0].contains("please set \".spec.minAvailable\" field of the PDB to an integer value"), "{events:?}");
    assert_budget_429(&c.evict("bare-0").await, "bare-pdb", 0, 3);
    // An integer minAvailable counts them.
    c.pdbs()
        .patch(
            "bare-pdb",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"maxUnavailable": null, "minAvailable": 2}})),
        )
        .await
        .unwrap();
    c.settle().await;
    assert_eq!(c.counts("bare-pdb").await, (3, 2, 3, 1));
    assert_created(&c.evict("bare-0").await);
}

#[tokio::test(start_paused = true)]
async fn scenario_20_recreated_statefulset_pod_rejects_stale_uid() {
    let c = cluster().await;
    let sts = c.statefulset("web", "web", 3).await;
    let old = c.replicas("web", "web", Some(&sts), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    let old_uid = uid(&old[0]);
    let r = c.evict_with("web-0", json!({"preconditions": {"uid": old_uid}}), "").await;
    assert_created(&r);
    // The old web-0 finishes terminating; the StatefulSet brings back web-0 with a new UID, Ready.
    c.pods().delete("web-0", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    let new = c.pod_on("web-0", "web", Some(&sts), PodState::Ready, "green-1").await;
    assert_ne!(uid(&new), old_uid);
    assert_eq!(c.counts("web-pdb").await, (3, 2, 3, 1));

    let r = c.evict_with("web-0", json!({"preconditions": {"uid": old_uid}}), "").await;
    assert_eq!(r.code, 409, "{:?}", r.body);
    assert_eq!(r.body["reason"], "Conflict");
    assert_eq!(
        r.message(),
        format!(
            "Operation cannot be fulfilled on Pod \"web-0\": the UID in the precondition ({old_uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
            uid(&new)
        )
    );
    let still = c.pod_state("web-0").await.unwrap();
    assert_eq!(uid(&still), uid(&new));
    assert!(still.metadata.deletion_timestamp.is_none(), "the new web-0 is untouched");
}

#[tokio::test(start_paused = true)]
async fn scenario_21_pod_held_by_finalizer_stays_terminating() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pods()
        .patch(
            "web-0",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
        )
        .await
        .unwrap();
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_created(&c.evict_with("web-0", json!({"gracePeriodSeconds": 0}), "").await);
    tokio::time::sleep(Duration::from_secs(600)).await;
    let held = c.pod_state("web-0").await.expect("the finalizer keeps the object");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(c.counts("web-pdb").await, (3, 2, 2, 0));
    assert_created(&c.evict("web-0").await);
    assert_eq!(c.counts("web-pdb").await, (3, 2, 2, 0), "re-eviction uses no budget");
}

#[tokio::test(start_paused = true)]
async fn scenario_22_pods_of_unreachable_node_lower_current_healthy() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await; // web-0 on blue-1, web-1 on blue-2, web-2 on blue-3
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    // blue-1 stops reporting: its pod turns NotReady.
    c.set_state("web-0", PodState::NotReady).await;
    assert_eq!(c.counts("web-pdb").await, (3, 2, 2, 0));
    assert_budget_429(&c.evict("web-1").await, "web-pdb", 2, 2);
    // The unready pod itself may go (budget still healthy: 2 >= 2).
    assert_created(&c.evict("web-0").await);
}

#[tokio::test(start_paused = true)]
async fn scenario_25_no_pdb_every_eviction_succeeds() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    for i in 0..3 {
        assert_created(&c.evict(&format!("web-{i}")).await);
        assert!(terminating(&c.pod_state(&format!("web-{i}")).await));
    }
}

#[tokio::test(start_paused = true)]
async fn scenario_26_scale_up_with_unready_pods_blocks_evictions() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(c.counts("web-pdb").await, (3, 2, 3, 1));
    c.scale("deployments", "web", 5).await;
    c.pod_on("web-3", "web", Some(&rs), PodState::Pending, "green-1").await;
    c.pod_on("web-4", "web", Some(&rs), PodState::NotReady, "green-1").await;
    assert_eq!(c.counts("web-pdb").await, (5, 4, 3, 0));
    assert_budget_429(&c.evict("web-0").await, "web-pdb", 4, 3);
    c.set_state("web-3", PodState::Ready).await;
    c.set_state("web-4", PodState::Ready).await;
    assert_eq!(c.counts("web-pdb").await, (5, 4, 5, 1));
    assert_created(&c.evict("web-0").await);
}

#[tokio::test(start_paused = true)]
async fn scenario_28_rollout_surge_pods_count_toward_current_healthy() {
    let c = cluster().await;
    let old = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&old), 3).await;
    let new = c.revision("web", "web-rs2", "web", 2).await;
    c.pod_on("web-new-0", "web", Some(&new), PodState::Ready, "green-1").await;
    c.pod_on("web-new-1", "web", Some(&new), PodState::NotReady, "green-1").await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    // Both ReplicaSets collapse to the Deployment's scale (3); the Ready surge pod is healthy.
    assert_eq!(c.counts("web-pdb").await, (3, 2, 4, 2));
    assert_created(&c.evict("web-0").await);
    assert_created(&c.evict("web-1").await);
    assert_budget_429(&c.evict("web-2").await, "web-pdb", 2, 2);
}

#[tokio::test(start_paused = true)]
async fn scenario_29_parallel_evictions_race_for_the_last_disruption() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(c.counts("web-pdb").await.3, 1);
    let (a, b) = tokio::join!(c.evict("web-0"), c.evict("web-1"));
    let mut codes = [a.code, b.code];
    codes.sort();
    assert_eq!(codes, [201, 429], "exactly one wins: {:?} / {:?}", a.body, b.body);
    let loser = if a.code == 429 { &a } else { &b };
    // The loser read the budget the winner decremented; the controller may not have recounted yet.
    assert_eq!(loser.cause().0, "DisruptionBudget");
    assert!(
        loser.cause().1.starts_with("The disruption budget web-pdb needs 2 healthy pods and has "),
        "{:?}",
        loser.body
    );
    assert_eq!(loser.retry_after, None);
    let gone = [c.pod_state("web-0").await, c.pod_state("web-1").await].iter().filter(|p| terminating(p)).count();
    assert_eq!(gone, 1);
}

#[tokio::test(start_paused = true)]
async fn scenario_30_budget_leaks_through_disrupted_pods_for_two_minutes() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    // Approved, then the delete fails on a stale UID: the budget is consumed anyway.
    let r = c.evict_with("web-0", json!({"preconditions": {"uid": "0000-stale"}}), "").await;
    assert_eq!(r.code, 409, "{:?}", r.body);
    assert!(r.message().contains("the UID in the precondition (0000-stale) does not match the UID in record"));
    let pod = c.pod_state("web-0").await.unwrap();
    assert!(pod.metadata.deletion_timestamp.is_none() && disruption_target(&pod).is_none());
    let s = c.status("web-pdb").await;
    assert!(s.disrupted_pods.as_ref().unwrap().contains_key("web-0"));
    // §3.5 last row: a pod just evicted (< 2 min, not terminating) is not counted healthy.
    assert_eq!(counts(&s), (3, 2, 2, 0));
    assert_budget_429(&c.evict("web-1").await, "web-pdb", 2, 2);

    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_budget_429(&c.evict("web-1").await, "web-pdb", 2, 2);
    tokio::time::sleep(Duration::from_secs(21)).await;
    let s = c.status("web-pdb").await;
    assert!(s.disrupted_pods.as_ref().is_none_or(|d| d.is_empty()));
    assert_eq!(counts(&s), (3, 2, 3, 1));
    let events = c.events("web-0", "NotDeleted").await;
    assert_eq!(events, vec!["Pod was expected by PDB shop/web-pdb to be deleted but it wasn't".to_string()]);
    assert_created(&c.evict("web-1").await);
}

#[tokio::test(start_paused = true)]
async fn scenario_31_stale_uid_on_healthy_pod_with_exhausted_budget_is_429() {
    let c = cluster().await;
    let rs = c.deployment("solo", "solo", 1).await;
    c.pod("solo-0", "solo", Some(&rs), PodState::Ready).await;
    c.pdb("solo-pdb", json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "solo"}}})).await;
    let r = c.evict_with("solo-0", json!({"preconditions": {"uid": "not-the-uid"}}), "").await;
    assert_budget_429(&r, "solo-pdb", 1, 1);
}

#[tokio::test(start_paused = true)]
async fn scenario_33_namespace_terminating_is_403() {
    let c = cluster().await;
    let nss: Api<Namespace> = Api::all(c.client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "closing", "finalizers": ["example.com/hold"]}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "closing");
    let p: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"nodeName": "blue-1", "containers": [{"name": "c", "image": "i"}]}}),
    )
    .unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    nss.delete("closing", &DeleteParams::default()).await.unwrap();
    let err = pods.evict("p", &EvictParams::default()).await.unwrap_err();
    let kube::Error::Api(s) = err else { panic!("not an API error") };
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        s.message,
        "pods \"p\" is forbidden: unable to create new content in namespace closing because it is being terminated"
    );
    let cause = &s.details.unwrap().causes[0];
    assert_eq!((cause.reason.as_str(), cause.field.as_str()), ("NamespaceTerminating", "metadata.namespace"));
}

#[tokio::test(start_paused = true)]
async fn scenario_40_job_pods_under_max_unavailable_fail_the_sync() {
    let c = cluster().await;
    let job = k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: "nightly".into(),
        uid: "11111111-2222-4333-8444-555555555555".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    c.pod("nightly-a", "nightly", Some(&job), PodState::Ready).await;
    c.pod("nightly-b", "nightly", Some(&job), PodState::Ready).await;
    c.pdb("nightly-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "nightly"}}})).await;
    let s = c.status("nightly-pdb").await;
    assert_eq!(s.disruptions_allowed, Some(0));
    assert_eq!(s.observed_generation, None, "failSafe does not advance observedGeneration");
    assert_eq!(
        c.condition("nightly-pdb").await,
        ("False".into(), "SyncFailed".into(), "jobs.batch does not implement the scale subresource".into())
    );
    let ev = c.events("nightly-pdb", "CalculateExpectedPodCountFailed").await;
    assert_eq!(
        ev,
        vec!["Failed to calculate the number of expected pods: jobs.batch does not implement the scale subresource"]
    );
    // Never synced: every eviction is "still being processed".
    assert_still_processing(&c.evict("nightly-a").await, "nightly-pdb");
}

#[tokio::test(start_paused = true)]
async fn scenario_41_orphaned_pods_fail_the_sync_and_block() {
    let c = cluster().await;
    let rs = c.replicaset("web-rs", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": "34%", "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(c.counts("web-pdb").await, (3, 1, 3, 2));
    // The ReplicaSet is deleted; nothing collects its pods.
    let rss: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::namespaced(c.client.clone(), NS);
    rss.delete("web-rs", &DeleteParams::default()).await.unwrap();
    c.settle().await;
    assert_eq!(
        c.condition("web-pdb").await,
        ("False".into(), "SyncFailed".into(), "found no controllers for pod \"web-0\"".into())
    );
    let s = c.status("web-pdb").await;
    assert_eq!(counts(&s), (3, 1, 3, 0), "failSafe zeroes disruptionsAllowed only");
    assert_budget_429(&c.evict("web-1").await, "web-pdb", 1, 3);
}

#[tokio::test(start_paused = true)]
async fn scenario_42_empty_selector_selects_the_namespace_and_null_selects_nothing() {
    let c = cluster().await;
    let web = c.deployment("web", "web", 2).await;
    c.replicas("web", "web", Some(&web), 2).await;
    let cache = c.deployment("cache", "cache", 2).await;
    c.replicas("cache", "cache", Some(&cache), 2).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    c.pdb("everything", json!({"minAvailable": 3, "selector": {}})).await;
    assert_eq!(c.counts("everything").await, (4, 3, 4, 1));
    // web pods are covered twice: 500. cache pods only by `{}`.
    assert_eq!(c.evict("web-0").await.code, 500);
    assert_created(&c.evict("cache-0").await);
    assert_budget_429(&c.evict("cache-1").await, "everything", 3, 3);

    // A null selector matches nothing, in the controller and in the eviction.
    c.pdbs().delete("everything", &DeleteParams::default()).await.unwrap();
    c.pdb("nothing", json!({"minAvailable": 1})).await;
    assert_eq!(c.counts("nothing").await, (0, 1, 0, 0));
    assert_eq!(c.events("nothing", "NoPods").await, vec!["No matching pods found".to_string()]);
    assert_created(&c.evict("cache-1").await);
}

#[tokio::test(start_paused = true)]
async fn scenario_43_pdb_without_min_or_max_allows_nothing() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"selector": {"matchLabels": {"app": "web"}}})).await;
    assert_eq!(c.counts("web-pdb").await, (0, 0, 3, 0));
    assert_budget_429(&c.evict("web-0").await, "web-pdb", 0, 3);
}

/// semantics.md §3.5: every row of the worked examples.
#[tokio::test(start_paused = true)]
async fn worked_examples_of_section_3_5() {
    let c = cluster().await;
    let rows: Vec<(&str, i32, usize, Value, Counts)> = vec![
        ("r1", 3, 3, json!({"minAvailable": 2}), (3, 2, 3, 1)),
        ("r2", 1, 1, json!({"minAvailable": 1}), (1, 1, 1, 0)),
        ("r3", 5, 5, json!({"maxUnavailable": 0}), (5, 5, 5, 0)),
        ("r3p", 5, 5, json!({"maxUnavailable": "0%"}), (5, 5, 5, 0)),
        ("r5", 5, 5, json!({"maxUnavailable": "30%"}), (5, 3, 5, 2)),
        ("r6", 5, 5, json!({"minAvailable": "30%"}), (5, 2, 5, 3)),
        ("r7", 7, 7, json!({"minAvailable": "50%"}), (7, 4, 7, 3)),
        ("r8", 3, 3, json!({"maxUnavailable": "10%"}), (3, 2, 3, 1)),
        // Deploy 2 during a surge: 3 Ready pods.
        ("r9", 2, 3, json!({"minAvailable": "100%"}), (2, 2, 3, 1)),
    ];
    for (app, replicas, pods, mut spec, want) in rows {
        let rs = c.deployment(app, app, replicas).await;
        c.replicas(app, app, Some(&rs), pods).await;
        spec["selector"] = json!({"matchLabels": {"app": app}});
        c.pdb(app, spec).await;
        assert_eq!(c.counts(app).await, want, "row {app}");
    }
    // Deploy 5, maxUnavailable 1, one pod NotReady.
    let rs = c.deployment("r4", "r4", 5).await;
    c.replicas("r4", "r4", Some(&rs), 5).await;
    c.set_state("r4-2", PodState::NotReady).await;
    c.pdb("r4", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "r4"}}})).await;
    assert_eq!(c.counts("r4").await, (5, 4, 4, 0));
    // Deploy 3 + 1 leftover Failed pod, integer minAvailable: every selected pod counts as expected.
    let rs = c.deployment("r10", "r10", 3).await;
    c.replicas("r10", "r10", Some(&rs), 3).await;
    c.pod("r10-old", "r10", Some(&rs), PodState::Failed).await;
    c.pdb("r10", json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "r10"}}})).await;
    assert_eq!(c.counts("r10").await, (4, 2, 3, 1));
    // 3 bare pods.
    for i in 0..3 {
        c.pod(&format!("r11-{i}"), "r11", None, PodState::Ready).await;
    }
    c.pdb("r11", json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "r11"}}})).await;
    assert_eq!(c.counts("r11").await, (3, 2, 3, 1));
    c.pdb("r12", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "r11"}}})).await;
    assert_eq!(c.counts("r12").await, (0, 0, 3, 0));
    // StatefulSet scale.
    let sts = c.statefulset("r13", "r13", 4).await;
    c.replicas("r13", "r13", Some(&sts), 3).await;
    c.pdb("r13", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "r13"}}})).await;
    assert_eq!(c.counts("r13").await, (4, 3, 3, 0));
}

#[tokio::test(start_paused = true)]
async fn dry_run_evictions_check_everything_and_change_nothing() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    let before = c.pdbs().get("web-pdb").await.unwrap();
    let pod_before = c.pod_state("web-0").await.unwrap();

    assert_created(&c.evict_with("web-0", Value::Null, "?dryRun=All").await);
    assert_created(&c.evict_with("web-1", json!({"dryRun": ["All"]}), "").await);
    assert_created(&c.evict_with("web-1", json!({"dryRun": ["All"]}), "?dryRun=All").await);
    let after = c.pdbs().get("web-pdb").await.unwrap();
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "PDB untouched");
    let pod_after = c.pod_state("web-0").await.unwrap();
    assert_eq!(pod_after.metadata.resource_version, pod_before.metadata.resource_version, "pod untouched");
    assert_eq!(disruption_target(&pod_after), None);

    // A dry run still answers what a real eviction would: a stale UID is a conflict.
    let r = c.evict_with("web-0", json!({"dryRun": ["All"], "preconditions": {"uid": "x"}}), "").await;
    assert_eq!(r.code, 409);
    let r = c.evict_with("web-0", json!({"dryRun": ["Nope"]}), "?dryRun=All").await;
    assert_eq!(r.code, 400, "{:?}", r.body);

    // Exhausted budget: the dry run gets the same 429.
    assert_created(&c.evict("web-0").await);
    assert_budget_429(&c.evict_with("web-1", Value::Null, "?dryRun=All").await, "web-pdb", 2, 2);
    let recorded = c.sim.store().lock().recorder.requests.clone();
    // Requests are counted as dry-run by their query (the body-only ones are not).
    assert_eq!(recorded.get("create pods/eviction (dry-run)"), Some(&4));
}

#[tokio::test(start_paused = true)]
async fn eviction_request_validation_and_not_found() {
    let c = cluster().await;
    c.pod("lonely", "lonely", None, PodState::Ready).await;
    let r = c.evict("nope").await;
    assert_eq!((r.code, r.message()), (404, "pods \"nope\" not found"));
    let r = c
        .post_eviction(
            "lonely",
            json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}),
            "",
        )
        .await;
    assert_eq!((r.code, r.message()), (400, "name in URL does not match name in Eviction object"));
    let r =
        c.post_eviction("lonely", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely"}}), "").await;
    assert_eq!(r.code, 400);
    // policy/v1beta1 bodies are still accepted.
    let r = c
        .post_eviction(
            "lonely",
            json!({"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": "lonely"}}),
            "",
        )
        .await;
    assert_created(&r);
}

/// §2.6: a DisruptionTarget condition without deletion is reset after two minutes.
#[tokio::test(start_paused = true)]
async fn stale_disruption_target_is_reset_after_two_minutes() {
    let c = cluster().await;
    c.pod("web-0", "web", None, PodState::Ready).await;
    let cond = json!({"status": {"conditions": [
        {"type": "Ready", "status": "True"},
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    ]}});
    c.pods().patch_status("web-0", &PatchParams::default(), &Patch::Merge(cond)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(disruption_target(&c.pod_state("web-0").await.unwrap()).unwrap().0, "True");
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(disruption_target(&c.pod_state("web-0").await.unwrap()), Some(("False".into(), None, None)));
}

/// The refusals the eviction handler gives on a corrupt budget status (403), checked on the store directly.
#[tokio::test(start_paused = true)]
async fn negative_budget_and_oversized_disrupted_pods_are_403() {
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kubesim::store::objects::{DeleteOpts, Part};

    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    let mut st = c.sim.store().lock();
    let mut pdb = (*st.get::<PodDisruptionBudget>(NS, "web-pdb").unwrap()).clone();
    pdb.status.as_mut().unwrap().disruptions_allowed = Some(-1);
    let pdb = st.update(pdb, Part::Status, false).unwrap();
    let e = st.evict(NS, "web-0", &DeleteOpts::default()).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (403, "poddisruptionbudget.policy \"web-pdb\" is forbidden: pdb disruptions allowed is negative")
    );
    let mut pdb = (*pdb).clone();
    let s = pdb.status.as_mut().unwrap();
    s.disruptions_allowed = Some(1);
    s.disrupted_pods = Some((0..2001).map(|i| (format!("gone-{i}"), Time(st.now))).collect());
    st.update(pdb, Part::Status, false).unwrap();
    let e = st.evict(NS, "web-0", &DeleteOpts::default()).unwrap_err();
    assert_eq!(e.code, 403);
    assert!(e.message.ends_with("DisruptedPods map too big - too many evictions not confirmed by PDB controller"));
}

/// The eviction's DeleteOptions reach the DELETE: grace period and a caller's resourceVersion precondition.
#[tokio::test(start_paused = true)]
async fn eviction_passes_delete_options_through() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    let pods = c.replicas("web", "web", Some(&rs), 3).await;
    assert_created(&c.evict_with("web-0", json!({"gracePeriodSeconds": 0}), "").await);
    assert!(c.pod_state("web-0").await.is_none());

    let rv = pods[1].metadata.resource_version.clone().unwrap();
    c.set_state("web-1", PodState::Ready).await; // moves its resourceVersion
    let r = c.evict_with("web-1", json!({"preconditions": {"resourceVersion": rv}}), "").await;
    assert_eq!(r.code, 409, "{:?}", r.body);
    assert!(r.message().contains("the ResourceVersion in the precondition"), "{}", r.message());

    // kube-rs's `EvictParams::delete_options` is sent as `delete_options` (snake case), a field the API server
    // does not know and ignores: the stale precondition does not reach the server, the eviction goes through.
    let dp = DeleteParams {
        preconditions: Some(Preconditions { uid: Some("stale".into()), resource_version: None }),
        ..Default::default()
    };
    let status =
        c.pods().evict("web-2", &EvictParams { delete_options: Some(dp), ..Default::default() }).await.unwrap();
    assert_eq!(status.code, 201);
}
