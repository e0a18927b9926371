use serde_json::json;

use super::*;

fn node(name: &str, pool: Option<&str>, zone: &str, ready: &str, cordoned: bool) -> Node {
    let mut labels = json!({"topology.kubernetes.io/zone": zone});
    if let Some(p) = pool {
        labels["eks.amazonaws.com/nodegroup"] = json!(p);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": cordoned},
        "status": {"conditions": [{"type": "Ready", "status": ready}], "nodeInfo": {
            "kubeletVersion": "v1.31.2", "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
            "osImage": "", "containerRuntimeVersion": "", "kubeProxyVersion": "", "operatingSystem": "linux",
            "architecture": "amd64"}}
    }))
    .unwrap()
}

fn pod(ns: &str, name: &str, node: Option<&str>, phase: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"namespace": ns, "name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c"}]},
        "status": {"phase": phase}
    }))
    .unwrap()
}

fn pdb(name: &str, spec: serde_json::Value, allowed: i32) -> PodDisruptionBudget {
    serde_json::from_value(json!({
        "metadata": {"namespace": "shop", "name": name},
        "spec": spec,
        "status": {"disruptionsAllowed": allowed, "expectedPods": 3, "currentHealthy": 3, "desiredHealthy": 2}
    }))
    .unwrap()
}

fn view() -> ClusterView {
    ClusterView {
        name: "demo".into(),
        server_version: Some("v1.31.2".into()),
        nodes: vec![
            node("blue-2", Some("blue"), "eu-west-1b", "True", true),
            node("blue-1", Some("blue"), "eu-west-1a", "False", false),
            node("stray", None, "eu-west-1c", "True", false),
        ],
        pods: vec![
            pod("shop", "web-1", Some("blue-1"), "Running"),
            pod("shop", "web-2", Some("blue-1"), "Running"),
            pod("kube-system", "agent-1", Some("blue-1"), "Running"),
            pod("shop", "web-3", None, "Pending"),
        ],
        pdbs: vec![pdb("web", json!({"minAvailable": 2}), 1), pdb("db", json!({"maxUnavailable": "0%"}), 0)],
    }
}

#[test]
fn summary_lists_pools_nodes_pods_and_pdbs() {
    let text = view().render();
    let want = "\
Cluster demo (Kubernetes v1.31.2): 3 nodes in 2 pools, 4 pods (1 Pending, 3 Running), 2 PodDisruptionBudgets

Pool (no pool label): 1 node, kubelet v1.31.2
  NODE    VERSION   ZONE         STATUS   PODS   BY NAMESPACE
  stray   v1.31.2   eu-west-1c   Ready    0

Pool blue: 2 nodes, kubelet v1.31.2
  NODE     VERSION   ZONE         STATUS                     PODS   BY NAMESPACE
  blue-1   v1.31.2   eu-west-1a   NotReady                   3      kube-system=1 shop=2
  blue-2   v1.31.2   eu-west-1b   Ready,SchedulingDisabled   0

Pods not bound to a node: 1

PodDisruptionBudgets
  NAMESPACE   NAME   MIN AVAILABLE   MAX UNAVAILABLE   EXPECTED   HEALTHY   NEEDED   ALLOWED DISRUPTIONS
  shop        db     N/A             0%                3          3         2        0 (blocks evictions)
  shop        web    2               N/A               3          3         2        1
";
    assert_eq!(text, want);
}

#[test]
fn pool_label_order_prefers_the_simulator_label() {
    let mut n = node("x", Some("eks-pool"), "z", "True", false);
    n.metadata.labels.as_mut().unwrap().insert("kubesim.io/pool".into(), "sim-pool".into());
    assert_eq!(pool_of(&n), Some("sim-pool"));
    assert_eq!(readiness(&node("y", None, "z", "Unknown", false)), "NotReady");
}
