//! A cluster for the eviction and PodDisruptionBudget tests. Only the disruption controller runs, so the test
//! alone decides which pods exist, where they are bound, their phase and readiness; workload objects exist
//! only for their scale (and ownership).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kubesim::Simulator;
use kubesim::clock::SimClock;
use kubesim::controllers::disruption::Disruption;
use kubesim::store::Store;
use serde_json::{Value, json};

use crate::support::namespace;

pub const NS: &str = "shop";

pub struct Cluster {
    pub sim: Simulator,
    pub client: kube::Client,
}

/// The phase and readiness a test gives a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    Ready,
    NotReady,
    Pending,
    Succeeded,
    Failed,
}

/// An eviction's raw answer.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Reply {
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    /// `(reason, message)` of `details.causes[0]`.
    pub fn cause(&self) -> (&str, &str) {
        let c = &self.body["details"]["causes"][0];
        (c["reason"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or(""))
    }
}

/// Budget status numbers `(expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed)`.
pub type Counts = (i32, i32, i32, i32);

pub fn counts(s: &PodDisruptionBudgetStatus) -> Counts {
    (
        s.expected_pods.unwrap_or(0),
        s.desired_healthy.unwrap_or(0),
        s.current_healthy.unwrap_or(0),
        s.disruptions_allowed.unwrap_or(0),
    )
}

/// Nodes `blue-1..3` (pool blue) and `green-1` (pool green), namespace `shop`.
pub async fn cluster() -> Cluster {
    let store = Arc::new(Store::new(7, SimClock::virtual_from_epoch()));
    let sim = Simulator::with_store(store, vec![Box::new(Disruption::new())]);
    let client = sim.client();
    namespace(&client, NS).await;
    let nodes: Api<Node> = Api::all(client.clone());
    for (name, pool) in [("blue-1", "blue"), ("blue-2", "blue"), ("blue-3", "blue"), ("green-1", "green")] {
        let n: Node =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"kubesim.io/pool": pool}}})).unwrap();
        nodes.create(&PostParams::default(), &n).await.unwrap();
    }
    Cluster { sim, client }
}

fn owner(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn workload_spec(app: &str, replicas: i32) -> Value {
    json!({"replicas": replicas, "selector": {"matchLabels": {"app": app}}, "template": {"metadata": {"labels": {"app": app}}}})
}

impl Cluster {
    /// Lets the controllers run (virtual time moves 10 ms).
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn pdbs(&self) -> Api<PodDisruptionBudget> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// A Deployment and its ReplicaSet `<name>-rs`; returns the owner reference pods carry (the ReplicaSet).
    pub async fn deployment(&self, name: &str, app: &str, replicas: i32) -> OwnerReference {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), NS);
        let d: Deployment =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": workload_spec(app, replicas)})).unwrap();
        let d = api.create(&PostParams::default(), &d).await.unwrap();
        let uid = d.metadata.uid.unwrap();
        self.replicaset_owned(&format!("{name}-rs"), app, replicas, Some(owner("apps/v1", "Deployment", name, &uid)))
            .await
    }

    /// Another ReplicaSet of an existing Deployment (a rollout's new revision).
    pub async fn revision(&self, deployment: &str, rs: &str, app: &str, replicas: i32) -> OwnerReference {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), NS);
        let uid = api.get(deployment).await.unwrap().metadata.uid.unwrap();
        self.replicaset_owned(rs, app, replicas, Some(owner("apps/v1", "Deployment", deployment, &uid))).await
    }

    /// A ReplicaSet no Deployment controls.
    pub async fn replicaset(&self, name: &str, app: &str, replicas: i32) -> OwnerReference {
        self.replicaset_owned(name, app, replicas, None).await
    }

    async fn replicaset_owned(
        &self,
        name: &str,
        app: &str,
        replicas: i32,
        parent: Option<OwnerReference>,
    ) -> OwnerReference {
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), NS);
        let mut meta = json!({"name": name});
        if let Some(p) = parent {
            meta["ownerReferences"] = json!([p]);
        }
        let rs: ReplicaSet =
            serde_json::from_value(json!({"metadata": meta, "spec": workload_spec(app, replicas)})).unwrap();
        let rs = api.create(&PostParams::default(), &rs).await.unwrap();
        owner("apps/v1", "ReplicaSet", name, &rs.metadata.uid.unwrap())
    }

    pub async fn statefulset(&self, name: &str, app: &str, replicas: i32) -> OwnerReference {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), NS);
        let mut spec = workload_spec(app, replicas);
        spec["serviceName"] = json!(name);
        let s: StatefulSet = serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
        let s = api.create(&PostParams::default(), &s).await.unwrap();
        owner("apps/v1", "StatefulSet", name, &s.metadata.uid.unwrap())
    }

    /// Scales a workload object (`deployments`, `replicasets`, `statefulsets`) by patching spec.replicas.
    pub async fn scale(&self, plural: &str, name: &str, replicas: i32) {
        let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
        let pp = PatchParams::default();
        match plural {
            "deployments" => {
                drop(Api::<Deployment>::namespaced(self.client.clone(), NS).patch(name, &pp, &patch).await)
            }
            "replicasets" => {
                drop(Api::<ReplicaSet>::namespaced(self.client.clone(), NS).patch(name, &pp, &patch).await)
            }
            _ => drop(Api::<StatefulSet>::namespaced(self.client.clone(), NS).patch(name, &pp, &patch).await),
        }
        self.settle().await;
    }

    /// A pod labelled `app=<app>` bound to `node`, owned by `owner`, in `state`.
    pub async fn pod_on(
        &self,
        name: &str,
        app: &str,
        owner: Option<&OwnerReference>,
        state: PodState,
        node: &str,
    ) -> Pod {
        let mut meta = json!({"name": name, "labels": {"app": app}});
        if let Some(o) = owner {
            meta["ownerReferences"] = json!([o]);
        }
        let p: Pod = serde_json::from_value(json!({
            "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "registry.example/app:1"}]},
        }))
        .unwrap();
        self.pods().create(&PostParams::default(), &p).await.unwrap();
        self.set_state(name, state).await
    }

    pub async fn pod(&self, name: &str, app: &str, owner: Option<&OwnerReference>, state: PodState) -> Pod {
        self.pod_on(name, app, owner, state, "blue-1").await
    }

    /// `n` pods `<prefix>-0..n` on the blue nodes, round robin.
    pub async fn replicas(&self, prefix: &str, app: &str, owner: Option<&OwnerReference>, n: usize) -> Vec<Pod> {
        let mut out = Vec::new();
        for i in 0..n {
            let node = format!("blue-{}", i % 3 + 1);
            out.push(self.pod_on(&format!("{prefix}-{i}"), app, owner, PodState::Ready, &node).await);
        }
        out
    }

    /// Writes phase and Ready condition through the status subresource.
    pub async fn set_state(&self, name: &str, state: PodState) -> Pod {
        let (phase, ready) = match state {
            PodState::Ready => ("Running", "True"),
            PodState::NotReady => ("Running", "False"),
            PodState::Pending => ("Pending", "False"),
            PodState::Succeeded => ("Succeeded", "False"),
            PodState::Failed => ("Failed", "False"),
        };
        let status = json!({"status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}});
        let p = self.pods().patch_status(name, &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
        self.settle().await;
        p
    }

    /// Creates a budget `spec` (selector and min/max) and lets the controller sync it.
    pub async fn pdb(&self, name: &str, spec: Value) -> PodDisruptionBudget {
        let pdb: PodDisruptionBudget =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
        self.pdbs().create(&PostParams::default(), &pdb).await.unwrap();
        self.settle().await;
        self.pdbs().get(name).await.unwrap()
    }

    pub async fn status(&self, pdb: &str) -> PodDisruptionBudgetStatus {
        self.pdbs().get(pdb).await.unwrap().status.unwrap_or_default()
    }

    pub async fn counts(&self, pdb: &str) -> Counts {
        counts(&self.status(pdb).await)
    }

    /// The budget's `DisruptionAllowed` condition as `(status, reason, message)`.
    pub async fn condition(&self, pdb: &str) -> (String, String, String) {
        let s = self.status(pdb).await;
        let c = s.conditions.unwrap_or_default().into_iter().find(|c| c.type_ == "DisruptionAllowed").unwrap();
        (c.status, c.reason, c.message)
    }

    /// POST an eviction (policy/v1) with `delete_options`; `query` is appended to the URL (`?dryRun=All`).
    pub async fn evict_with(&self, pod: &str, delete_options: Value, query: &str) -> Reply {
        let mut body =
            json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": NS}});
        if !delete_options.is_null() {
            body["deleteOptions"] = delete_options;
        }
        self.post_eviction(pod, body, query).await
    }

    pub async fn evict(&self, pod: &str) -> Reply {
        self.evict_with(pod, Value::Null, "").await
    }

    /// POST an arbitrary body to the pod's eviction subresource.
    pub async fn post_eviction(&self, pod: &str, body: Value, query: &str) -> Reply {
        let req = http::Request::post(format!("/api/v1/namespaces/{NS}/pods/{pod}/eviction{query}"))
            .header("content-type", "application/json")
            .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let resp = self.client.send(req).await.unwrap();
        let code = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        self.settle().await;
        Reply { code, retry_after, body }
    }

    /// Does the pod (still) exist, and is it terminating?
    pub async fn pod_state(&self, name: &str) -> Option<Pod> {
        self.pods().get_opt(name).await.unwrap()
    }

    /// Reason and message of the events recorded about `name` with reason `reason`.
    pub async fn events(&self, name: &str, reason: &str) -> Vec<String> {
        let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(self.client.clone(), NS);
        let lp = kube::api::ListParams::default().fields(&format!("involvedObject.name={name},reason={reason}"));
        api.list(&lp).await.unwrap().items.into_iter().map(|e| e.message.unwrap_or_default()).collect()
    }
}

/// Asserts the 429 a budget with no disruption left gives.
pub fn assert_budget_429(r: &Reply, pdb: &str, desired: i32, current: i32) {
    assert_eq!(r.code, 429, "{:?}", r.body);
    assert_eq!(r.message(), "Cannot evict pod as it would violate the pod's disruption budget.");
    assert_eq!(
        r.cause(),
        (
            "DisruptionBudget",
            format!("The disruption budget {pdb} needs {desired} healthy pods and has {current} currently").as_str()
        )
    );
    assert_eq!(r.retry_after, None, "no Retry-After on an exhausted budget");
    assert_eq!(r.body["details"]["retryAfterSeconds"], Value::Null);
}

/// Asserts the 429 "still being processed" with Retry-After 10.
pub fn assert_still_processing(r: &Reply, pdb: &str) {
    assert_eq!(r.code, 429, "{:?}", r.body);
    assert_eq!(r.message(), "Cannot evict pod as it would violate the pod's disruption budget.");
    assert_eq!(
        r.cause(),
        ("DisruptionBudget", format!("The disruption budget {pdb} is still being processed by the server.").as_str())
    );
    assert_eq!(r.retry_after.as_deref(), Some("10"));
    assert_eq!(r.body["details"]["retryAfterSeconds"], 10);
}

pub fn assert_created(r: &Reply) {
    assert_eq!(r.code, 201, "{:?}", r.body);
    assert_eq!(r.body["status"], "Success");
}
