//! `poolshift plan` changes nothing: the API server's audit log shows only reads and server-side dry runs
//! from poolshift's identity. poolshift runs here as a ServiceAccount of its own (bound to cluster-admin, with
//! a token from the TokenRequest API), so its requests are told apart from the other tests' upgrades.

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Api;
use kube::api::PostParams;
use poolshift_testenv::ControlPlane;
use serde_json::{Value, json};

use crate::support::{TestWorld, demo, stderr, stdout};

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("object")
}

#[test]
fn plan_sends_only_get_list_watch_and_dry_runs() {
    let w = TestWorld::load("plan", &demo(&[]), "    to: 1.36.3\n    batch: 50%\n");
    let ns = w.ns("poolshift");
    let user = format!("system:serviceaccount:{ns}:planner");
    let token = w.rt.block_on(async {
        let pp = PostParams::default();
        Api::<Namespace>::all(w.client.clone())
            .create(&pp, &decode(json!({"metadata": {"name": ns}})))
            .await
            .expect("namespace");
        let sas: Api<ServiceAccount> = Api::namespaced(w.client.clone(), &ns);
        sas.create(&pp, &decode(json!({"metadata": {"name": "planner"}}))).await.expect("service account");
        let binding = json!({
            "metadata": {"name": format!("{ns}-planner")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "planner", "namespace": ns}],
        });
        Api::<ClusterRoleBinding>::all(w.client.clone()).create(&pp, &decode(binding)).await.expect("binding");
        let req: TokenRequest = decode(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}));
        let tr = sas.create_token_request("planner", &pp, &req).await.expect("token request");
        tr.status.and_then(|s| s.token).expect("token")
    });
    let kubeconfig = w.dir.path().join("planner.kubeconfig");
    ControlPlane::shared().kubeconfig_for("planner", &token, &kubeconfig).expect("kubeconfig");
    w.use_kubeconfig(&kubeconfig, false);

    let o = w.run("plan", &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(5), "the demo has a blocker (exit 5):\n{out}\n{}", stderr(&o));
    assert!(out.contains("legacy-reporting"), "{out}");

    let log = std::fs::read_to_string(ControlPlane::shared().audit_log()).expect("audit log");
    let mut verbs: BTreeMap<String, usize> = BTreeMap::new();
    let mut changes = Vec::new();
    for line in log.lines() {
        let Ok(ev) = serde_json::from_str::<Value>(line) else { continue };
        if ev["user"]["username"] != user.as_str() {
            continue;
        }
        let verb = ev["verb"].as_str().unwrap_or("").to_string();
        let uri = ev["requestURI"].as_str().unwrap_or("").to_string();
        let dry_run = uri.contains("dryRun=All");
        *verbs.entry(if dry_run { format!("{verb} (dryRun)") } else { verb.clone() }).or_default() += 1;
        if !matches!(verb.as_str(), "get" | "list" | "watch") && !dry_run {
            changes.push(format!("{verb} {uri}"));
        }
    }
    eprintln!("plan: requests by verb in the audit log: {verbs:?}");
    assert!(verbs.get("list").copied().unwrap_or(0) > 0, "the audit log has poolshift's reads: {verbs:?}");
    assert!(verbs.keys().any(|v| v.ends_with("(dryRun)")), "the preflight's dry-run evictions: {verbs:?}");
    assert!(changes.is_empty(), "plan changed something: {changes:?}");
}
