//! The kwok provider against kubesim's API server, with the test playing kwok (it turns the provider's nodes
//! Ready). The provider only speaks the Kubernetes API, so this checks its requests, records and idempotence;
//! the same suite on a real control plane with kwok lives with the test harness.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kubesim::{SimOptions, Simulator};
use poolshift_provider_api::conformance::Conformance;
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, CreateToken, ErrorKind, PoolSize, PoolSpec, PoolState, Provider, Taint,
};
use poolshift_provider_kwok::{KWOK_NODE_ANNOTATION, KwokProvider, KwokSettings, READY_DELAY_ANNOTATION};
use serde_json::json;

fn settings() -> KwokSettings {
    KwokSettings { node_ready_delay: Duration::from_secs(5), ..Default::default() }
}

/// What kwok does for the provider's nodes: Ready=True once they exist.
async fn play_kwok(client: &kube::Client) {
    let nodes: Api<Node> = Api::all(client.clone());
    let Ok(list) = nodes.list(&ListParams::default()).await else { return };
    for n in list.items {
        let fake =
            n.metadata.annotations.as_ref().and_then(|a| a.get(KWOK_NODE_ANNOTATION)).is_some_and(|v| v == "fake");
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if !fake || ready {
            continue;
        }
        let mut conditions = n.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        conditions.push(
            serde_json::from_value(json!({"type": "Ready", "status": "True", "reason": "KubeletReady"})).unwrap(),
        );
        let patch = json!({"status": {"conditions": conditions}});
        let name = n.metadata.name.clone().unwrap_or_default();
        nodes.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }
}

fn blue_spec(version: &str) -> PoolSpec {
    PoolSpec {
        name: "blue".into(),
        source: String::new(),
        version: version.into(),
        instance_types: vec!["m5.xlarge".into()],
        zones: vec!["eu-west-1a".into(), "eu-west-1b".into()],
        capacity_type: CapacityType::OnDemand,
        labels: BTreeMap::from([("team".to_string(), "payments".to_string())]),
        taints: vec![Taint { key: "dedicated".into(), value: Some("payments".into()), effect: "NoSchedule".into() }],
        size: PoolSize { min: 3, max: 3, desired: 3 },
        disk_gb: None,
        extra: BTreeMap::from([("kwok.allocatable.cpu".to_string(), "8".to_string())]),
    }
}

/// A cluster with a Ready blue pool of 3 nodes, autoscaling 1..=5; returns the blue version and another
/// offered version.
async fn with_blue(p: &KwokProvider, client: &kube::Client) -> (String, String) {
    let offered = p.versions().await.unwrap();
    let blue = offered.node_versions[0].clone();
    let status = p.create_pool(&blue_spec(&blue), &CreateToken::new("test", 1)).await.unwrap();
    assert_eq!((status.name.as_str(), status.state, status.nodes), ("blue", PoolState::Creating, 3));
    let scaling =
        AutoscalingSettings { enabled: true, size: PoolSize { min: 1, max: 5, desired: 3 }, extra: BTreeMap::new() };
    p.restore_autoscaling("blue", &scaling).await.unwrap();
    play_kwok(client).await;
    assert_eq!(p.pool_status("blue").await.unwrap().unwrap().state, PoolState::Ready);
    (blue, offered.control_plane)
}

#[tokio::test]
async fn kwok_provider_is_conformant() {
    let sim = Simulator::new(SimOptions::default());
    let client = sim.client();
    let provider = KwokProvider::new(client.clone(), settings());
    let (_, target) = with_blue(&provider, &client).await;
    let suite = Conformance {
        provider: &provider,
        blue: "blue".into(),
        target_version: target,
        tick: Box::new(move || {
            let client = client.clone();
            Box::pin(async move {
                play_kwok(&client).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            })
        }),
        max_ticks: 20,
    };
    suite.run().await.unwrap();
}

#[tokio::test]
async fn records_nodes_and_green_are_as_designed() {
    let sim = Simulator::new(SimOptions::default());
    let client = sim.client();
    let p = KwokProvider::new(client.clone(), settings());
    let (blue_version, target) = with_blue(&p, &client).await;

    // The record: kubesim's PoolSpec in the (created) namespace, labelled as ours.
    let records: Api<ConfigMap> = Api::namespaced(client.clone(), "kwok-pools");
    let cm = records.get("kwok-pool-blue").await.unwrap();
    assert_eq!(cm.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"], "poolshift-provider-kwok");
    let spec: serde_json::Value = serde_json::from_str(&cm.data.as_ref().unwrap()["spec.json"]).unwrap();
    assert_eq!(spec["autoscaling"], json!({"enabled": true, "min": 1, "max": 5}));
    assert_eq!(spec["allocatable"]["cpu"], "8");

    // The nodes: kubesim's names and labels, kwok's annotations, the kubelet version.
    let nodes: Api<Node> = Api::all(client.clone());
    let n = nodes.get("blue-1b-1").await.unwrap();
    assert_eq!(n.metadata.labels.as_ref().unwrap()["kubesim.io/pool"], "blue");
    assert_eq!(n.metadata.annotations.as_ref().unwrap()[READY_DELAY_ANNOTATION], "5s");
    let status = n.status.as_ref().unwrap();
    assert_eq!(status.node_info.as_ref().unwrap().kubelet_version, format!("v{blue_version}"));
    assert_eq!(status.allocatable.as_ref().unwrap()["cpu"].0, "8");
    let taints = n.spec.as_ref().unwrap().taints.as_ref().unwrap();
    assert_eq!(taints.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["dedicated"]);

    // Freeze twice: the original both times; restore puts it back and thaws the record.
    let first = p.freeze_autoscaling("blue").await.unwrap();
    let second = p.freeze_autoscaling("blue").await.unwrap();
    assert_eq!(first, second);
    assert!(first.enabled && first.size == PoolSize { min: 1, max: 5, desired: 3 }, "{first:?}");
    let frozen = p.describe_pool("blue").await.unwrap().autoscaling;
    assert_eq!((frozen.enabled, frozen.size.min, frozen.size.max), (false, 3, 3));

    // Green, created while blue is frozen: blue's original autoscaling, blue's allocatable and delay.
    let blue = p.describe_pool("blue").await.unwrap();
    let name = p.green_name("blue", &target);
    let green = PoolSpec::derive(&blue, &name, &target);
    p.create_pool(&green, &CreateToken::new("test", 1)).await.unwrap();
    let g = p.describe_pool(&name).await.unwrap();
    assert_eq!(
        g.autoscaling,
        AutoscalingSettings { enabled: true, size: PoolSize { min: 1, max: 5, desired: 3 }, extra: BTreeMap::new() }
    );
    assert_eq!(g.extra, blue.extra);
    assert_eq!(g.version, target);

    p.restore_autoscaling("blue", &first).await.unwrap();
    assert_eq!(p.describe_pool("blue").await.unwrap().autoscaling, first);
    assert!(!records.get("kwok-pool-blue").await.unwrap().data.unwrap().contains_key("frozen.json"));

    // A crash between the record and the nodes: a second create makes the missing ones.
    nodes.delete(&format!("{name}-1a-2"), &DeleteParams::default()).await.unwrap();
    assert_eq!(p.pool_status(&name).await.unwrap().unwrap().state, PoolState::Creating);
    assert_eq!(p.create_pool(&green, &CreateToken::new("test", 1)).await.unwrap().nodes, 3);
    play_kwok(&client).await;
    assert_eq!(p.pool_status(&name).await.unwrap().unwrap().state, PoolState::Ready);

    // Same name, other version: a conflict.
    let mut other = green.clone();
    other.version = blue_version;
    assert_eq!(p.create_pool(&other, &CreateToken::new("test", 1)).await.unwrap_err().kind, ErrorKind::Conflict);
}

#[tokio::test]
async fn only_empty_pools_are_deleted() {
    let sim = Simulator::new(SimOptions::default());
    let client = sim.client();
    let p = KwokProvider::new(client.clone(), settings());
    with_blue(&p, &client).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "kwok-pools");
    let pod = |name: &str, annotations: serde_json::Value| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kwok-pools", "annotations": annotations},
            "spec": {"nodeName": "blue-1a-0", "containers": [{"name": "c", "image": "nginx"}]},
        }))
        .unwrap()
    };
    // A mirror pod does not block; a workload's pod does.
    pods.create(&PostParams::default(), &pod("mirror", json!({"kubernetes.io/config.mirror": "x"}))).await.unwrap();
    pods.create(&PostParams::default(), &pod("web", json!({}))).await.unwrap();
    let e = p.delete_pool("blue").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert!(e.message.contains("kwok-pools/web on blue-1a-0"), "{e}");
    assert!(!e.message.contains("mirror"), "{e}");
    assert_eq!(p.pool_status("blue").await.unwrap().unwrap().state, PoolState::Ready, "nothing was touched");

    pods.delete("web", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    wait_gone(&pods, "web").await;
    let st = p.delete_pool("blue").await.unwrap().unwrap();
    assert_eq!(st.state, PoolState::Deleting);
    assert_eq!(p.pool_status("blue").await.unwrap(), None);
    let nodes: Api<Node> = Api::all(client.clone());
    assert!(nodes.list(&ListParams::default().labels("kubesim.io/pool=blue")).await.unwrap().items.is_empty());
    assert_eq!(p.delete_pool("blue").await.unwrap(), None);
    assert_eq!(p.describe_pool("blue").await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(p.freeze_autoscaling("blue").await.unwrap_err().kind, ErrorKind::NotFound);
}

async fn wait_gone(pods: &Api<Pod>, name: &str) {
    for _ in 0..200 {
        if pods.get_opt(name).await.unwrap().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("pod {name} was not deleted");
}
