//! Fault injection seen from a Kubernetes client: 500s and 429s at a rate (429 with Retry-After), latency,
//! watch streams cut, and the faults endpoint.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, PostParams, WatchParams};
use kubesim::{SimOptions, Simulator};
use serde_json::json;

use crate::cloud::call;
use crate::support::namespace;

async fn with_faults(sim: &Simulator, faults: serde_json::Value) {
    let (code, body, _) = call(&sim.client(), "PUT", "/sim/v1/faults", Some(faults)).await;
    assert_eq!(code, 200, "{body}");
}

/// The status codes of `n` LISTs of configmaps in `shop`.
async fn list_codes(client: &kube::Client, n: usize) -> Vec<u16> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let mut codes = Vec::new();
    for _ in 0..n {
        codes.push(match api.list(&ListParams::default()).await {
            Ok(_) => 200,
            Err(kube::Error::Api(s)) => s.code,
            Err(e) => panic!("{e}"),
        });
    }
    codes
}

#[tokio::test(start_paused = true)]
async fn error_and_throttle_rates_through_the_client() {
    let sim = Simulator::new(SimOptions { seed: 11, ..Default::default() });
    let client = sim.client();
    namespace(&client, "shop").await;
    with_faults(
        &sim,
        json!({"api": [{"verbs": ["list"], "resources": ["configmaps"], "error_rate": 0.2, "throttle_rate": 0.3}]}),
    )
    .await;
    let codes = list_codes(&client, 500).await;
    let count = |c: u16| codes.iter().filter(|x| **x == c).count();
    assert_eq!(count(200) + count(500) + count(429), 500);
    assert!((60..140).contains(&count(500)), "500s: {}", count(500));
    assert!((110..190).contains(&count(429)), "429s: {}", count(429));

    // Other verbs and resources are untouched.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    for _ in 0..50 {
        api.get("a").await.unwrap();
    }

    // Same seed, same failures.
    let again = Simulator::new(SimOptions { seed: 11, ..Default::default() });
    namespace(&again.client(), "shop").await;
    with_faults(
        &again,
        json!({"api": [{"verbs": ["list"], "resources": ["configmaps"], "error_rate": 0.2, "throttle_rate": 0.3}]}),
    )
    .await;
    assert_eq!(list_codes(&again.client(), 500).await, codes);
}

#[tokio::test(start_paused = true)]
async fn throttling_is_429_with_retry_after_and_no_budget_cause() {
    let sim = Simulator::new(SimOptions::default());
    let client = sim.client();
    namespace(&client, "shop").await;
    with_faults(&sim, json!({"api": [{"resources": ["configmaps"], "throttle_rate": 1.0, "retry_after_seconds": 3}]}))
        .await;
    let (code, body, headers) = call(&client, "GET", "/api/v1/namespaces/shop/configmaps", None).await;
    assert_eq!(code, 429);
    assert_eq!(headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("3"));
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["details"]["retryAfterSeconds"], 3);
    assert!(body["details"]["causes"].is_null(), "not a DisruptionBudget refusal: {body}");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let kube::Error::Api(s) = api.list(&ListParams::default()).await.unwrap_err() else { panic!() };
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));

    with_faults(&sim, json!({"api": [{"error_rate": 1.0}]})).await;
    let kube::Error::Api(s) = api.get("x").await.unwrap_err() else { panic!() };
    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    // The simulator's own endpoints are never faulted.
    let (code, _, _) = call(&client, "GET", "/sim/v1/faults", None).await;
    assert_eq!(code, 200);
}

#[tokio::test(start_paused = true)]
async fn latency_is_added_in_simulated_time() {
    let sim = Simulator::new(SimOptions::default());
    let client = sim.client();
    namespace(&client, "shop").await;
    with_faults(&sim, json!({"api": [{"verbs": ["list"], "latency": "2s"}, {"verbs": ["list"], "latency": "500ms"}]}))
        .await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let start = tokio::time::Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(2500) && took < Duration::from_secs(3), "{took:?}");
    let start = tokio::time::Instant::now();
    api.get_opt("x").await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn watch_streams_are_cut() {
    let sim = Simulator::new(SimOptions::default());
    let client = sim.client();
    namespace(&client, "shop").await;
    with_faults(&sim, json!({"watch_cut_after": "30s"})).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let start = tokio::time::Instant::now();
    let mut stream = api.watch(&WatchParams::default().timeout(290), "0").await.unwrap().boxed();
    while let Some(ev) = stream.next().await {
        ev.unwrap();
    }
    let lasted = start.elapsed();
    assert!(lasted >= Duration::from_secs(30) && lasted < Duration::from_secs(31), "cut after {lasted:?}");

    with_faults(&sim, json!({})).await;
    let start = tokio::time::Instant::now();
    let mut stream = api.watch(&WatchParams::default().timeout(100), "0").await.unwrap().boxed();
    while stream.next().await.is_some() {}
    assert!(start.elapsed() >= Duration::from_secs(100), "without the fault, the stream runs to its timeout");
}

#[tokio::test(start_paused = true)]
async fn faults_endpoint_round_trips_and_validates() {
    let sim = Simulator::new(SimOptions::default());
    let client = sim.client();
    let faults = json!({
        "api": [{"verbs": ["create"], "resources": ["pods/eviction"], "error_rate": 0.0, "throttle_rate": 0.5,
                 "retry_after_seconds": 2, "latency": "50ms"}],
        "watch_cut_after": "5m",
        "pods_never_ready": [{"namespace": "shop", "selector": "app=cart"}],
        "pods_stuck_terminating": [{"selector": "app in (legacy)"}],
        "nodes_never_ready": ["green"],
        "pool_create_failures": [{"pool": "red", "reason": "quota"}],
    });
    with_faults(&sim, faults.clone()).await;
    let (code, got, _) = call(&client, "GET", "/sim/v1/faults", None).await;
    assert_eq!(code, 200);
    assert_eq!(got["api"][0]["throttle_rate"], 0.5);
    assert_eq!(got["watch_cut_after"], "300s");
    assert_eq!(got["pods_never_ready"], faults["pods_never_ready"]);
    assert_eq!(got["pool_create_failures"], faults["pool_create_failures"]);
    assert_eq!(sim.store().lock().faults.watch_cut_after(), Some(Duration::from_secs(300)));

    let (code, body, _) = call(&client, "PUT", "/sim/v1/faults", Some(json!({"api": [{"error_rate": 1.5}]}))).await;
    assert_eq!((code, body["error"].as_str()), (422, Some("api[0].error_rate: rate 1.5 is not between 0 and 1")));
    let (code, body, _) =
        call(&client, "PUT", "/sim/v1/faults", Some(json!({"pods_never_ready": [{"selector": "a in"}]}))).await;
    assert_eq!(code, 422, "{body}");
    let (code, body, _) = call(&client, "PUT", "/sim/v1/faults", Some(json!({"watch_cut": "5m"}))).await;
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("unknown field `watch_cut`"), "{body}");
    let (code, body, _) = call(&client, "PUT", "/sim/v1/faults", Some(json!({"watch_cut_after": "soon"}))).await;
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("watch_cut_after: invalid duration \"soon\""), "{body}");
    // The rejected PUTs changed nothing.
    let (_, still, _) = call(&client, "GET", "/sim/v1/faults", None).await;
    assert_eq!(still, got);
}

#[tokio::test(start_paused = true)]
async fn scenario_faults_are_applied_at_load() {
    let text = "name: f\nfaults:\n  watch_cut_after: 45s\n  pods_never_ready: [{namespace: shop}]\n";
    let scenario = kubesim::scenario::Scenario::parse(text, "f.yaml").unwrap();
    let sim = Simulator::from_scenario(&scenario, SimOptions::default()).unwrap();
    let st = sim.store().lock();
    assert_eq!(st.faults.watch_cut_after(), Some(Duration::from_secs(45)));
    let mut pod = k8s_openapi::api::core::v1::Pod::default();
    pod.metadata.namespace = Some("shop".into());
    assert!(st.faults.pod_never_ready(&pod));
    pod.metadata.namespace = Some("other".into());
    assert!(!st.faults.pod_never_ready(&pod));
}
