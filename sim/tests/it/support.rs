//! Shared helpers for the simulator's tests.

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;
use kubesim::{SimOptions, Simulator};

/// A simulator with the standard components; call inside `#[tokio::test(start_paused = true)]` for virtual time.
pub fn sim() -> Simulator {
    Simulator::new(SimOptions::default())
}

pub async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("namespace json");
    api.create(&PostParams::default(), &ns).await.expect("create namespace");
}
