//! The I/O adapters behind the engine's ports, against the in-process simulator (virtual time): the
//! Kubernetes cluster (snapshot, cordon, evict, delete, live cache), the checkpoint stores, the Lease lock.

mod cluster;
mod lease;
mod live;
mod stores;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::Api;
use kube::api::PostParams;
use kubesim::clock::SimClock;
use kubesim::store::Store;
use kubesim::{SimOptions, Simulator};
use poolshift::model::checkpoint::Checkpoint;
use poolshift::model::plan::{PLAN_SCHEMA, Target, UpgradePlan};
use poolshift::model::policy::Policy;
use poolshift::model::version::Version;
use poolshift_provider_api::{CapacityType, PoolDescription, PoolSpec};
use serde_json::{Value, json};

/// The simulator's API server without its controllers: these tests build Deployments, ReplicaSets and their
/// pods by hand, which the ReplicaSet and Deployment controllers would otherwise reconcile under them.
pub fn sim() -> Simulator {
    let clock = SimClock::new(SimClock::virtual_from_epoch().now(), 1.0);
    Simulator::with_store(Arc::new(Store::new(1, clock)), Vec::new())
}

/// The simulator with its standard components (disruption controller, kubelet ...).
pub fn full_sim() -> Simulator {
    Simulator::new(SimOptions::default())
}

pub fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

pub async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(&PostParams::default(), &obj(json!({"metadata": {"name": name}}))).await.unwrap();
}

pub async fn node(client: &kube::Client, name: &str) -> Node {
    let api: Api<Node> = Api::all(client.clone());
    let n = json!({"metadata": {"name": name, "labels": {"pool": "blue"}}, "spec": {}});
    api.create(&PostParams::default(), &obj(n)).await.unwrap()
}

/// A pod bound to `node`, controlled by `owner` (kind, name, uid) when given.
pub fn pod_json(name: &str, node: &str, owner: Option<(&str, &str, &str)>, labels: Value) -> Value {
    let owners: Vec<Value> = owner
        .into_iter()
        .map(|(kind, name, uid)| {
            json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true})
        })
        .collect();
    json!({
        "metadata": {"name": name, "labels": labels, "ownerReferences": owners},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1"}]},
    })
}

pub async fn pod(client: &kube::Client, ns: &str, v: Value) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &obj(v)).await.unwrap()
}

/// A checkpoint with an empty plan, at `seq`.
pub fn checkpoint(seq: u64) -> Checkpoint {
    let blue = PoolDescription {
        name: "blue".into(),
        version: "1.30.2".into(),
        instance_types: vec!["m5.large".into()],
        zones: vec!["a".into()],
        capacity_type: CapacityType::OnDemand,
        labels: Default::default(),
        taints: vec![],
        size: Default::default(),
        autoscaling: Default::default(),
        disk_gb: None,
        extra: Default::default(),
    };
    let v = Version::new(1, 31, 4);
    let plan = UpgradePlan {
        schema: PLAN_SCHEMA,
        plan_id: String::new(),
        planned_at: String::new(),
        cluster: "demo".into(),
        pool: "blue".into(),
        control_plane: v,
        target: Target { version: v, policy: "latest-patch".into(), reason: "newest patch".into() },
        green: PoolSpec::derive(&blue, "blue-v1-31-4", "1.31.4"),
        blue,
        policy: Policy::default(),
        blue_nodes: vec!["n1".into()],
        batches: vec![],
        pdbs: vec![],
        findings: vec![],
        review: Default::default(),
    };
    let mut cp = Checkpoint::new("run-1", plan, "2026-01-01T00:00:00Z");
    cp.seq = seq;
    cp
}
