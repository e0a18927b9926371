//! The control plane itself: versions, the kwok Stages (node Ready after its delay, pod Running then Ready,
//! graceful deletion after its delay), the audit log, and the kwok provider's conformance, on one shared
//! control plane.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use poolshift_provider_api::conformance::Conformance;
use poolshift_provider_api::{CreateToken, PoolSize, PoolSpec, Provider};
use poolshift_provider_kwok::{KwokProvider, KwokSettings};
use poolshift_testenv::stages::{
    KWOK_NODE_ANNOTATION, NODE_READY_DELAY, POD_DELETE_DELAY, POD_READY_DELAY, POD_START_DELAY,
};
use poolshift_testenv::{ControlPlane, Scope};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(180);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn ready<T>(conds: Option<&Vec<T>>, f: impl Fn(&T) -> bool) -> bool {
    conds.is_some_and(|c| c.iter().any(f))
}

async fn wait<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < LIMIT, "{what}: not reached within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn starts_healthy_at_the_pinned_versions_and_prints_its_figures() {
    let cp = ControlPlane::shared();
    let rt = rt();
    let client = rt.block_on(cp.client()).expect("client");
    let v = rt.block_on(client.apiserver_version()).expect("version");
    assert_eq!(v.git_version, "v1.36.3");
    let out = cp.kubectl().args(["version", "-o", "json"]).output().expect("kubectl");
    let kv: serde_json::Value = serde_json::from_slice(&out.stdout).expect("kubectl version JSON");
    assert_eq!(kv["clientVersion"]["gitVersion"], "v1.36.3", "{kv}");
    let mem: u64 = cp.memory().iter().map(|(_, b)| b).sum();
    eprintln!(
        "control plane started in {:.1} s; resident memory {} MiB ({:?})",
        cp.started_in().as_secs_f64(),
        mem >> 20,
        cp.memory().iter().map(|(c, b)| format!("{c} {} MiB", b >> 20)).collect::<Vec<_>>()
    );
    assert!(cp.memory().iter().all(|(_, b)| *b > 0), "every component runs: {:?}", cp.memory());
    let audit = std::fs::read_to_string(cp.audit_log()).expect("audit log");
    assert!(
        audit.lines().any(|l| l.contains("\"verb\":\"get\"") && l.contains("/version")),
        "the audit log records requests"
    );
}

#[test]
fn kwok_follows_the_stages_node_ready_pod_running_ready_and_graceful_deletion() {
    let cp = ControlPlane::shared();
    let scope = Scope::new(cp, "stages");
    let rt = rt();
    rt.block_on(async {
        let client = cp.client().await.expect("client");
        let nodes: Api<Node> = Api::all(client.clone());
        let node_name = scope.name("n0");
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": node_name, "labels": {"kubernetes.io/hostname": node_name},
                         "annotations": {KWOK_NODE_ANNOTATION: "fake", NODE_READY_DELAY: "2s"}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "nodeInfo": {"kubeletVersion": "v1.36.3"}},
        }))
        .expect("node");
        let created = Instant::now();
        nodes.create(&PostParams::default(), &node).await.expect("create node");
        let is_ready = |n: &Node| {
            ready(n.status.as_ref().and_then(|s| s.conditions.as_ref()), |c| c.type_ == "Ready" && c.status == "True")
        };
        let n = nodes.get(&node_name).await.expect("node");
        assert!(!is_ready(&n), "not Ready before its 2 s delay");
        wait("node Ready", || async { nodes.get(&node_name).await.is_ok_and(|n| is_ready(&n)) }).await;
        assert!(created.elapsed() >= Duration::from_secs(2), "Ready only after its delay");

        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let pod_name = scope.name("p0");
        let ann: BTreeMap<&str, &str> =
            [(POD_START_DELAY, "1s"), (POD_READY_DELAY, "2s"), (POD_DELETE_DELAY, "3s")].into();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": pod_name, "annotations": ann},
            "spec": {"nodeName": node_name, "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
                     "terminationGracePeriodSeconds": 30},
        }))
        .expect("pod");
        pods.create(&PostParams::default(), &pod).await.expect("create pod");
        let phase = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        let pod_ready = |p: &Pod| {
            ready(p.status.as_ref().and_then(|s| s.conditions.as_ref()), |c| c.type_ == "Ready" && c.status == "True")
        };
        wait("pod Running", || async { pods.get(&pod_name).await.is_ok_and(|p| phase(&p) == "Running") }).await;
        let running = Instant::now();
        assert!(!pod_ready(&pods.get(&pod_name).await.expect("pod")), "Running before Ready");
        wait("pod Ready", || async { pods.get(&pod_name).await.is_ok_and(|p| pod_ready(&p)) }).await;
        assert!(running.elapsed() >= Duration::from_millis(1500), "Ready after its 2 s delay");

        let deleted = Instant::now();
        pods.delete(&pod_name, &DeleteParams::default()).await.expect("delete");
        let p = pods.get(&pod_name).await.expect("still there, terminating");
        assert!(p.metadata.deletion_timestamp.is_some());
        wait("pod gone", || async { pods.get_opt(&pod_name).await.is_ok_and(|p| p.is_none()) }).await;
        assert!(deleted.elapsed() >= Duration::from_secs(3), "not deleted before its 3 s delay");
        nodes.delete(&node_name, &DeleteParams::default()).await.expect("delete node");
    });
}

#[test]
fn the_kwok_provider_passes_the_conformance_suite() {
    let cp = ControlPlane::shared();
    let scope = Scope::new(cp, "conf");
    let rt = rt();
    rt.block_on(async {
        let client = cp.client().await.expect("client");
        let settings = KwokSettings { node_ready_delay: Duration::from_secs(1), ..KwokSettings::default() };
        let provider = KwokProvider::new(client.clone(), settings);
        let blue = scope.name("blue");
        let mut extra = BTreeMap::new();
        extra.insert(poolshift_provider_kwok::EXTRA_CPU.to_string(), "4".to_string());
        let spec = PoolSpec {
            name: blue.clone(),
            source: String::new(),
            version: "1.35.8".into(),
            instance_types: vec!["m5.large".into()],
            zones: vec!["zone-a".into(), "zone-b".into()],
            capacity_type: Default::default(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            size: PoolSize { min: 2, max: 2, desired: 2 },
            disk_gb: None,
            extra,
        };
        provider.create_pool(&spec, &CreateToken::new("testenv", 1)).await.expect("blue pool");
        let suite = Conformance {
            provider: &provider,
            blue: blue.clone(),
            target_version: "1.36.3".into(),
            tick: Box::new(|| Box::pin(tokio::time::sleep(Duration::from_millis(500)))),
            max_ticks: 240,
        };
        suite.run().await.unwrap_or_else(|e| panic!("{e}"));
    });
}
