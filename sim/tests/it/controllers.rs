//! Workload controllers, scheduler and kubelet, in virtual time through the in-process client.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{namespace, sim};

/// A Ready node with allocatable resources, zone and hostname labels.
fn node_json(name: &str, zone: &str, cpu: &str, extra_labels: Value) -> Value {
    let mut labels =
        json!({"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone, "kubesim.io/pool": "blue"});
    if let (Some(l), Some(extra)) = (labels.as_object_mut(), extra_labels.as_object()) {
        l.extend(extra.clone());
    }
    json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": format!("192.168.0.{}", name.len())}]
        }
    })
}

async fn add_node(client: &kube::Client, node: Value) -> Node {
    let api: Api<Node> = Api::all(client.clone());
    api.create(&PostParams::default(), &serde_json::from_value(node).unwrap()).await.unwrap()
}

async fn nodes(client: &kube::Client, specs: &[(&str, &str)]) {
    for (name, zone) in specs {
        add_node(client, node_json(name, zone, "4", json!({}))).await;
    }
}

async fn cordon(client: &kube::Client, name: &str, on: bool) {
    let api: Api<Node> = Api::all(client.clone());
    api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"unschedulable": on}}))).await.unwrap();
}

fn deployment(name: &str, replicas: i32, pod_spec: Value, annotations: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": pod_spec
            }
        }
    }))
    .unwrap()
}

fn app_spec() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]})
}

async fn pods(client: &kube::Client, ns: &str, selector: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(selector)).await.unwrap().items
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn condition<'a>(p: &'a Pod, ty: &str) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == ty)
}

fn ready(p: &Pod) -> bool {
    condition(p, "Ready").is_some_and(|c| c.status == "True")
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec.as_ref()?.node_name.as_deref()
}

fn pod_name(p: &Pod) -> &str {
    p.metadata.name.as_deref().unwrap_or("")
}

/// Polls `f` every 100ms of simulated time until it yields a value (at most 120 simulated seconds).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..1200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(start_paused = true)]
async fn deployment_pods_are_scheduled_then_run_then_become_ready_on_time() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a"), ("n2", "b")]).await;
    let t0 = Instant::now();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let d = deploys.create(&PostParams::default(), &deployment("web", 3, app_spec(), json!({}))).await.unwrap();
    settle().await;

    // One ReplicaSet `web-<hash>`, labelled and selecting with its pod-template-hash, owned by the Deployment.
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "shop");
    let rs_list = rss.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(rs_list.len(), 1);
    let rs = &rs_list[0];
    let hash = rs.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(rs.metadata.name.as_deref(), Some(format!("web-{hash}").as_str()));
    assert_eq!(rs.spec.selector.match_labels.as_ref().unwrap()["pod-template-hash"], hash);
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Deployment", d.metadata.uid.as_deref().unwrap(), Some(true))
    );

    // Three pods `web-<hash>-xxxxx`, bound, Pending, not Ready yet.
    let ps = pods(&client, "shop", "app=web").await;
    assert_eq!(ps.len(), 3);
    for p in &ps {
        let rest = pod_name(p).strip_prefix(&format!("web-{hash}-")).expect("pod named after its ReplicaSet");
        assert_eq!(rest.len(), 5);
        let oref = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((oref.kind.as_str(), oref.api_version.as_str()), ("ReplicaSet", "apps/v1"));
        assert_eq!((oref.controller, oref.block_owner_deletion), (Some(true), Some(true)));
        assert!(node_of(p).is_some(), "{} not bound", pod_name(p));
        assert_eq!(condition(p, "PodScheduled").map(|c| c.status.as_str()), Some("True"));
        assert_eq!(phase(p), "Pending");
        assert_eq!(condition(p, "Ready").map(|c| c.status.as_str()), Some("False"));
        assert!(p.status.as_ref().unwrap().pod_ip.is_some());
    }
    let on_n1 = ps.iter().filter(|p| node_of(p) == Some("n1")).count();
    assert!((1..=2).contains(&on_n1), "least-allocated spreads 3 pods over 2 nodes, got {on_n1} on n1");

    // 2s start delay: Running but not Ready at 2.5s.
    tokio::time::sleep_until(t0 + Duration::from_millis(2500)).await;
    let ps = pods(&client, "shop", "app=web").await;
    assert!(ps.iter().all(|p| phase(p) == "Running" && !ready(p)), "Running, not Ready at 2.5s");
    let cs = &ps[0].status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0];
    assert!(cs.container_id.as_deref().unwrap().starts_with("containerd://"));
    assert!(cs.state.as_ref().unwrap().running.is_some());

    // 3s ready delay: Ready at 5s after creation.
    tokio::time::sleep_until(t0 + Duration::from_millis(5500)).await;
    let ps = pods(&client, "shop", "app=web").await;
    for p in &ps {
        assert!(ready(p), "{} Ready at 5.5s", pod_name(p));
        let since = condition(p, "Ready").unwrap().last_transition_time.as_ref().unwrap().0;
        let created = p.metadata.creation_timestamp.as_ref().unwrap().0;
        assert_eq!(since.duration_since(created).as_secs(), 5);
    }
    let d = deploys.get("web").await.unwrap();
    let s = d.status.unwrap();
    assert_eq!(
        (s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas, s.observed_generation),
        (Some(3), Some(3), Some(3), Some(3), Some(1))
    );
    let available = s.conditions.unwrap().into_iter().find(|c| c.type_.as_deref() == Some("Available")).unwrap();
    assert_eq!(
        (available.status.as_deref(), available.reason.as_deref()),
        (Some("True"), Some("MinimumReplicasAvailable"))
    );
    let rs = rss.get(rs.metadata.name.as_deref().unwrap()).await.unwrap().status.unwrap();
    assert_eq!(
        (rs.replicas, rs.ready_replicas, rs.available_replicas, rs.fully_labeled_replicas),
        (3, Some(3), Some(3), Some(3))
    );
}

#[tokio::test(start_paused = true)]
async fn delays_come_from_annotations_and_never_ready_pods_stay_unready() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a")]).await;
    let t0 = Instant::now();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let slow = json!({"kubesim.io/start-delay": "500ms", "kubesim.io/ready-delay": "10s"});
    deploys.create(&PostParams::default(), &deployment("slow", 1, app_spec(), slow)).await.unwrap();
    let never = json!({"kubesim.io/never-ready": "true", "kubesim.io/start-delay": "1s"});
    deploys.create(&PostParams::default(), &deployment("never", 1, app_spec(), never)).await.unwrap();

    tokio::time::sleep_until(t0 + Duration::from_millis(700)).await;
    let p = &pods(&client, "shop", "app=slow").await[0];
    assert_eq!(phase(p), "Running");
    tokio::time::sleep_until(t0 + Duration::from_millis(10_300)).await;
    assert!(!ready(&pods(&client, "shop", "app=slow").await[0]), "not Ready before 0.5s + 10s");
    tokio::time::sleep_until(t0 + Duration::from_millis(10_700)).await;
    assert!(ready(&pods(&client, "shop", "app=slow").await[0]));

    tokio::time::sleep_until(t0 + Duration::from_secs(60)).await;
    let p = &pods(&client, "shop", "app=never").await[0];
    assert_eq!(phase(p), "Running");
    assert!(!ready(p));
    let d = deploys.get("never").await.unwrap().status.unwrap();
    assert_eq!(d.available_replicas, Some(0));
}

#[tokio::test(start_paused = true)]
async fn deleting_a_pod_creates_a_replacement_at_once_while_the_old_one_terminates() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a"), ("n2", "b")]).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let ann = json!({"kubesim.io/termination-delay": "3s"});
    deploys.create(&PostParams::default(), &deployment("web", 2, app_spec(), ann)).await.unwrap();
    eventually("2 ready pods", || async {
        let ps = pods(&client, "shop", "app=web").await;
        (ps.len() == 2 && ps.iter().all(ready)).then_some(())
    })
    .await;
    let before = pods(&client, "shop", "app=web").await;
    let victim = pod_name(&before[0]).to_string();
    let api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    api.delete(&victim, &DeleteParams::default()).await.unwrap();
    settle().await;

    let ps = pods(&client, "shop", "app=web").await;
    assert_eq!(ps.len(), 3, "the replacement exists while the old pod terminates");
    let old = ps.iter().find(|p| pod_name(p) == victim).unwrap();
    assert!(old.metadata.deletion_timestamp.is_some());
    assert!(!ready(old), "Ready goes False when termination starts");
    let replacement = ps.iter().find(|p| pod_name(p) != victim && !before.iter().any(|b| pod_name(b) == pod_name(p)));
    assert!(replacement.is_some(), "a new pod with a new name");

    // Termination delay 3s (< grace 30s): gone after it, the replacement then Ready.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(api.get_opt(&victim).await.unwrap().is_some(), "still terminating at 2.5s");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(api.get_opt(&victim).await.unwrap().is_none(), "gone after 3s");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ps = pods(&client, "shop", "app=web").await;
    assert_eq!(ps.len(), 2);
    assert!(ps.iter().all(ready));
}

#[tokio::test(start_paused = true)]
async fn rolling_update_respects_surge_and_unavailability() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a"), ("n2", "b")]).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    deploys.create(&PostParams::default(), &deployment("web", 4, app_spec(), json!({}))).await.unwrap();
    eventually("4 available", || async {
        let s = deploys.get("web").await.unwrap().status?;
        (s.available_replicas == Some(4)).then_some(())
    })
    .await;
    // New template: 25% of 4 = surge 1, maxUnavailable 1.
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"rev": "2"}}}}});
    deploys.patch("web", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    let mut max_active = 0;
    let mut min_ready = usize::MAX;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ps = pods(&client, "shop", "app=web").await;
        let active = ps.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).count();
        let ready_n = ps.iter().filter(|p| p.metadata.deletion_timestamp.is_none() && ready(p)).count();
        max_active = max_active.max(active);
        min_ready = min_ready.min(ready_n);
        let s = deploys.get("web").await.unwrap().status.unwrap();
        if s.updated_replicas == Some(4) && s.available_replicas == Some(4) && s.replicas == Some(4) {
            break;
        }
    }
    assert_eq!(max_active, 5, "up to replicas + maxSurge, never more");
    assert_eq!(min_ready, 3, "down to replicas - maxUnavailable ready, never fewer");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "shop");
    let mut sizes: Vec<(i32, i32)> = rss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| (r.spec.replicas.unwrap(), r.status.as_ref().unwrap().replicas))
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![(0, 0), (4, 4)]);
    let d = deploys.get("web").await.unwrap();
    assert_eq!(d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"], "2");
    let progressing =
        d.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_.as_deref() == Some("Progressing"));
    assert_eq!(progressing.unwrap().reason.as_deref(), Some("NewReplicaSetAvailable"));
}

#[tokio::test(start_paused = true)]
async fn replica_set_scale_down_removes_the_lowest_deletion_cost_first() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a"), ("n2", "b")]).await;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "shop");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "cache"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "cache"}},
                 "template": {"metadata": {"labels": {"app": "cache"}}, "spec": app_spec()}}
    }))
    .unwrap();
    rss.create(&PostParams::default(), &rs).await.unwrap();
    let ps = eventually("3 ready", || async {
        let ps = pods(&client, "shop", "app=cache").await;
        (ps.len() == 3 && ps.iter().all(ready)).then_some(ps)
    })
    .await;
    let cheap = pod_name(&ps[1]).to_string();
    let api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let cost = json!({"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": "-100"}}});
    api.patch(&cheap, &PatchParams::default(), &Patch::Merge(cost)).await.unwrap();
    rss.patch("cache", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}}))).await.unwrap();
    settle().await;
    let gone = api.get(&cheap).await.unwrap();
    assert!(gone.metadata.deletion_timestamp.is_some(), "the pod with the lowest deletion cost goes first");
    let others = pods(&client, "shop", "app=cache").await;
    assert_eq!(others.iter().filter(|p| p.metadata.deletion_timestamp.is_some()).count(), 1);
}

fn statefulset(name: &str, replicas: i32, policy: &str, annotations: Value) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}, "annotations": annotations}, "spec": app_spec()}
        }
    }))
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn statefulset_creates_in_order_and_recreates_the_same_name_only_after_the_old_is_gone() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "db").await;
    nodes(&client, &[("n1", "a"), ("n2", "b")]).await;
    let t0 = Instant::now();
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "db");
    let ann = json!({"kubesim.io/termination-delay": "4s"});
    sts.create(&PostParams::default(), &statefulset("web", 3, "OrderedReady", ann)).await.unwrap();
    settle().await;
    let names = |ps: Vec<Pod>| {
        let mut v: Vec<String> = ps.iter().map(|p| pod_name(p).to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names(pods(&client, "db", "app=web").await), vec!["web-0"]);
    // web-1 only once web-0 is Running and Ready (5s), web-2 after web-1 (10s).
    tokio::time::sleep_until(t0 + Duration::from_millis(4900)).await;
    assert_eq!(names(pods(&client, "db", "app=web").await), vec!["web-0"]);
    tokio::time::sleep_until(t0 + Duration::from_millis(5100)).await;
    assert_eq!(names(pods(&client, "db", "app=web").await), vec!["web-0", "web-1"]);
    tokio::time::sleep_until(t0 + Duration::from_millis(15_500)).await;
    let ps = pods(&client, "db", "app=web").await;
    assert_eq!(names(ps.clone()), vec!["web-0", "web-1", "web-2"]);
    let web0 = ps.iter().find(|p| pod_name(p) == "web-0").unwrap().clone();
    let labels = web0.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(web0.spec.as_ref().unwrap().hostname.as_deref(), Some("web-0"));
    let web1_created =
        ps.iter().find(|p| pod_name(p) == "web-1").unwrap().metadata.creation_timestamp.clone().unwrap().0;
    let web0_ready = condition(&web0, "Ready").unwrap().last_transition_time.clone().unwrap().0;
    assert!(web1_created >= web0_ready, "web-1 created after web-0 became Ready");
    let s = sts.get("web").await.unwrap().status.unwrap();
    assert_eq!((s.replicas, s.ready_replicas), (3, Some(3)));

    // Delete web-0: no second web-0 while the old one terminates (4s), then a new UID under the same name.
    let api: Api<Pod> = Api::namespaced(client.clone(), "db");
    let old_uid = web0.metadata.uid.clone().unwrap();
    api.delete("web-0", &DeleteParams::default()).await.unwrap();
    for _ in 0..35 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let p = api.get("web-0").await.unwrap();
        assert_eq!(p.metadata.uid.as_deref(), Some(old_uid.as_str()), "old web-0 still there while terminating");
        assert!(p.metadata.deletion_timestamp.is_some());
    }
    let fresh = eventually("new web-0", || async {
        api.get_opt("web-0").await.unwrap().filter(|p| p.metadata.uid.as_deref() != Some(old_uid.as_str()))
    })
    .await;
    assert!(fresh.metadata.deletion_timestamp.is_none());
    eventually("new web-0 ready", || async { api.get("web-0").await.ok().filter(ready) }).await;
}

#[tokio::test(start_paused = true)]
async fn instant_start_settles_a_long_ordered_chain_without_time_passing() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "db").await;
    for (n, z) in [("n1", "a"), ("n2", "b"), ("n3", "c")] {
        add_node(&client, node_json(n, z, "64", json!({}))).await;
    }
    sim.store().lock().timing.instant_start = true;
    let t0 = Instant::now();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "db");
    deploys.create(&PostParams::default(), &deployment("web", 5, app_spec(), json!({}))).await.unwrap();
    settle().await;
    // 150 ordinals, one per round: more rounds than the manager runs per wake-up (and no later API write).
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "db");
    sts.create(&PostParams::default(), &statefulset("big", 150, "OrderedReady", json!({}))).await.unwrap();
    let ps = eventually("150 pods", || async {
        let ps = pods(&client, "db", "app=big").await;
        (ps.len() == 150).then_some(ps)
    })
    .await;
    // Each member is Running and Ready the moment it is bound: no start or ready delay elapsed.
    assert!(Instant::now() - t0 < Duration::from_secs(1), "took {:?}", Instant::now() - t0);
    assert!(ps.iter().all(|p| phase(p) == "Running" && ready(p)));
    let s = sts.get("big").await.unwrap().status.unwrap();
    assert_eq!((s.replicas, s.ready_replicas, s.current_replicas), (150, Some(150), Some(150)));
    assert!(pods(&client, "db", "app=web").await.iter().all(ready));
    sim.store().lock().timing.instant_start = false;
}

#[tokio::test(start_paused = true)]
async fn parallel_statefulset_creates_all_at_once_and_scales_down_from_the_top() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "db").await;
    nodes(&client, &[("n1", "a")]).await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "db");
    sts.create(&PostParams::default(), &statefulset("kv", 3, "Parallel", json!({}))).await.unwrap();
    settle().await;
    assert_eq!(pods(&client, "db", "app=kv").await.len(), 3);
    sts.patch("kv", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}}))).await.unwrap();
    settle().await;
    let ps = pods(&client, "db", "app=kv").await;
    let terminating: Vec<&str> = ps.iter().filter(|p| p.metadata.deletion_timestamp.is_some()).map(pod_name).collect();
    assert_eq!(terminating.len(), 2);
    assert!(!terminating.contains(&"kv-0"));
}

fn daemonset(name: &str) -> DaemonSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": app_spec()}
        }
    }))
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn daemonset_runs_one_pod_per_node_including_cordoned_ones_but_not_on_untolerated_taints() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "kube-system").await;
    nodes(&client, &[("n1", "a"), ("n2", "b")]).await;
    cordon(&client, "n2", true).await;
    let mut tainted = node_json("gpu1", "a", "4", json!({}));
    tainted["spec"]["taints"] = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    add_node(&client, tainted).await;
    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    dss.create(&PostParams::default(), &daemonset("agent")).await.unwrap();
    settle().await;

    let ps = pods(&client, "kube-system", "app=agent").await;
    let mut on: Vec<&str> = ps.iter().filter_map(node_of).collect();
    on.sort();
    assert_eq!(on, vec!["n1", "n2"], "one per node, the cordoned one included, none on the tainted node");
    let tols = ps[0].spec.as_ref().unwrap().tolerations.as_ref().unwrap();
    assert!(tols.iter().any(|t| t.key.as_deref() == Some("node.kubernetes.io/unschedulable")
        && t.operator.as_deref() == Some("Exists")
        && t.effect.as_deref() == Some("NoSchedule")));
    assert!(ps.iter().all(|p| p.metadata.owner_references.as_ref().unwrap()[0].kind == "DaemonSet"));

    // A new node gets its pod; a removed node's pod goes.
    add_node(&client, node_json("n3", "c", "4", json!({}))).await;
    settle().await;
    assert_eq!(pods(&client, "kube-system", "app=agent").await.len(), 3);
    let nodes_api: Api<Node> = Api::all(client.clone());
    nodes_api.delete("n1", &DeleteParams::default()).await.unwrap();
    settle().await;
    let mut on: Vec<String> =
        pods(&client, "kube-system", "app=agent").await.iter().filter_map(node_of).map(str::to_string).collect();
    on.sort();
    assert_eq!(on, vec!["n2", "n3"]);

    tokio::time::sleep(Duration::from_secs(6)).await;
    let s = dss.get("agent").await.unwrap().status.unwrap();
    assert_eq!((s.desired_number_scheduled, s.current_number_scheduled, s.number_ready), (2, 2, 2));
    assert_eq!(s.number_available, Some(2));
}

fn bare_pod(name: &str, spec: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": name}}, "spec": spec})).unwrap()
}

#[tokio::test(start_paused = true)]
async fn cordon_taint_follows_unschedulable_and_the_scheduler_avoids_cordoned_nodes() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a"), ("n2", "b")]).await;
    cordon(&client, "n1", true).await;
    settle().await;
    let nodes_api: Api<Node> = Api::all(client.clone());
    let n1 = nodes_api.get("n1").await.unwrap();
    let taints = n1.spec.unwrap().taints.unwrap();
    assert_eq!(taints.len(), 1);
    assert_eq!(
        (taints[0].key.as_str(), taints[0].effect.as_str(), taints[0].value.as_deref()),
        ("node.kubernetes.io/unschedulable", "NoSchedule", None)
    );
    assert!(taints[0].time_added.is_some());

    let api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    for i in 0..4 {
        api.create(&PostParams::default(), &bare_pod(&format!("p{i}"), app_spec())).await.unwrap();
    }
    // A tolerate-all pod pinned by hostname lands on the cordoned node.
    let mut spec = app_spec();
    spec["tolerations"] = json!([{"operator": "Exists"}]);
    spec["nodeSelector"] = json!({"kubernetes.io/hostname": "n1"});
    api.create(&PostParams::default(), &bare_pod("anywhere", spec)).await.unwrap();
    settle().await;
    for i in 0..4 {
        assert_eq!(node_of(&api.get(&format!("p{i}")).await.unwrap()), Some("n2"));
    }
    assert_eq!(node_of(&api.get("anywhere").await.unwrap()), Some("n1"));

    cordon(&client, "n1", false).await;
    settle().await;
    assert!(nodes_api.get("n1").await.unwrap().spec.unwrap().taints.is_none_or(|t| t.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn insufficient_cpu_leaves_the_pod_pending_with_upstream_message_and_one_event() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    for (n, z) in [("n1", "a"), ("n2", "b"), ("n3", "c")] {
        add_node(&client, node_json(n, z, "1", json!({}))).await;
    }
    cordon(&client, "n1", true).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let big = json!({"containers": [{"name": "app", "image": "x", "resources": {"requests": {"cpu": "1500m"}}}]});
    api.create(&PostParams::default(), &bare_pod("big", big)).await.unwrap();
    settle().await;
    let p = api.get("big").await.unwrap();
    assert_eq!(phase(&p), "Pending");
    assert!(node_of(&p).is_none());
    let c = condition(&p, "PodScheduled").unwrap();
    let want = "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: 0/3 nodes are \
                available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..";
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
        ("False", Some("Unschedulable"), Some(want))
    );

    // Unrelated changes retry the pod but do not repeat the event.
    api.create(&PostParams::default(), &bare_pod("small", app_spec())).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let events: Api<Event> = Api::namespaced(client.clone(), "shop");
    let evs =
        events.list(&ListParams::default().fields("involvedObject.name=big,reason=FailedScheduling")).await.unwrap();
    assert_eq!(evs.items.len(), 1);
    let ev = &evs.items[0];
    assert_eq!((ev.type_.as_deref(), ev.message.as_deref()), (Some("Warning"), Some(want)));
    assert_eq!(ev.source.as_ref().unwrap().component.as_deref(), Some("default-scheduler"));

    // Room appears: the pod is scheduled there.
    add_node(&client, node_json("n4", "a", "2", json!({}))).await;
    settle().await;
    let p = api.get("big").await.unwrap();
    assert_eq!(node_of(&p), Some("n4"));
    assert_eq!(condition(&p, "PodScheduled").unwrap().status, "True");
}

#[tokio::test(start_paused = true)]
async fn node_selector_and_required_affinity_restrict_placement() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    add_node(&client, node_json("blue-1", "a", "4", json!({}))).await;
    add_node(&client, node_json("green-1", "a", "4", json!({"kubesim.io/pool": "green"}))).await;
    add_node(&client, node_json("green-2", "b", "4", json!({"kubesim.io/pool": "green"}))).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    for i in 0..4 {
        let mut spec = app_spec();
        spec["nodeSelector"] = json!({"kubesim.io/pool": "green"});
        api.create(&PostParams::default(), &bare_pod(&format!("sel{i}"), spec)).await.unwrap();
    }
    let mut spec = app_spec();
    spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubesim.io/pool", "operator": "In", "values": ["green"]},
                              {"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": ["a"]}]}
    ]}}});
    api.create(&PostParams::default(), &bare_pod("aff", spec)).await.unwrap();
    let mut spec = app_spec();
    spec["nodeSelector"] = json!({"kubesim.io/pool": "purple"});
    api.create(&PostParams::default(), &bare_pod("nowhere", spec)).await.unwrap();
    settle().await;
    for i in 0..4 {
        let n = node_of(&api.get(&format!("sel{i}")).await.unwrap()).unwrap().to_string();
        assert!(n.starts_with("green-"), "sel{i} on {n}");
    }
    assert_eq!(node_of(&api.get("aff").await.unwrap()), Some("green-2"));
    let p = api.get("nowhere").await.unwrap();
    assert_eq!(
        condition(&p, "PodScheduled").unwrap().message.as_deref(),
        Some(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
        )
    );
}

fn spread_spec(taints_policy: Option<&str>) -> Value {
    let mut c = json!({"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                       "labelSelector": {"matchLabels": {"app": "web"}}});
    if let Some(p) = taints_policy {
        c["nodeTaintsPolicy"] = json!(p);
    }
    let mut spec = app_spec();
    spec["topologySpreadConstraints"] = json!([c]);
    spec
}

/// Three zones with one pod each, a second node in zone a, then zone b's node is cordoned and its pod deleted.
async fn spread_scenario(taints_policy: Option<&str>) -> (kubesim::Simulator, Pod, String) {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("a1", "a"), ("b1", "b"), ("c1", "c")]).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    deploys.create(&PostParams::default(), &deployment("web", 3, spread_spec(taints_policy), json!({}))).await.unwrap();
    settle().await;
    let ps = pods(&client, "shop", "app=web").await;
    let mut zones: Vec<&str> = ps.iter().filter_map(node_of).collect();
    zones.sort();
    assert_eq!(zones, vec!["a1", "b1", "c1"], "one pod per zone");
    add_node(&client, node_json("a2", "a", "4", json!({}))).await;
    cordon(&client, "b1", true).await;
    let victim = ps.iter().find(|p| node_of(p) == Some("b1")).unwrap();
    let api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    api.delete(pod_name(victim), &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let replacement = pods(&client, "shop", "app=web")
        .await
        .into_iter()
        .find(|p| !ps.iter().any(|o| o.metadata.uid == p.metadata.uid))
        .expect("a replacement pod");
    assert!(api.get_opt(pod_name(victim)).await.unwrap().is_none(), "the old pod is gone");
    (sim, replacement, pod_name(victim).to_string())
}

#[tokio::test(start_paused = true)]
async fn topology_spread_counts_the_cordoned_zone_so_the_replacement_stays_pending() {
    let (_sim, replacement, _) = spread_scenario(None).await;
    assert!(node_of(&replacement).is_none(), "zone b (cordoned, 0 pods) still counts: skew 2 elsewhere");
    let c = condition(&replacement, "PodScheduled").unwrap();
    assert_eq!(c.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        c.message.as_deref(),
        Some(
            "0/4 nodes are available: 1 node(s) were unschedulable, 3 node(s) didn't match pod topology spread constraints. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.."
        )
    );
}

#[tokio::test(start_paused = true)]
async fn topology_spread_with_node_taints_policy_honor_ignores_the_cordoned_zone() {
    let (_sim, replacement, _) = spread_scenario(Some("Honor")).await;
    let node = node_of(&replacement).expect("scheduled");
    assert_ne!(node, "b1");
    assert_eq!(phase(&replacement), "Running");
}

#[tokio::test(start_paused = true)]
async fn gc_deletes_pods_of_a_deleted_replica_set_and_of_a_deleted_node() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a"), ("n2", "b")]).await;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "shop");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "cache"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "cache"}},
                 "template": {"metadata": {"labels": {"app": "cache"}}, "spec": app_spec()}}
    }))
    .unwrap();
    rss.create(&PostParams::default(), &rs).await.unwrap();
    eventually("2 ready", || async {
        let ps = pods(&client, "shop", "app=cache").await;
        (ps.len() == 2 && ps.iter().all(ready)).then_some(())
    })
    .await;

    // A node disappears: its pod is removed at once (pod GC) and the ReplicaSet replaces it on n2.
    let on_n1: Vec<String> = pods(&client, "shop", "app=cache")
        .await
        .iter()
        .filter(|p| node_of(p) == Some("n1"))
        .map(|p| pod_name(p).to_string())
        .collect();
    let nodes_api: Api<Node> = Api::all(client.clone());
    nodes_api.delete("n1", &DeleteParams::default()).await.unwrap();
    settle().await;
    let ps = pods(&client, "shop", "app=cache").await;
    assert_eq!(ps.len(), 2);
    assert!(ps.iter().all(|p| node_of(p) == Some("n2")));
    assert!(ps.iter().all(|p| !on_n1.contains(&pod_name(p).to_string())));

    // The ReplicaSet is deleted: its pods are garbage, deleted gracefully, then gone.
    rss.delete("cache", &DeleteParams::default()).await.unwrap();
    settle().await;
    let ps = pods(&client, "shop", "app=cache").await;
    assert_eq!(ps.len(), 2);
    assert!(ps.iter().all(|p| p.metadata.deletion_timestamp.is_some()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(pods(&client, "shop", "app=cache").await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stuck_terminating_pod_stays_until_a_grace_zero_delete() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a")]).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let mut pod = bare_pod("stuck", app_spec());
    pod.metadata.annotations = Some([("kubesim.io/stuck-terminating".to_string(), "true".to_string())].into());
    api.create(&PostParams::default(), &pod).await.unwrap();
    eventually("ready", || async { api.get("stuck").await.ok().filter(ready) }).await;
    api.delete("stuck", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    let p = api.get("stuck").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_some());
    assert!(!ready(&p));
    api.delete("stuck", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    settle().await;
    assert!(api.get_opt("stuck").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn pods_on_a_not_ready_node_are_marked_unready_and_make_no_progress() {
    let sim = sim();
    let client = sim.client();
    namespace(&client, "shop").await;
    nodes(&client, &[("n1", "a")]).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    api.create(&PostParams::default(), &bare_pod("p", app_spec())).await.unwrap();
    eventually("ready", || async { api.get("p").await.ok().filter(ready) }).await;
    let nodes_api: Api<Node> = Api::all(client.clone());
    let status =
        json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]}});
    nodes_api.patch_status("n1", &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
    settle().await;
    assert!(!ready(&api.get("p").await.unwrap()), "MarkPodsNotReady");
    // Deleted while the kubelet is away: stays Terminating.
    api.delete("p", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(api.get_opt("p").await.unwrap().is_some());
    // Back: the pod finishes terminating.
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    nodes_api.patch_status("n1", &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
    settle().await;
    assert!(api.get_opt("p").await.unwrap().is_none());
}
