//! deploy/ on the real control plane: a whole upgrade as the ServiceAccount `poolshift-system/poolshift`
//! with exactly the RBAC of deploy/ succeeds, and the audit log shows every granted (verb, resource) used;
//! with one rule taken away the run stops at that step with the API server's refusal naming the verb and the
//! resource, and nothing is lost.
//!
//! The kwok provider stands in for a cloud here: it creates green's Node objects and keeps pool records,
//! which on EKS or GKE are the cloud's API calls under IAM, not Kubernetes RBAC. Its rights are a separate
//! ClusterRole (`poolshift-test-kwok-provider`, below) and are not part of what deploy/ grants.

use std::collections::BTreeSet;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use poolshift_testenv::ControlPlane;
use serde_json::{Value, json};

use crate::support::{TestWorld, demo, repo_root, stderr, stdout};

const SA_USER: &str = "system:serviceaccount:poolshift-system:poolshift";
const MANIFESTS: &[&str] = &[
    "00-namespace.yaml",
    "10-serviceaccount.yaml",
    "20-clusterrole.yaml",
    "21-clusterrolebinding.yaml",
    "30-role.yaml",
    "31-rolebinding.yaml",
    "32-events-role.yaml",
];

/// What the kwok provider needs (the cloud's side of an upgrade), bound to the same ServiceAccount.
const KWOK_PROVIDER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: poolshift-test-kwok-provider}
rules:
  - {apiGroups: [""], resources: [nodes], verbs: [get, list, create, delete, update]}
  - {apiGroups: [""], resources: [namespaces], verbs: [get, create]}
  - {apiGroups: [""], resources: [pods], verbs: [get]}
  - {apiGroups: [""], resources: [configmaps], verbs: [get, list, create, update, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: poolshift-test-kwok-provider}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: poolshift-test-kwok-provider}
subjects: [{kind: ServiceAccount, name: poolshift, namespace: poolshift-system}]
"#;

/// A granted right: (API group, resource with its subresource, verb, namespace for a Role's).
type Right = (String, String, String, Option<String>);

/// Every (group, resource, verb) the deploy/ roles grant, with the Role's namespace.
fn granted() -> BTreeSet<Right> {
    let mut out = BTreeSet::new();
    for file in ["20-clusterrole.yaml", "30-role.yaml", "32-events-role.yaml"] {
        let text = std::fs::read_to_string(repo_root().join("deploy").join(file)).expect("manifest");
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).expect("YAML");
            if !matches!(v["kind"].as_str(), Some("ClusterRole" | "Role")) {
                continue;
            }
            let ns = v["metadata"]["namespace"].as_str().map(str::to_string);
            for rule in v["rules"].as_array().expect("rules") {
                let list = |k: &str| -> Vec<String> {
                    rule[k].as_array().expect(k).iter().map(|x| x.as_str().expect("a string").to_string()).collect()
                };
                for g in list("apiGroups") {
                    for r in list("resources") {
                        for verb in list("verbs") {
                            assert_ne!(verb, "*", "{file}: no wildcard verbs");
                            assert_ne!(r, "*", "{file}: no wildcard resources");
                            out.insert((g.clone(), r.clone(), verb, ns.clone()));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The rights the ServiceAccount's requests in the audit log used.
fn used(log: &str) -> BTreeSet<Right> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["user"]["username"] == SA_USER && e["stage"] == "ResponseComplete")
        .filter(|e| e["responseStatus"]["code"].as_i64().is_some_and(|c| c < 400))
        .filter_map(|e| {
            let o = &e["objectRef"];
            let mut resource = o["resource"].as_str()?.to_string();
            if let Some(sub) = o["subresource"].as_str() {
                resource = format!("{resource}/{sub}");
            }
            let group = o["apiGroup"].as_str().unwrap_or("").to_string();
            let ns = o["namespace"].as_str().map(str::to_string);
            Some((group, resource, e["verb"].as_str()?.to_string(), ns))
        })
        .collect()
}

fn covered(right: &Right, used: &BTreeSet<Right>) -> bool {
    let (g, r, v, ns) = right;
    used.iter().any(|(ug, ur, uv, uns)| ug == g && ur == r && uv == v && (ns.is_none() || ns == uns))
}

fn apply(w: &TestWorld, yaml: &str) {
    let path = w.dir.path().join("apply.yaml");
    std::fs::write(&path, yaml).expect("write manifest");
    w.kubectl_ok(&["apply", "-f", path.to_str().expect("utf-8 path")]);
}

/// Applies deploy/ (and the provider stand-in), then points the world's cluster file at the ServiceAccount.
fn as_service_account(w: &TestWorld) {
    for m in MANIFESTS {
        let path = repo_root().join("deploy").join(m);
        w.kubectl_ok(&["apply", "-f", path.to_str().expect("utf-8 path")]);
    }
    apply(w, KWOK_PROVIDER);
    let token = w.rt.block_on(async {
        let sas: Api<ServiceAccount> = Api::namespaced(w.client.clone(), "poolshift-system");
        let req: TokenRequest =
            serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}})).expect("request");
        let tr = sas.create_token_request("poolshift", &PostParams::default(), &req).await.expect("token request");
        tr.status.and_then(|s| s.token).expect("token")
    });
    let kubeconfig = w.dir.path().join("sa.kubeconfig");
    ControlPlane::shared().kubeconfig_for("poolshift-sa", &token, &kubeconfig).expect("kubeconfig");
    w.use_kubeconfig(&kubeconfig);
}

/// The ClusterRole of deploy/ without `verb` on `resource` (the rule keeps its other verbs).
fn clusterrole_without(resource: &str, verb: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("deploy/20-clusterrole.yaml")).expect("manifest");
    let mut v: Value = serde_yaml_ng::from_str(&text).expect("YAML");
    let rules = v["rules"].as_array_mut().expect("rules");
    for rule in rules.iter_mut() {
        let has = rule["resources"].as_array().is_some_and(|rs| rs.iter().any(|r| r == resource));
        if has {
            let verbs: Vec<Value> =
                rule["verbs"].as_array().expect("verbs").iter().filter(|x| *x != verb).cloned().collect();
            rule["verbs"] = Value::Array(verbs);
        }
    }
    // A rule left without verbs goes (the API server refuses an empty one).
    rules.retain(|r| r["verbs"].as_array().is_some_and(|v| !v.is_empty()));
    serde_json::to_string(&v).expect("JSON is YAML")
}

#[test]
fn a_whole_upgrade_as_the_deploy_service_account_uses_every_granted_rule_and_each_rule_is_needed() {
    let policy = "    to: 1.36.3\n    batch: 50%\n    batch_soak: 2s\n    pool_soak: 2s\n";
    let mut w = TestWorld::load("rbac", &demo(&["legacy-reporting"]), policy);
    as_service_account(&w);
    let o = w.run("upgrade", &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "as the ServiceAccount:\n{}\n{}", stdout(&o), stderr(&o));
    w.check_watcher(&[&w.blue.clone()]);

    let log = std::fs::read_to_string(ControlPlane::shared().audit_log()).expect("audit log");
    let used = used(&log);
    let granted = granted();
    let unused: Vec<&Right> = granted.iter().filter(|r| !covered(r, &used)).collect();
    assert!(unused.is_empty(), "granted by deploy/ but never used in a whole upgrade: {unused:?}\nused: {used:?}");
    eprintln!("rbac: {} granted rights, all used", granted.len());

    // Without the Eviction API the run stops at the first batch's evictions (the 403 is a blocker, never
    // retried in a loop), naming the refused verb and resource; nothing is deleted.
    let mut w2 = TestWorld::load("rbac-evict", &demo(&["legacy-reporting"]), policy);
    as_service_account(&w2);
    apply(&w2, &clusterrole_without("pods/eviction", "create"));
    let o = w2.run("upgrade", &["--yes"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(4), "{out}\n{err}");
    assert!(out.contains("cannot create resource \"pods/eviction\""), "the refusal names verb and resource:\n{out}");
    let report = w2.check_watcher(&[&w2.blue.clone()]);
    assert!(report.deletions.is_empty(), "nothing deleted: {:?}", report.deletions);
    let s = w2.status();
    assert_eq!(s["run"]["status"], "blocked", "{s}");
    assert_eq!(s["run"]["pods_moved"], 0, "{s}");

    // Without `update` on Leases the run cannot keep its lock: refused before anything on blue changes.
    let w3 = TestWorld::load("rbac-lease", &demo(&["legacy-reporting"]), policy);
    as_service_account(&w3);
    let role = std::fs::read_to_string(repo_root().join("deploy/30-role.yaml")).expect("role");
    let mut v: Value = serde_yaml_ng::from_str(&role).expect("YAML");
    for rule in v["rules"].as_array_mut().expect("rules") {
        if rule["resources"].as_array().is_some_and(|rs| rs.iter().any(|r| r == "leases")) {
            rule["verbs"] = json!(["get", "create"]);
        }
    }
    apply(&w3, &serde_json::to_string(&v).expect("JSON"));
    let o = w3.run("upgrade", &["--yes"]);
    let all = format!("{}\n{}", stdout(&o), stderr(&o));
    assert_ne!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("cannot update resource \"leases\""), "the refusal names verb and resource:\n{all}");
    let cordoned: Vec<_> = w3.nodes().into_iter().filter(|(_, _, c)| *c).collect();
    assert!(cordoned.is_empty(), "nothing cordoned: {cordoned:?}");

    // Put deploy/ back as it is for whoever runs next.
    for m in ["20-clusterrole.yaml", "30-role.yaml"] {
        let path = repo_root().join("deploy").join(m);
        w3.kubectl_ok(&["apply", "-f", path.to_str().expect("utf-8 path")]);
    }
}
