//! kubectl (v1.36.3, built by testenv/build.sh) against `poolshift sim serve` on a loopback port: get, cordon, drain.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Served, demo_scenario, items, table, text};

/// Simulated seconds per real second: kubelet start/ready delays of seconds pass in a fraction of one.
const SPEED: f64 = 20.0;

#[test]
fn kubectl_get_nodes_pods_and_cordon() {
    let sim = Served::start(&demo_scenario(), SPEED);
    assert!(sim.banner.contains("kubectl get nodes"), "{}", sim.banner);

    let nodes = sim.kubectl_json(&["get", "nodes"]);
    let names: BTreeSet<String> = items(&nodes).iter().map(|n| text(n, "/metadata/name").to_string()).collect();
    assert!(names.len() >= 2, "the demo cluster has nodes: {names:?}");

    let (header, rows) = table(&sim.kubectl_ok(&["get", "nodes", "-o", "wide"]));
    assert_eq!(
        header,
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    let printed: BTreeSet<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(printed, names);
    for r in &rows {
        assert_eq!(r[1], "Ready", "{r:?}");
        assert!(r[4].starts_with('v'), "VERSION is the kubelet version: {r:?}");
    }

    let pods = sim.kubectl_json(&["get", "pods", "-A"]);
    let running: BTreeSet<(String, String)> = items(&pods)
        .iter()
        .filter(|p| text(p, "/status/phase") == "Running" && p["metadata"].get("deletionTimestamp").is_none())
        .map(|p| (text(p, "/metadata/namespace").to_string(), text(p, "/metadata/name").to_string()))
        .collect();
    assert!(!running.is_empty(), "the demo cluster runs pods");
    let (header, rows) = table(&sim.kubectl_ok(&["get", "pods", "-A"]));
    assert_eq!(header, ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(rows.len(), items(&pods).len());
    let printed_running: BTreeSet<(String, String)> =
        rows.iter().filter(|r| r[3] == "Running").map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(printed_running, running);
    // READY counts the pod's ready, running containers out of its containers.
    let ready: BTreeMap<(String, String), String> = items(&pods)
        .iter()
        .map(|p| {
            let key = (text(p, "/metadata/namespace").to_string(), text(p, "/metadata/name").to_string());
            let total = p.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
            let statuses = p.pointer("/status/containerStatuses").and_then(Value::as_array);
            let up = statuses.map_or(0, |cs| {
                cs.iter().filter(|c| c["ready"] == Value::Bool(true) && c.pointer("/state/running").is_some()).count()
            });
            (key, format!("{up}/{total}"))
        })
        .collect();
    for r in &rows {
        assert_eq!(Some(&r[2]), ready.get(&(r[0].clone(), r[1].clone())), "READY of {r:?}");
    }
    assert!(rows.iter().any(|r| r[3] == "Running" && r[2].split_once('/').is_some_and(|(a, b)| a == b && a != "0")));

    let node = names.iter().next().unwrap().as_str();
    let out = sim.kubectl_ok(&["cordon", node]);
    assert!(out.contains(&format!("node/{node} cordoned")), "{out}");
    let (_, rows) = table(&sim.kubectl_ok(&["get", "node", node]));
    assert_eq!(rows[0][1], "Ready,SchedulingDisabled");
    assert_eq!(sim.kubectl_json(&["get", "node", node])["spec"]["unschedulable"], Value::Bool(true));

    let status = sim.terminate();
    assert_eq!(status.code(), Some(0), "sim serve exits 0 on SIGTERM");
}

#[test]
fn kubectl_drain_moves_pdb_covered_pods_elsewhere() {
    let sim = Served::start(&demo_scenario(), SPEED);
    let pods = sim.kubectl_json(&["get", "pods", "-A"]);
    let pdbs = sim.kubectl_json(&["get", "pdb", "-A"]);
    let node = pick_drainable_node(items(&pods), items(&pdbs))
        .expect("the demo cluster has a node whose pods are covered by PDBs that allow disruptions");

    // Before: the workload pods on the node, and how many Running pods each of their owners has.
    let evicted: Vec<&Value> =
        items(&pods).iter().filter(|p| text(p, "/spec/nodeName") == node && !is_daemon(p)).collect();
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for p in &evicted {
        owners.insert(owner_uid(p).to_string(), 0);
    }
    for p in items(&pods).iter().filter(|p| is_running(p)) {
        if let Some(n) = owners.get_mut(owner_uid(p)) {
            *n += 1;
        }
    }

    let o = sim.kubectl(&["drain", &node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"]);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "drain failed ({}):\nstdout:\n{out}\nstderr:\n{err}", o.status);
    assert!(out.contains(&format!("node/{node} drained")), "stdout:\n{out}\nstderr:\n{err}");
    for p in &evicted {
        assert!(out.contains(&format!("pod/{} evicted", text(p, "/metadata/name"))), "{out}");
    }

    let on_node = sim.kubectl_json(&["get", "pods", "-A", "--field-selector", &format!("spec.nodeName={node}")]);
    let left: Vec<&str> = items(&on_node).iter().filter(|p| !is_daemon(p)).map(|p| text(p, "/metadata/name")).collect();
    assert!(left.is_empty(), "non-DaemonSet pods left on {node}: {left:?}");
    assert_eq!(table(&sim.kubectl_ok(&["get", "node", &node])).1[0][1], "Ready,SchedulingDisabled");

    // Replacements: every owner is back to its Running count, none of them on the drained node.
    let evicted_uids: BTreeSet<&str> = evicted.iter().map(|p| text(p, "/metadata/uid")).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = sim.kubectl_json(&["get", "pods", "-A"]);
        let mut missing = Vec::new();
        for (owner, want) in &owners {
            let running: Vec<&Value> = items(&now).iter().filter(|p| owner_uid(p) == owner && is_running(p)).collect();
            assert!(running.iter().all(|p| text(p, "/spec/nodeName") != node), "a pod came back on {node}");
            assert!(running.iter().all(|p| !evicted_uids.contains(text(p, "/metadata/uid"))));
            if running.len() < *want {
                missing.push(format!("owner {owner}: {} of {want} Running", running.len()));
            }
        }
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "replacements not Running: {missing:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn is_daemon(p: &Value) -> bool {
    controller(p).is_some_and(|o| text(o, "/kind") == "DaemonSet")
}

fn is_running(p: &Value) -> bool {
    text(p, "/status/phase") == "Running" && p["metadata"].get("deletionTimestamp").is_none()
}

fn controller(p: &Value) -> Option<&Value> {
    p.pointer("/metadata/ownerReferences")?.as_array()?.iter().find(|o| o["controller"] == Value::Bool(true))
}

fn owner_uid(p: &Value) -> &str {
    controller(p).map_or("", |o| text(o, "/uid"))
}

/// A node whose workload pods all have a controller, at least one is covered by a PDB, and every covering
/// PDB (one per pod) allows a disruption now; the one with the most covered pods, then by name.
fn pick_drainable_node(pods: &[Value], pdbs: &[Value]) -> Option<String> {
    let mut by_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for p in pods.iter().filter(|p| is_running(p) && !is_daemon(p)) {
        by_node.entry(text(p, "/spec/nodeName")).or_default().push(p);
    }
    let mut best: Option<(usize, &str)> = None;
    'nodes: for (node, pods) in by_node {
        let mut covered = 0;
        for p in pods {
            let annotations = p.pointer("/metadata/annotations").and_then(Value::as_object);
            let faulty = annotations.is_some_and(|a| {
                a.keys().any(|k| k == "kubesim.io/never-ready" || k == "kubesim.io/stuck-terminating")
            });
            if controller(p).is_none() || faulty {
                continue 'nodes;
            }
            let matching: Vec<&Value> = pdbs.iter().filter(|b| covers(b, p)).collect();
            match matching.as_slice() {
                [] => {}
                [b] if b.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0) > 0 => covered += 1,
                _ => continue 'nodes,
            }
        }
        if covered > 0 && best.is_none_or(|(c, _)| covered > c) {
            best = Some((covered, node));
        }
    }
    best.map(|(_, n)| n.to_string())
}

/// Whether a PDB's selector selects the pod (same namespace; an empty selector selects all).
fn covers(pdb: &Value, pod: &Value) -> bool {
    if text(pdb, "/metadata/namespace") != text(pod, "/metadata/namespace") {
        return false;
    }
    let Some(sel) = pdb.pointer("/spec/selector").filter(|s| s.is_object()) else {
        return false;
    };
    let labels = pod.pointer("/metadata/labels").and_then(Value::as_object);
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let match_labels = sel.get("matchLabels").and_then(Value::as_object);
    if match_labels.is_some_and(|m| m.iter().any(|(k, v)| label(k) != v.as_str())) {
        return false;
    }
    let exprs = sel.get("matchExpressions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    exprs.iter().all(|e| {
        let key = text(e, "/key");
        let values: Vec<&str> =
            e.get("values").and_then(Value::as_array).map_or(vec![], |v| v.iter().filter_map(Value::as_str).collect());
        match text(e, "/operator") {
            "In" => label(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => label(key).is_some(),
            "DoesNotExist" => label(key).is_none(),
            _ => false,
        }
    })
}
