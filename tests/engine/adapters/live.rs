//! The watch-fed live cache behind `KubeCluster::live()`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kubesim::store::objects::Part;
use poolshift::kube::KubeCluster;
use poolshift::model::identity::{PodKey, WorkloadKey};
use poolshift::ports::{Cluster, LiveView};
use serde_json::json;

use super::{namespace, node, obj, pod, pod_json, sim};

fn wk(s: &str) -> WorkloadKey {
    s.parse().expect("a workload key")
}

/// Waits (virtual time, bounded) until `cond` holds on the live view, re-checking after each change.
async fn eventually(live: &Arc<dyn LiveView>, what: &str, cond: impl Fn(&dyn LiveView) -> bool) {
    let wait = async {
        while !cond(live.as_ref()) {
            live.changed().await.expect("the view follows the cluster");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), wait).await.unwrap_or_else(|_| panic!("never happened: {what}"));
}

fn names(pods: Vec<Arc<poolshift::model::snapshot::PodInfo>>) -> Vec<String> {
    pods.into_iter().map(|p| p.name.clone()).collect()
}

/// Namespace `shop`, nodes n1 and n2, Deployment `web` with ReplicaSet `web-abc` (pods web-abc-1 on n1,
/// web-abc-2 on n2), a bare ReplicaSet `solo` with pod solo-1 on n1, a PDB. Returns the ReplicaSet's UID.
async fn cluster_with_workloads(client: &kube::Client) -> String {
    namespace(client, "shop").await;
    node(client, "n1").await;
    node(client, "n2").await;
    let sel = json!({"matchLabels": {"app": "web"}});
    let tpl =
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}});
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let d = deploys
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": sel, "template": tpl}})),
        )
        .await
        .unwrap();
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "shop");
    let owner = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d.metadata.uid, "controller": true}]);
    let rs = rss
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "web-abc", "ownerReferences": owner},
                        "spec": {"replicas": 2, "selector": sel, "template": tpl}})),
        )
        .await
        .unwrap();
    let solo = rss
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "solo"}, "spec": {"replicas": 1, "selector": sel, "template": tpl}})),
        )
        .await
        .unwrap();
    let uid = rs.metadata.uid.unwrap();
    pod(client, "shop", pod_json("web-abc-1", "n1", Some(("ReplicaSet", "web-abc", &uid)), json!({"app": "web"})))
        .await;
    pod(client, "shop", pod_json("web-abc-2", "n2", Some(("ReplicaSet", "web-abc", &uid)), json!({"app": "web"})))
        .await;
    let solo_uid = solo.metadata.uid.unwrap();
    pod(client, "shop", pod_json("solo-1", "n1", Some(("ReplicaSet", "solo", &solo_uid)), json!({"app": "solo"})))
        .await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "shop");
    pdbs.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1, "selector": sel}})),
    )
    .await
    .unwrap();
    uid
}

#[tokio::test(start_paused = true)]
async fn live_view_starts_once_and_follows_creates_updates_and_deletes() {
    let sim = sim();
    let client = sim.client();
    let rs_uid = cluster_with_workloads(&client).await;
    let cluster = KubeCluster::new(client.clone());
    let live = cluster.live().await.unwrap();
    let again = cluster.live().await.unwrap();
    assert!(std::ptr::addr_eq(Arc::as_ptr(&live), Arc::as_ptr(&again)), "one cache per cluster");

    // The first list is complete when live() returns.
    assert_eq!(names(live.pods_on("n1")), ["solo-1", "web-abc-1"]);
    assert_eq!(names(live.pods_of(&wk("Deployment/shop/web"))), ["web-abc-1", "web-abc-2"]);
    assert!(live.pods_of(&wk("ReplicaSet/shop/web-abc")).is_empty(), "a Deployment's pods belong to the Deployment");
    assert_eq!(names(live.pods_of(&wk("ReplicaSet/shop/solo"))), ["solo-1"]);
    assert_eq!(
        live.pod(&PodKey::new("shop", "web-abc-2")).unwrap().workload.as_ref().map(ToString::to_string).as_deref(),
        Some("Deployment/web")
    );
    assert_eq!(live.pdbs("shop").len(), 1);
    assert!(live.pdbs("other").is_empty());
    assert_eq!(live.nodes().len(), 2);
    assert_eq!(live.scale(&wk("Deployment/shop/web")), Some(2));
    assert_eq!(live.scale(&wk("ReplicaSet/shop/solo")), Some(1));
    let web = live.replicas(&wk("Deployment/shop/web"));
    assert!(web.unschedulable.is_empty());
    let counted = live.pods_of(&wk("Deployment/shop/web")).iter().filter(|p| p.ready && !p.terminating).count();
    assert_eq!(web.ready as usize, counted);

    // changed(): the changes so far are reported at once, then it waits for the next one.
    live.changed().await.expect("the view follows the cluster");
    let waiter = {
        let live = live.clone();
        tokio::spawn(async move { live.changed().await })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiter.is_finished(), "nothing changed");

    pod(&client, "shop", pod_json("web-abc-3", "n2", Some(("ReplicaSet", "web-abc", &rs_uid)), json!({"app": "web"})))
        .await;
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap()
        .expect("the view follows the cluster");
    eventually(&live, "new pod", |v| v.pod(&PodKey::new("shop", "web-abc-3")).is_some()).await;
    assert_eq!(names(live.pods_on("n2")), ["web-abc-2", "web-abc-3"]);
    assert_eq!(live.pods_of(&wk("Deployment/shop/web")).len(), 3);

    // Update: labels and status.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    pods.patch("web-abc-1", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})))
        .await
        .unwrap();
    let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status("web-abc-1", &PatchParams::default(), &Patch::Merge(ready)).await.unwrap();
    eventually(&live, "pod updated", |v| {
        v.pod(&PodKey::new("shop", "web-abc-1"))
            .is_some_and(|p| p.ready && p.labels.get("tier").is_some_and(|t| t == "front"))
    })
    .await;

    // Delete (removed at once: grace 0 from the test, which plays a user here).
    pods.delete("web-abc-3", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    eventually(&live, "pod deleted", |v| v.pod(&PodKey::new("shop", "web-abc-3")).is_none()).await;
    assert_eq!(names(live.pods_on("n2")), ["web-abc-2"]);
    assert_eq!(live.pods_of(&wk("Deployment/shop/web")).len(), 2);

    // Scale, PDB and node changes.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    deploys.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 5}}))).await.unwrap();
    eventually(&live, "scaled", |v| v.scale(&wk("Deployment/shop/web")) == Some(5)).await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "shop");
    pdbs.delete("web", &DeleteParams::default()).await.unwrap();
    eventually(&live, "pdb deleted", |v| v.pdbs("shop").is_empty()).await;
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch("n2", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"unschedulable": true}})))
        .await
        .unwrap();
    eventually(&live, "node cordoned", |v| v.nodes().iter().any(|n| n.name == "n2" && n.unschedulable)).await;
    nodes.delete("n1", &DeleteParams::default()).await.unwrap();
    eventually(&live, "node deleted", |v| v.nodes().len() == 1).await;

    // The ReplicaSet goes: its pods now resolve to it, not to the Deployment.
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "shop");
    rss.delete("web-abc", &DeleteParams::default()).await.unwrap();
    eventually(&live, "rs deleted", |v| v.scale(&wk("ReplicaSet/shop/web-abc")).is_none()).await;
    assert!(live.pods_of(&wk("Deployment/shop/web")).is_empty());
    assert_eq!(
        live.pod(&PodKey::new("shop", "web-abc-1")).unwrap().workload.as_ref().map(ToString::to_string).as_deref(),
        Some("ReplicaSet/web-abc")
    );
}

/// A watcher that falls too far behind is cut off by the server; re-watching from its old resourceVersion
/// answers 410 Gone, so it lists again. The relist must replace the cache's pods: a pod whose DELETED event
/// was lost disappears, a pod whose ADDED event was lost appears.
#[tokio::test(start_paused = true)]
async fn live_view_relists_after_falling_behind() {
    let sim = sim();
    let client = sim.client();
    cluster_with_workloads(&client).await;
    let cluster = KubeCluster::new(client.clone());
    let live = cluster.live().await.unwrap();
    assert!(live.pod(&PodKey::new("shop", "solo-1")).is_some());
    let lists_before = sim.store().lock().recorder.requests.get("list pods").copied().unwrap_or(0);
    {
        // No await while the lock is held: the watch streams cannot read any of these events in between.
        let mut st = sim.store().lock();
        st.remove::<Pod>("shop", "solo-1").unwrap();
        let mut p = (*st.get::<Pod>("shop", "web-abc-2").unwrap()).clone();
        // More events than a watcher may buffer (65536), and than the history a re-watch can resume from.
        for i in 0..70_000u32 {
            p.metadata.resource_version = None;
            p.metadata.labels.get_or_insert_with(Default::default).insert("burst".into(), i.to_string());
            st.update(p.clone(), Part::Main, false).unwrap();
        }
        st.create(obj::<Pod>(pod_json("late-1", "n2", None, json!({}))), Some("shop"), false).unwrap();
    }
    eventually(&live, "relisted", |v| {
        v.pod(&PodKey::new("shop", "solo-1")).is_none() && v.pod(&PodKey::new("shop", "late-1")).is_some()
    })
    .await;
    assert!(sim.store().lock().recorder.requests.get("list pods").copied().unwrap_or(0) > lists_before);
    assert_eq!(names(live.pods_on("n1")), ["web-abc-1"]);
    assert_eq!(names(live.pods_on("n2")), ["late-1", "web-abc-2"]);
    let burst = live.pod(&PodKey::new("shop", "web-abc-2")).unwrap();
    assert_eq!(burst.labels.get("burst").map(String::as_str), Some("69999"));
    // Kinds that did not relist are untouched.
    assert_eq!(live.pdbs("shop").len(), 1);
    assert_eq!(live.nodes().len(), 2);
}
