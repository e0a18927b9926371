//! The built kubectl against the real control plane: version, get, cordon, drain, scale (the CLI tests'
//! kubectl from now on; the machine may have none).

use serde_json::Value;

use crate::support::{TestWorld, demo, stdout};

#[test]
fn built_kubectl_gets_cordons_drains_and_scales() {
    let w = TestWorld::load("kctl", &demo(&["legacy-reporting"]), "    to: 1.36.3\n");
    let v: Value = serde_json::from_str(&w.kubectl_ok(&["version", "-o", "json"])).expect("version JSON");
    assert_eq!(v["clientVersion"]["gitVersion"], "v1.36.3", "{v}");
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.36.3", "{v}");

    let nodes = w.nodes();
    assert_eq!(nodes.len(), 10, "{nodes:?}");
    let table = w.kubectl_ok(&["get", "nodes", "-l", &format!("kubesim.io/pool={}", w.blue)]);
    let ready = table.lines().skip(1).filter(|l| l.split_whitespace().nth(1) == Some("Ready")).count();
    assert_eq!(ready, 10, "{table}");
    assert!(table.contains("v1.35.8"), "the kubelet version, rebased from the scenario's 1.30.8: {table}");

    let node = nodes[0].0.clone();
    assert!(w.kubectl_ok(&["cordon", &node]).contains("cordoned"));
    let drained = w.kubectl(&["drain", &node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s"]);
    assert!(drained.status.success(), "{}\n{}", stdout(&drained), String::from_utf8_lossy(&drained.stderr));
    assert!(stdout(&drained).contains(&format!("node/{node} drained")), "{}", stdout(&drained));
    let pods: Value = serde_json::from_str(&w.kubectl_ok(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        &format!("spec.nodeName={node}"),
        "-o",
        "json",
    ]))
    .expect("pods");
    for p in pods["items"].as_array().expect("items") {
        let owner = p["metadata"]["ownerReferences"][0]["kind"].as_str().unwrap_or("");
        assert_eq!(owner, "DaemonSet", "only DaemonSet pods stay on a drained node: {}", p["metadata"]["name"]);
    }

    let shop = w.ns("shop");
    assert!(w.kubectl_ok(&["scale", "deployment/search", "-n", &shop, "--replicas=12"]).contains("scaled"));
    w.wait_settled();
    let d: Value = serde_json::from_str(&w.kubectl_ok(&["get", "deployment/search", "-n", &shop, "-o", "json"]))
        .expect("deployment");
    assert_eq!(d["status"]["readyReplicas"], 12, "{}", d["status"]);
    assert!(w.kubectl_ok(&["uncordon", &node]).contains("uncordoned"));
}
