//! `KubeCluster`: paginated snapshot, cordon, eviction, delete.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use poolshift::kube::{KubeCluster, RUN_LABEL};
use poolshift::ports::{Cluster, ClusterError, EvictOutcome, PodRef};
use serde_json::json;

use super::{full_sim, namespace, node, obj, pod, pod_json, sim};

fn list_requests(sim: &kubesim::Simulator, resource: &str) -> u64 {
    sim.store().lock().recorder.requests.get(&format!("list {resource}")).copied().unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn snapshot_pages_through_every_list_and_resolves_workloads() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    for n in ["n2", "n1"] {
        node(&client, n).await;
    }
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let sel = json!({"matchLabels": {"app": "web"}});
    let tpl =
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}});
    let d = deploys
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "web"}, "spec": {"replicas": 1201, "selector": sel, "template": tpl}})),
        )
        .await
        .unwrap();
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "shop");
    let owner = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d.metadata.uid, "controller": true}]);
    let rs = rss
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "web-abc", "ownerReferences": owner},
                        "spec": {"replicas": 1201, "selector": sel, "template": tpl}})),
        )
        .await
        .unwrap();
    let rs_uid = rs.metadata.uid.clone().unwrap();
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "shop");
    let db = sts
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "db"}, "spec": {"replicas": 1, "serviceName": "db",
                        "selector": {"matchLabels": {"app": "db"}},
                        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "db:1"}]}}}})),
        )
        .await
        .unwrap();
    // 1201 web pods and one db pod: three pages of 500.
    for i in 0..1201 {
        let n = if i % 2 == 0 { "n1" } else { "n2" };
        pod(
            &client,
            "shop",
            pod_json(&format!("web-abc-{i:04}"), n, Some(("ReplicaSet", "web-abc", &rs_uid)), json!({"app": "web"})),
        )
        .await;
    }
    let db_uid = db.metadata.uid.clone().unwrap();
    pod(&client, "shop", pod_json("db-0", "n1", Some(("StatefulSet", "db", &db_uid)), json!({"app": "db"}))).await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "shop");
    pdbs.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1, "selector": sel}})),
    )
    .await
    .unwrap();

    let before = list_requests(&sim, "pods");
    let snap = KubeCluster::new(client.clone()).snapshot().await.unwrap();
    assert_eq!(list_requests(&sim, "pods") - before, 3, "1202 pods in pages of 500");
    assert_eq!(snap.pods.len(), 1202);
    assert_eq!(snap.server_version, "v1.31.4");
    assert_eq!(snap.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["n1", "n2"]);
    assert_eq!(snap.nodes[0].labels.get("pool").map(String::as_str), Some("blue"));
    let web = snap.pods.iter().find(|p| p.name == "web-abc-0007").unwrap();
    assert_eq!(
        (web.node.as_deref(), web.workload.as_ref().map(ToString::to_string).as_deref()),
        (Some("n2"), Some("Deployment/web"))
    );
    let db = snap.pods.iter().find(|p| p.name == "db-0").unwrap();
    assert_eq!(db.workload.as_ref().map(ToString::to_string).as_deref(), Some("StatefulSet/db"));
    assert_eq!(snap.pdbs.len(), 1);
    assert_eq!(snap.pdbs[0].key(), "shop/web");
    assert_eq!(snap.scales.get("Deployment/shop/web"), Some(&1201));
    assert_eq!(snap.scales.get("ReplicaSet/shop/web-abc"), Some(&1201));
    assert_eq!(snap.scales.get("StatefulSet/shop/db"), Some(&1));

    // A smaller page size: more pages, same content.
    let before = list_requests(&sim, "pods");
    let again = KubeCluster::new(client).with_page_size(100).snapshot().await.unwrap();
    assert_eq!(list_requests(&sim, "pods") - before, 13);
    assert_eq!(again, snap);
}

#[tokio::test(start_paused = true)]
async fn cordon_and_uncordon_are_idempotent_and_label_the_run() {
    let sim = sim();
    let client = sim.client();
    node(&client, "n1").await;
    let nodes: Api<Node> = Api::all(client.clone());
    let cluster = KubeCluster::new(client.clone());
    let label = |n: &Node| n.metadata.labels.as_ref().and_then(|l| l.get(RUN_LABEL)).cloned();
    let unschedulable = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);

    for _ in 0..2 {
        cluster.set_cordon("n1", true, "run-7").await.unwrap();
        let n = nodes.get("n1").await.unwrap();
        assert!(unschedulable(&n));
        assert_eq!(label(&n).as_deref(), Some("run-7"));
        assert_eq!(n.metadata.labels.as_ref().unwrap().get("pool").map(String::as_str), Some("blue"));
    }
    for _ in 0..2 {
        cluster.set_cordon("n1", false, "run-7").await.unwrap();
        let n = nodes.get("n1").await.unwrap();
        assert!(!unschedulable(&n));
        assert_eq!(label(&n), None);
        assert_eq!(n.metadata.labels.as_ref().unwrap().get("pool").map(String::as_str), Some("blue"));
    }
    let err = cluster.set_cordon("ghost", true, "run-7").await.unwrap_err();
    assert!(matches!(err, ClusterError::Api { code: 404, .. }), "{err}");
    assert!(err.to_string().contains("node ghost"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn delete_pod_keeps_the_grace_period_and_respects_the_uid() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    node(&client, "n1").await;
    let p = pod(&client, "shop", pod_json("web-1", "n1", None, json!({}))).await;
    let cluster = KubeCluster::new(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");

    // Another pod now carries the name: nothing to do, and nothing done.
    let other = PodRef { namespace: "shop".into(), name: "web-1".into(), uid: "not-this-one".into() };
    cluster.delete_pod(&other).await.unwrap();
    assert!(pods.get("web-1").await.unwrap().metadata.deletion_timestamp.is_none());

    let me = PodRef { namespace: "shop".into(), name: "web-1".into(), uid: p.metadata.uid.clone().unwrap() };
    cluster.delete_pod(&me).await.unwrap();
    let gone = pods.get("web-1").await.unwrap();
    assert!(gone.metadata.deletion_timestamp.is_some());
    assert_eq!(gone.metadata.deletion_grace_period_seconds, Some(30), "the pod's own grace period, never 0");
    // Missing altogether: also fine.
    let missing = PodRef { namespace: "shop".into(), name: "nope".into(), uid: "x".into() };
    cluster.delete_pod(&missing).await.unwrap();
}

/// Needs the simulator's eviction handler and controllers (other branches): run after merging. Two bare, Ready
/// pods under `minAvailable: 1` (an integer: bare pods need no scale lookup): one disruption allowed.
#[tokio::test(start_paused = true)]
async fn evict_against_simulator_needs_merge() {
    let sim = full_sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    namespace(&client, "other").await;
    node(&client, "n1").await;
    let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch_status(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let mut refs = Vec::new();
    for name in ["web-1", "web-2"] {
        let p = pod(&client, "shop", pod_json(name, "n1", None, json!({"app": "web"}))).await;
        pods.patch_status(name, &PatchParams::default(), &Patch::Merge(ready.clone())).await.unwrap();
        refs.push(PodRef { namespace: "shop".into(), name: name.into(), uid: p.metadata.uid.unwrap() });
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "shop");
    pdbs.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})),
    )
    .await
    .unwrap();
    // Wait (virtual time) for the disruption controller to allow one disruption.
    for _ in 0..120 {
        let pdb = pdbs.get("web").await.unwrap();
        if pdb.status.as_ref().is_some_and(|s| s.disruptions_allowed == Some(1)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let cluster = KubeCluster::new(client.clone());

    assert_eq!(cluster.evict(&refs[0], true).await.unwrap(), EvictOutcome::Evicted);
    assert!(pods.get("web-1").await.unwrap().metadata.deletion_timestamp.is_none(), "dry run changes nothing");
    assert_eq!(cluster.evict(&refs[0], false).await.unwrap(), EvictOutcome::Evicted);
    match cluster.evict(&refs[1], false).await.unwrap() {
        EvictOutcome::Budget { message, .. } => assert!(message.contains("The disruption budget web"), "{message}"),
        other => panic!("expected a budget refusal, got {other:?}"),
    }
    let missing = PodRef { namespace: "shop".into(), name: "nope".into(), uid: "x".into() };
    assert_eq!(cluster.evict(&missing, false).await.unwrap(), EvictOutcome::Gone);
    // No PDB, stale UID: the delete's precondition fails, the pod we meant is gone.
    pod(&client, "other", pod_json("solo", "n1", None, json!({}))).await;
    let stale = PodRef { namespace: "other".into(), name: "solo".into(), uid: "old-uid".into() };
    assert_eq!(cluster.evict(&stale, false).await.unwrap(), EvictOutcome::Gone);
}
