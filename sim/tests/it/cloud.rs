//! The simulated cloud through `/sim/v1`: pool create (idempotent) -> Provisioning -> nodes after
//! pool_provision -> Ready after node_ready; resize; delete; creation failures; never-ready nodes.

use std::time::Duration;

use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use kubesim::scenario::Dur;
use kubesim::{SimOptions, Simulator};
use serde_json::{Value, json};

/// A raw request to the simulator: status, JSON body, headers.
pub async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, http::HeaderMap) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(bytes))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v, headers)
}

/// A simulator with short cloud delays: provisioning 30s, node ready 10s, delete 20s.
pub fn sim() -> Simulator {
    let sim = Simulator::new(SimOptions::default());
    {
        let mut st = sim.store().lock();
        st.timing.delays.pool_provision = Dur::secs(30);
        st.timing.delays.node_ready = Dur::secs(10);
        st.timing.delays.pool_delete = Dur::secs(20);
    }
    sim
}

async fn nodes(client: &kube::Client) -> Vec<Node> {
    Api::<Node>::all(client.clone()).list(&ListParams::default()).await.unwrap().items
}

fn ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .unwrap()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn advance(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

fn green() -> Value {
    json!({"name": "green", "version": "v1.31.4", "size": 3, "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
           "labels": {"team": "platform"}, "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
           "allocatable": {"cpu": "8", "memory": "32Gi", "pods": 58}})
}

#[tokio::test(start_paused = true)]
async fn pool_create_is_idempotent_and_provisions_nodes() {
    let sim = sim();
    let c = sim.client();
    let (code, pool, _) = call(&c, "POST", "/sim/v1/pools", Some(green())).await;
    assert_eq!(code, 201, "{pool}");
    assert_eq!(pool["status"]["phase"], "Provisioning");
    assert_eq!(pool["spec"]["version"], "1.31.4", "the leading v is dropped");
    assert_eq!(pool["spec"]["instance_type"], "sim.xlarge", "defaults are explicit");

    // Same spec again: 200 with the existing pool. Another spec: 409.
    let (code, again, _) = call(&c, "POST", "/sim/v1/pools", Some(green())).await;
    assert_eq!((code, &again["status"]["created_at"]), (200, &pool["status"]["created_at"]));
    let mut other = green();
    other["version"] = json!("1.31.5");
    let (code, body, _) = call(&c, "POST", "/sim/v1/pools", Some(other)).await;
    assert_eq!(code, 409);
    assert_eq!(body["error"], "pool \"green\" already exists with a different spec (version differ)");

    advance(29).await;
    assert!(nodes(&c).await.is_empty(), "no node before pool_provision");
    advance(2).await;
    let ns = nodes(&c).await;
    let names: Vec<&str> = ns.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
    assert_eq!(names, ["green-1a-0", "green-1b-1", "green-1c-2"]);
    for n in &ns {
        assert!(!ready(n));
        let taints = n.spec.as_ref().unwrap().taints.clone().unwrap();
        assert!(taints.iter().any(|t| t.key == "node.kubernetes.io/not-ready" && t.effect == "NoSchedule"));
    }
    let (_, pool, _) = call(&c, "GET", "/sim/v1/pools/green", None).await;
    assert_eq!(
        (pool["status"]["phase"].as_str(), pool["status"]["ready_nodes"].as_u64()),
        (Some("Provisioning"), Some(0))
    );

    advance(10).await;
    let ns = nodes(&c).await;
    assert!(ns.iter().all(ready));
    let n = &ns[1];
    let labels = n.metadata.labels.clone().unwrap();
    for (k, v) in [
        ("kubesim.io/pool", "green"),
        ("kubernetes.io/hostname", "green-1b-1"),
        ("topology.kubernetes.io/zone", "eu-west-1b"),
        ("node.kubernetes.io/instance-type", "sim.xlarge"),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("team", "platform"),
    ] {
        assert_eq!(labels.get(k).map(String::as_str), Some(v), "{k}");
    }
    let taints = n.spec.as_ref().unwrap().taints.clone().unwrap();
    assert_eq!(taints.len(), 1, "only the pool's taint once Ready: {taints:?}");
    assert_eq!((taints[0].key.as_str(), taints[0].value.as_deref()), ("dedicated", Some("web")));
    let status = n.status.as_ref().unwrap();
    assert_eq!(status.node_info.as_ref().unwrap().kubelet_version, "v1.31.4");
    assert_eq!(status.allocatable.as_ref().unwrap()["pods"].0, "58");
    assert_eq!(status.allocatable.as_ref().unwrap()["cpu"].0, "8");
    let conditions: Vec<(String, String)> =
        status.conditions.as_ref().unwrap().iter().map(|c| (c.type_.clone(), c.status.clone())).collect();
    for (t, s) in [("Ready", "True"), ("MemoryPressure", "False"), ("DiskPressure", "False"), ("PIDPressure", "False")]
    {
        assert!(conditions.contains(&(t.to_string(), s.to_string())), "{conditions:?}");
    }
    let ip = &status.addresses.as_ref().unwrap()[0];
    assert_eq!(ip.type_, "InternalIP");
    assert!(ip.address.starts_with("10."), "{}", ip.address);

    let (code, list, _) = call(&c, "GET", "/sim/v1/pools", None).await;
    assert_eq!(code, 200);
    assert_eq!(list["items"][0]["status"]["phase"], "Ready");
    assert_eq!(list["items"][0]["status"]["ready_nodes"], 3);
    assert_eq!(list["items"][0]["status"]["nodes"], json!(["green-1a-0", "green-1b-1", "green-1c-2"]));
}

#[tokio::test(start_paused = true)]
async fn delete_pool_removes_its_nodes() {
    let sim = sim();
    let c = sim.client();
    call(&c, "POST", "/sim/v1/pools", Some(json!({"name": "old", "version": "1.30.8", "size": 2}))).await;
    call(&c, "POST", "/sim/v1/pools", Some(json!({"name": "keep", "version": "1.30.8", "size": 1}))).await;
    advance(45).await;
    assert_eq!(nodes(&c).await.len(), 3);

    let (code, pool, _) = call(&c, "DELETE", "/sim/v1/pools/old", None).await;
    assert_eq!((code, pool["status"]["phase"].as_str()), (202, Some("Deleting")));
    let (code, _, _) = call(&c, "DELETE", "/sim/v1/pools/old", None).await;
    assert_eq!(code, 202, "deleting twice is fine");
    // A pool being deleted cannot be re-created or resized.
    let (code, _, _) = call(&c, "POST", "/sim/v1/pools", Some(json!({"name": "old", "version": "1.30.8"}))).await;
    assert_eq!(code, 409);
    let (code, _, _) = call(&c, "PATCH", "/sim/v1/pools/old", Some(json!({"size": 5}))).await;
    assert_eq!(code, 409);

    advance(19).await;
    assert_eq!(nodes(&c).await.len(), 3, "nodes stay until pool_delete has passed");
    advance(2).await;
    let left: Vec<String> = nodes(&c).await.into_iter().filter_map(|n| n.metadata.name).collect();
    assert_eq!(left, ["keep-a-0"]);
    let (code, body, _) = call(&c, "GET", "/sim/v1/pools/old", None).await;
    assert_eq!((code, body["error"].as_str()), (404, Some("pool \"old\" not found")));
    let (code, body, _) = call(&c, "DELETE", "/sim/v1/pools/old", None).await;
    assert_eq!((code, body["error"].as_str()), (404, Some("pool \"old\" not found")));
}

#[tokio::test(start_paused = true)]
async fn resize_and_autoscaling() {
    let sim = sim();
    let c = sim.client();
    call(&c, "POST", "/sim/v1/pools", Some(json!({"name": "blue", "version": "1.30.8", "size": 2}))).await;
    advance(41).await;
    let (code, pool, _) = call(&c, "PATCH", "/sim/v1/pools/blue", Some(json!({"size": 4}))).await;
    assert_eq!(
        (code, pool["status"]["phase"].as_str(), pool["spec"]["size"].as_u64()),
        (200, Some("Resizing"), Some(4))
    );
    advance(41).await;
    let (_, pool, _) = call(&c, "GET", "/sim/v1/pools/blue", None).await;
    assert_eq!(pool["status"]["phase"], "Ready");
    assert_eq!(pool["status"]["nodes"], json!(["blue-a-0", "blue-b-1", "blue-c-2", "blue-a-3"]));

    // Shrinking removes the highest-numbered nodes after pool_delete.
    let (code, _, _) = call(&c, "PATCH", "/sim/v1/pools/blue", Some(json!({"size": 1}))).await;
    assert_eq!(code, 200);
    advance(21).await;
    let left: Vec<String> = nodes(&c).await.into_iter().filter_map(|n| n.metadata.name).collect();
    assert_eq!(left, ["blue-a-0"]);

    // Autoscaling is data the provider freezes and restores; the size must stay in range while enabled.
    let (code, pool, _) =
        call(&c, "PATCH", "/sim/v1/pools/blue", Some(json!({"autoscaling": {"enabled": true, "min": 1, "max": 3}})))
            .await;
    assert_eq!(code, 200);
    assert_eq!(pool["spec"]["autoscaling"], json!({"enabled": true, "min": 1, "max": 3}));
    let (code, body, _) = call(&c, "PATCH", "/sim/v1/pools/blue", Some(json!({"size": 5}))).await;
    assert_eq!((code, body["error"].as_str()), (422, Some("size 5 is outside the autoscaling range 1..=3")));
    let (code, pool, _) =
        call(&c, "PATCH", "/sim/v1/pools/blue", Some(json!({"autoscaling": {"enabled": false}}))).await;
    assert_eq!((code, &pool["spec"]["autoscaling"]), (200, &json!({"enabled": false, "min": 1, "max": 3})));

    // The Rust API is the same cloud.
    let p = sim.store().update_pool("blue", &kubesim::cloud::PoolPatch { size: Some(2), autoscaling: None }).unwrap();
    assert_eq!(p.spec.size, 2);
    assert!(matches!(sim.store().delete_pool("nope"), Err(kubesim::cloud::CloudError::NotFound(_))));
}

#[tokio::test(start_paused = true)]
async fn fail_create_fault_fails_the_pool_with_its_reason() {
    let sim = sim();
    let c = sim.client();
    let faults = json!({"pool_create_failures": [{"pool": "green", "reason": "InsufficientInstanceCapacity: no m5.xlarge in eu-west-1b"}]});
    let (code, _, _) = call(&c, "PUT", "/sim/v1/faults", Some(faults)).await;
    assert_eq!(code, 200);
    let (code, pool, _) = call(&c, "POST", "/sim/v1/pools", Some(green())).await;
    assert_eq!((code, pool["status"]["phase"].as_str()), (201, Some("Provisioning")));
    advance(31).await;
    let (_, pool, _) = call(&c, "GET", "/sim/v1/pools/green", None).await;
    assert_eq!(pool["status"]["phase"], "Failed");
    assert_eq!(pool["status"]["reason"], "InsufficientInstanceCapacity: no m5.xlarge in eu-west-1b");
    assert!(nodes(&c).await.is_empty());
    // A failed pool can be deleted (and then created again).
    let (code, _, _) = call(&c, "DELETE", "/sim/v1/pools/green", None).await;
    assert_eq!(code, 202);
    advance(21).await;
    let (code, _, _) = call(&c, "GET", "/sim/v1/pools/green", None).await;
    assert_eq!(code, 404);
}

#[tokio::test(start_paused = true)]
async fn never_ready_nodes_until_the_fault_is_lifted() {
    let sim = sim();
    let c = sim.client();
    call(&c, "PUT", "/sim/v1/faults", Some(json!({"nodes_never_ready": ["green"]}))).await;
    call(&c, "POST", "/sim/v1/pools", Some(green())).await;
    call(&c, "POST", "/sim/v1/pools", Some(json!({"name": "other", "version": "1.31.4", "size": 1}))).await;
    advance(600).await;
    let ns = nodes(&c).await;
    assert_eq!(ns.len(), 4);
    for n in &ns {
        let pool = n.metadata.labels.as_ref().unwrap()["kubesim.io/pool"].clone();
        assert_eq!(ready(n), pool == "other", "{:?}", n.metadata.name);
    }
    let (_, pool, _) = call(&c, "GET", "/sim/v1/pools/green", None).await;
    assert_eq!(
        (pool["status"]["phase"].as_str(), pool["status"]["ready_nodes"].as_u64()),
        (Some("Provisioning"), Some(0))
    );

    call(&c, "PUT", "/sim/v1/faults", Some(json!({}))).await;
    advance(1).await;
    assert!(nodes(&c).await.iter().all(ready));
    let (_, pool, _) = call(&c, "GET", "/sim/v1/pools/green", None).await;
    assert_eq!(pool["status"]["phase"], "Ready");
}

#[tokio::test(start_paused = true)]
async fn bad_requests_and_other_endpoints() {
    let sim = sim();
    let c = sim.client();
    let (code, body, _) = call(&c, "POST", "/sim/v1/pools", Some(json!({"name": "x", "version": "1.31"}))).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (422, Some("version: invalid version \"1.31\": expected MAJOR.MINOR.PATCH, e.g. 1.30.8"))
    );
    let (code, body, _) =
        call(&c, "POST", "/sim/v1/pools", Some(json!({"name": "x", "version": "1.31.0", "nodes": 3}))).await;
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid body: nodes: unknown field `nodes`, expected one of `name`"),
        "{body}"
    );
    let (code, body, _) =
        call(&c, "POST", "/sim/v1/pools", Some(json!({"name": "x", "version": "1.31.0", "size": "3"}))).await;
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().starts_with("invalid body: size: invalid type"), "{body}");
    let (code, _, _) = call(&c, "PATCH", "/sim/v1/pools/ghost", Some(json!({"size": 1}))).await;
    assert_eq!(code, 404);
    let (code, _, _) = call(&c, "PUT", "/sim/v1/pools", None).await;
    assert_eq!(code, 405);
    let (code, body, _) = call(&c, "GET", "/sim/v1/nothing", None).await;
    assert_eq!((code, body["error"].as_str()), (404, Some("no simulator endpoint /sim/v1/nothing")));

    advance(90).await;
    let (code, clock, _) = call(&c, "GET", "/sim/v1/clock", None).await;
    assert_eq!(code, 200);
    assert_eq!(clock["speed"], 1.0);
    assert!(clock["elapsed_seconds"].as_f64().unwrap() >= 90.0);
    assert!(clock["now"].as_str().unwrap().starts_with("2026-01-01T00:01:3"), "{clock}");
    let (code, recorder, _) = call(&c, "GET", "/sim/v1/recorder", None).await;
    assert_eq!(code, 200);
    assert!(recorder.is_object());
}
