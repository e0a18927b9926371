//! deploy/ on the real control plane: a whole upgrade as the ServiceAccount `poolshift-system/poolshift`
//! with exactly the RBAC of deploy/ succeeds, and the audit log shows every granted (verb, resource) used;
//! then every granted right is taken away, one at a time, each in a fresh world: the run stops at the step
//! that needs it with the API server's refusal naming the verb and the resource, and nothing is lost (the one
//! exception, by design: without `create events` the run goes on and says once that it cannot write them).
//!
//! The kwok provider stands in for a cloud here: it creates green's Node objects and keeps pool records,
//! which on EKS or GKE are the cloud's API calls under IAM, not Kubernetes RBAC. So it acts with its own
//! credentials (the admin kubeconfig, `provider.kubeconfig`), as a cloud's API does, and none of its rights
//! come from deploy/ or hide a right removed from it.

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

/// The manifests with rules.
const ROLE_FILES: [&str; 3] = ["20-clusterrole.yaml", "30-role.yaml", "32-events-role.yaml"];

/// A granted right: (API group, resource with its subresource, verb, namespace for a Role's).
type Right = (String, String, String, Option<String>);

/// Every (group, resource, verb) the deploy/ roles grant, with the Role's namespace.
fn granted() -> BTreeSet<Right> {
    let mut out = BTreeSet::new();
    for file in ROLE_FILES {
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

/// Applies deploy/'s manifests as they are.
fn apply_deploy(w: &TestWorld) {
    for m in MANIFESTS {
        let path = repo_root().join("deploy").join(m);
        w.kubectl_ok(&["apply", "-f", path.to_str().expect("utf-8 path")]);
    }
}

/// Applies deploy/, then points the world's cluster file at the ServiceAccount (the provider keeps the admin's).
fn as_service_account(w: &TestWorld) {
    apply_deploy(w);
    let token = w.rt.block_on(async {
        let sas: Api<ServiceAccount> = Api::namespaced(w.client.clone(), "poolshift-system");
        let req: TokenRequest =
            serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}})).expect("request");
        let tr = sas.create_token_request("poolshift", &PostParams::default(), &req).await.expect("token request");
        tr.status.and_then(|s| s.token).expect("token")
    });
    let kubeconfig = w.dir.path().join("sa.kubeconfig");
    ControlPlane::shared().kubeconfig_for("poolshift-sa", &token, &kubeconfig).expect("kubeconfig");
    w.use_kubeconfig(&kubeconfig, true);
}

/// The manifest of `file` without `right` (its rule keeps the other verbs and resources); `None` when the
/// file does not grant it.
fn manifest_without(file: &str, right: &Right) -> Option<String> {
    let (group, resource, verb, ns) = right;
    let text = std::fs::read_to_string(repo_root().join("deploy").join(file)).expect("manifest");
    let mut found = false;
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut v: Value = serde::Deserialize::deserialize(doc).expect("YAML");
        let is_role = matches!(v["kind"].as_str(), Some("ClusterRole" | "Role"));
        if is_role && v["metadata"]["namespace"].as_str().map(str::to_string) == *ns {
            let mut rules = Vec::new();
            for rule in v["rules"].as_array().expect("rules") {
                let has = |k: &str, x: &str| rule[k].as_array().is_some_and(|a| a.iter().any(|y| y == x));
                if !(has("apiGroups", group) && has("resources", resource) && has("verbs", verb)) {
                    rules.push(rule.clone());
                    continue;
                }
                found = true;
                // The rule without this resource, and this resource without this verb.
                let others = |k: &str, x: &str| -> Vec<Value> {
                    rule[k].as_array().expect(k).iter().filter(|y| *y != x).cloned().collect()
                };
                let (resources, verbs) = (others("resources", resource), others("verbs", verb));
                if !resources.is_empty() {
                    let mut r = rule.clone();
                    r["resources"] = Value::Array(resources);
                    rules.push(r);
                }
                if !verbs.is_empty() {
                    rules.push(json!({"apiGroups": [group], "resources": [resource], "verbs": verbs}));
                }
            }
            v["rules"] = Value::Array(rules);
        }
        docs.push(serde_json::to_string(&v).expect("JSON is YAML"));
    }
    found.then(|| docs.join("\n---\n"))
}

/// Applies deploy/'s roles without `right`.
fn take_away(w: &TestWorld, right: &Right) {
    let manifests: Vec<String> = ROLE_FILES.iter().filter_map(|f| manifest_without(f, right)).collect();
    assert_eq!(manifests.len(), 1, "exactly one role grants {right:?}");
    apply(w, &manifests[0]);
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

    // Every right taken away in turn, each in a fresh world.
    let mut stops = Vec::new();
    for (i, right) in granted.iter().enumerate() {
        let (_, resource, verb, ns) = right;
        let mut w = TestWorld::load(&format!("rb{i}"), &demo(&["legacy-reporting"]), policy);
        as_service_account(&w);
        take_away(&w, right);
        let o = w.run("upgrade", &["--yes"]);
        let (out, err) = (stdout(&o), stderr(&o));
        // The log lines are JSON when not on a terminal: their quotes come escaped.
        let all = format!("{out}\n{err}").replace("\\\"", "\"");
        let refusal = format!("cannot {verb} resource \"{resource}\"");
        let what =
            format!("without {verb} {resource}{}", ns.as_deref().map(|n| format!(" in {n}")).unwrap_or_default());
        assert!(all.contains(&refusal), "{what}: the refusal names verb and resource ({refusal}):\n{all}");
        // No budget broken, no pod deleted outside blue (the watcher's checks); and below, nothing deleted at
        // all where the run stops.
        let deletions = w.check_watcher(&[&w.blue.clone()]).deletions;
        let cordoned: Vec<_> = w.nodes().into_iter().filter(|(_, _, c)| *c).collect();
        match (resource.as_str(), verb.as_str()) {
            // Telling people never holds the run: it goes on without those Events, and says so once.
            ("events", "create") => {
                assert_eq!(o.status.code(), Some(0), "{what}: the run goes on:\n{all}");
                assert_eq!(all.matches("cannot write Kubernetes Events").count(), 1, "{what}: said once:\n{all}");
            }
            // Without the Eviction API the first batch's evictions are refused: a blocker (exit 4), never
            // retried in a loop; its nodes stay cordoned for resume or rollback.
            ("pods/eviction", "create") => {
                assert_eq!(o.status.code(), Some(4), "{what}:\n{all}");
                assert!(out.contains(&refusal), "{what}: the blocker names the refusal:\n{out}");
                assert!(deletions.is_empty(), "{what}: nothing deleted: {deletions:?}");
                let s = w.status();
                assert_eq!(s["run"]["status"], "blocked", "{what}: {s}");
                assert_eq!(s["run"]["pods_moved"], 0, "{what}: {s}");
            }
            // Anything else stops the run before anything on blue changes.
            _ => {
                assert_ne!(o.status.code(), Some(0), "{what}: the run stops:\n{all}");
                assert!(deletions.is_empty(), "{what}: nothing deleted: {deletions:?}");
                assert!(cordoned.is_empty(), "{what}: nothing cordoned: {cordoned:?}");
            }
        }
        // For the record: the line that tells the operator (the final error, else the first that names it).
        let naming = || all.lines().filter(|l| l.contains(&refusal));
        let line = naming().find(|l| l.starts_with("poolshift: ")).or_else(|| naming().next()).unwrap_or_default();
        stops.push(format!("{what}: exit {:?}: {}", o.status.code(), line.trim()));
    }
    // deploy/ as it is for whoever runs next (each world above applied it whole before taking a right away).
    apply_deploy(&w);
    eprintln!("rbac: every right taken away in turn:\n  {}", stops.join("\n  "));
}
