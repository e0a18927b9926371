//! The invariant recorder: PDB violations, worst moments, lost pods, evictions by pool, nodes deleted with
//! pods, API requests.

use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::json;

use crate::pdb_fixture::{PodState, assert_budget_429, assert_created, cluster};

fn grace0() -> DeleteParams {
    DeleteParams { grace_period_seconds: Some(0), ..Default::default() }
}

#[tokio::test(start_paused = true)]
async fn forced_delete_past_a_pdb_counts_a_violation() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    assert_created(&c.evict("web-0").await);
    assert_budget_429(&c.evict("web-1").await, "web-pdb", 2, 2);
    // The agent gives up on the Eviction API and deletes: 1 healthy pod left where 2 are needed.
    c.pods().delete("web-1", &DeleteParams::default()).await.unwrap();
    c.settle().await;

    let st = c.sim.store().lock();
    let rec = &st.recorder;
    assert_eq!(rec.pdb_violations(), 1);
    assert_eq!(rec.violations_of("shop/web-pdb"), 1);
    let v = &rec.violations[0];
    assert_eq!((v.pdb.as_str(), v.pod.as_str(), v.cause), ("shop/web-pdb", "shop/web-1", "delete"));
    assert_eq!((v.healthy_after, v.desired_healthy), (1, 2));
    let worst = rec.pdbs["shop/web-pdb"].worst.clone().unwrap();
    assert_eq!((worst.margin, worst.current_healthy, worst.desired_healthy), (-1, 1, 2));
    assert_eq!(rec.summary().pdb_violations, 1);
    assert_eq!(rec.deletions_by_pool.get("blue"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn allowed_evictions_never_count_as_violations() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 3).await;
    c.replicas("web", "web", Some(&rs), 3).await;
    c.pdb("web-pdb", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}})).await;
    // Move every pod to green, one at a time, waiting for each replacement.
    for i in 0..3 {
        c.pod_on(&format!("web-g{i}"), "web", Some(&rs), PodState::Ready, "green-1").await;
        assert_created(&c.evict(&format!("web-{i}")).await);
        c.pods().delete(&format!("web-{i}"), &grace0()).await.unwrap(); // the kubelet finishes it
        c.settle().await;
    }
    // Not-Ready pod let go by the unhealthy-pod policy: no budget, no violation either.
    c.set_state("web-g0", PodState::NotReady).await;
    assert_created(&c.evict("web-g0").await);

    let st = c.sim.store().lock();
    let rec = &st.recorder;
    assert_eq!(rec.pdb_violations(), 0, "{:?}", rec.violations);
    assert_eq!(rec.evictions_by_pool.get("blue"), Some(&3));
    assert_eq!(rec.evictions_outside("green"), 3);
    assert_eq!(rec.evictions_outside("blue"), 1, "the unready green pod");
    assert!(rec.lost_pods.is_empty(), "{:?}", rec.lost_pods);
    // The budget dipped to exactly its minimum while each eviction was in flight, never below.
    let worst = rec.pdbs["shop/web-pdb"].worst.clone().unwrap();
    assert_eq!(worst.margin, 0, "{worst:?}");
}

#[tokio::test(start_paused = true)]
async fn removed_pods_that_nothing_recreates_are_lost() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 2).await;
    c.replicas("web", "web", Some(&rs), 2).await;
    c.pod("bare", "bare", None, PodState::Ready).await;
    c.pod("bare-evicted", "bare", None, PodState::Ready).await;
    c.pod("done", "job", None, PodState::Succeeded).await;

    c.pods().delete("bare", &grace0()).await.unwrap();
    assert_created(&c.evict_with("bare-evicted", json!({"gracePeriodSeconds": 0}), "").await);
    c.pods().delete("done", &DeleteParams::default()).await.unwrap();
    assert_created(&c.evict_with("web-0", json!({"gracePeriodSeconds": 0}), "").await);
    // A pod terminating with a grace period is lost only once it is actually removed.
    assert_created(&c.evict("web-1").await);
    let rss: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::namespaced(c.client.clone(), "shop");
    {
        let st = c.sim.store().lock();
        let lost: Vec<(&str, &str)> = st.recorder.lost_pods.iter().map(|l| (l.pod.as_str(), l.cause)).collect();
        assert_eq!(lost, vec![("shop/bare", "delete"), ("shop/bare-evicted", "eviction")]);
    }
    // Its ReplicaSet is deleted meanwhile, then the kubelet finishes the pod: it was evicted while something
    // would replace it, so it is not a loss of the eviction.
    rss.delete("web-rs", &DeleteParams::default()).await.unwrap();
    c.sim.store().lock().remove::<k8s_openapi::api::core::v1::Pod>("shop", "web-1").unwrap();
    let st = c.sim.store().lock();
    assert_eq!(st.recorder.summary().lost_pods, 2);
}

#[tokio::test(start_paused = true)]
async fn nodes_deleted_with_workload_pods_and_the_report_endpoint() {
    let c = cluster().await;
    let rs = c.deployment("web", "web", 1).await;
    c.pod_on("web-0", "web", Some(&rs), PodState::Ready, "blue-2").await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    nodes.delete("blue-3", &DeleteParams::default()).await.unwrap(); // empty: fine
    nodes.delete("blue-2", &DeleteParams::default()).await.unwrap();
    assert_created(&c.evict("web-0").await);

    let req = http::Request::get("/sim/v1/recorder").body(kube::client::Body::empty()).unwrap();
    let resp = c.client.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let report: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(report["nodes_deleted_with_pods"], json!([{"node": "blue-2", "pool": "blue", "workload_pods": 1}]));
    let summary = &report["summary"];
    assert_eq!(summary["nodes_deleted_with_pods"], 1);
    assert_eq!(summary["pdb_violations"], 0);
    // The node is gone: its pool is no longer known.
    assert_eq!(summary["evictions_by_pool"], json!({"<none>": 1}));
    assert_eq!(summary["requests"]["create pods/eviction"], 1);
    assert_eq!(summary["requests"]["delete nodes"], 2);
    assert!(summary["total_requests"].as_u64().unwrap() >= 10);
    let text = c.sim.store().lock().recorder.summary().to_string();
    assert!(text.contains("nodes deleted with pods:   1"), "{text}");
}
