use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;

fn now() -> Timestamp {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

fn names(kind: &str) -> Vec<(&'static str, u8)> {
    columns(kind).iter().map(|c| (c.name, c.priority)).collect()
}

fn row(kind: &str, o: Value) -> Vec<Value> {
    let cells = cells(kind, &o, now());
    assert_eq!(cells.len(), columns(kind).len(), "{kind}: one cell per column");
    cells
}

fn running_pod() -> Value {
    json!({
        "metadata": {"name": "web-1", "namespace": "shop", "creationTimestamp": "2026-01-01T00:55:00Z"},
        "spec": {"nodeName": "blue-1", "containers": [{"name": "app"}, {"name": "proxy"}]},
        "status": {
            "phase": "Running", "podIP": "10.0.0.7",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "proxy", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]
        }
    })
}

#[test]
fn wants_table_reads_the_first_accepted_type() {
    assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
    assert!(!wants_table("application/json"));
    assert!(!wants_table("application/json, application/json;as=Table;v=v1;g=meta.k8s.io"));
}

#[test]
fn durations_print_as_kubectl_does() {
    let cases = [
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (192, "3m12s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (4 * 3600 + 30 * 60, "4h30m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (30 * 86400, "30d"),
        (2 * 365 * 86400 + 45 * 86400, "2y45d"),
        (9 * 365 * 86400, "9y"),
    ];
    for (secs, want) in cases {
        assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
    }
}

#[test]
fn pod_columns_match_upstream() {
    assert_eq!(
        names("Pod"),
        vec![
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
    );
}

#[test]
fn running_pod_row() {
    let cells = row("Pod", running_pod());
    assert_eq!(
        cells,
        vec![
            json!("web-1"),
            json!("2/2"),
            json!("Running"),
            json!("0"),
            json!("5m"),
            json!("10.0.0.7"),
            json!("blue-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn deleted_pod_is_terminating_and_unready_container_counts_out() {
    let mut p = running_pod();
    p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:59:00Z");
    p["status"]["containerStatuses"][1]["ready"] = json!(false);
    let cells = row("Pod", p);
    assert_eq!(cells[1], json!("1/2"));
    assert_eq!(cells[2], json!("Terminating"));
}

#[test]
fn finished_pod_being_deleted_keeps_its_phase() {
    let p = json!({
        "metadata": {"name": "job-1", "deletionTimestamp": "2026-01-01T00:59:00Z"},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Succeeded", "containerStatuses": [
            {"name": "c", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]}
    });
    assert_eq!(row("Pod", p)[2], json!("Completed"));
}

#[test]
fn waiting_reason_and_restarts_with_last_restart_age() {
    let p = json!({
        "metadata": {"name": "crash"},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "c", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:58:00Z"}}
        }]}
    });
    let cells = row("Pod", p);
    assert_eq!(cells[1], json!("0/1"));
    assert_eq!(cells[2], json!("CrashLoopBackOff"));
    assert_eq!(cells[3], json!("3 (2m ago)"));
    assert_eq!(cells[4], json!("<unknown>"), "no creationTimestamp");
}

#[test]
fn pending_pod_without_statuses_and_init_progress() {
    let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Pending"}});
    let cells = row("Pod", pending);
    assert_eq!((&cells[1], &cells[2], &cells[6]), (&json!("0/1"), &json!("Pending"), &json!("<none>")));

    let init = json!({
        "metadata": {"name": "i"},
        "spec": {"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0}}},
            {"name": "b", "state": {"running": {}}}
        ]}
    });
    assert_eq!(row("Pod", init)[2], json!("Init:1/2"));
}

#[test]
fn sidecar_counts_in_ready_total() {
    let p = json!({
        "metadata": {"name": "s"},
        "spec": {"initContainers": [{"name": "mesh", "restartPolicy": "Always"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "mesh", "started": true, "ready": true, "state": {"running": {}}}],
            "containerStatuses": [{"name": "c", "ready": true, "state": {"running": {}}}]}
    });
    let cells = row("Pod", p);
    assert_eq!((&cells[1], &cells[2]), (&json!("2/2"), &json!("Running")));
}

#[test]
fn readiness_gates_count_true_conditions() {
    let mut p = running_pod();
    p["spec"]["readinessGates"] = json!([{"conditionType": "lb/ready"}, {"conditionType": "other"}]);
    p["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}, {"type": "lb/ready", "status": "True"}]);
    assert_eq!(row("Pod", p)[8], json!("1/2"));
}

#[test]
fn node_columns_and_status() {
    assert_eq!(
        columns("Node").iter().map(|c| c.name.to_uppercase()).collect::<Vec<_>>().join(" "),
        "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"
    );
    assert_eq!(columns("Node").iter().filter(|c| c.priority == 0).count(), 5);
    let node = json!({
        "metadata": {"name": "blue-1", "creationTimestamp": "2025-12-31T00:00:00Z",
            "labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/ingress": "", "kubernetes.io/role": "edge"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "blue-1"}, {"type": "InternalIP", "address": "10.1.0.4"}],
            "nodeInfo": {"kubeletVersion": "v1.31.4", "osImage": "Bottlerocket", "kernelVersion": "6.1",
                "containerRuntimeVersion": "containerd://1.7.20"}
        }
    });
    assert_eq!(
        row("Node", node),
        vec![
            json!("blue-1"),
            json!("Ready,SchedulingDisabled"),
            json!("edge,ingress,worker"),
            json!("25h"),
            json!("v1.31.4"),
            json!("10.1.0.4"),
            json!("<none>"),
            json!("Bottlerocket"),
            json!("6.1"),
            json!("containerd://1.7.20")
        ]
    );
}

#[test]
fn node_not_ready_unknown_and_no_roles() {
    let unknown_ready =
        json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    let cells = row("Node", unknown_ready);
    assert_eq!((&cells[1], &cells[2], &cells[7]), (&json!("NotReady"), &json!("<none>"), &json!("<unknown>")));
    let no_condition = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
    assert_eq!(row("Node", no_condition)[1], json!("Unknown,SchedulingDisabled"));
}

#[test]
fn workload_rows() {
    let template = json!({"spec": {"nodeSelector": {"zone": "a", "arch": "arm64"},
        "containers": [{"name": "app", "image": "shop:1"}, {"name": "log", "image": "fluent:2"}]}});
    let selector = json!({"matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}, {"key": "legacy", "operator": "DoesNotExist"}]});
    let dep = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": selector, "template": template},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        row("Deployment", dep),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("<unknown>"),
            json!("app,log"),
            json!("shop:1,fluent:2"),
            json!("app=web,!legacy,tier in (a,b)")
        ]
    );
    let rs = json!({"metadata": {"name": "web-abc"}, "spec": {}, "status": {"replicas": 1}});
    assert_eq!(&row("ReplicaSet", rs)[..4], &[json!("web-abc"), json!(1), json!(1), json!(0)]);
    let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 3}});
    assert_eq!(row("StatefulSet", sts)[1], json!("3/3"));
    let ds = json!({"metadata": {"name": "agent"}, "spec": {"template": template, "selector": {"matchLabels": {"app": "agent"}}},
        "status": {"desiredNumberScheduled": 5, "currentNumberScheduled": 5, "numberReady": 4,
            "updatedNumberScheduled": 5, "numberAvailable": 4}});
    let cells = row("DaemonSet", ds);
    assert_eq!(&cells[1..7], &[json!(5), json!(5), json!(4), json!(5), json!(4), json!("arch=arm64,zone=a")]);
    assert_eq!(cells[10], json!("app=agent"));
    assert_eq!(
        names("DaemonSet").iter().filter(|c| c.1 == 0).map(|c| c.0).collect::<Vec<_>>(),
        vec!["Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"]
    );
}

#[test]
fn pdb_rows() {
    let min = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}});
    assert_eq!(&row("PodDisruptionBudget", min)[..4], &[json!("web"), json!("2"), json!("N/A"), json!(1)]);
    let pct = json!({"metadata": {"name": "db"}, "spec": {"maxUnavailable": "25%"}});
    assert_eq!(&row("PodDisruptionBudget", pct)[..4], &[json!("db"), json!("N/A"), json!("25%"), json!(0)]);
}

#[test]
fn other_kinds() {
    let ns = json!({"metadata": {"name": "shop"}, "status": {"phase": "Active"}});
    assert_eq!(row("Namespace", ns)[..2], [json!("shop"), json!("Active")]);
    let cm = json!({"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
    assert_eq!(row("ConfigMap", cm)[1], json!(3));
    let lease = json!({"metadata": {"name": "pool-blue"}, "spec": {"holderIdentity": "agent-7"}});
    assert_eq!(row("Lease", lease)[1], json!("agent-7"));
    let ev = json!({"metadata": {"name": "e1"}, "type": "Warning", "reason": "FailedScheduling", "message": " no fit ",
        "involvedObject": {"kind": "Pod", "name": "web-1"}, "firstTimestamp": "2026-01-01T00:50:00Z",
        "lastTimestamp": "2026-01-01T00:59:00Z", "count": 4, "source": {"component": "default-scheduler"}});
    assert_eq!(
        row("Event", ev),
        vec![
            json!("60s"),
            json!("Warning"),
            json!("FailedScheduling"),
            json!("pod/web-1"),
            json!(""),
            json!("default-scheduler"),
            json!("no fit"),
            json!("10m"),
            json!(4),
            json!("e1")
        ]
    );
    assert_eq!(names("Secret"), vec![("Name", 0), ("Age", 0)]);
}

#[test]
fn table_carries_definitions_metadata_and_row_objects() {
    let t = render("Pod", &[running_pod()], 42, Some("tok"), now());
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({"resourceVersion": "42", "continue": "tok"}));
    let defs = t["columnDefinitions"].as_array().unwrap();
    assert_eq!(defs.len(), 9);
    assert_eq!(defs[0]["format"], "name");
    assert_eq!(
        defs[5],
        json!({"name": "IP", "type": "string", "format": "", "priority": 1,
        "description": defs[5]["description"]})
    );
    let row = &t["rows"][0];
    assert_eq!(row["cells"][0], "web-1");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["metadata"]["namespace"], "shop", "kubectl -A reads the namespace from here");
    assert!(row["object"].get("spec").is_none());

    let full = render_with("Pod", &[running_pod()], 1, None, now(), IncludeObject::Object);
    assert_eq!(full["rows"][0]["object"]["spec"]["nodeName"], "blue-1");
    assert!(full["metadata"].get("continue").is_none());
    let bare = render_with("Pod", &[running_pod()], 1, None, now(), IncludeObject::parse(Some("None")));
    assert!(bare["rows"][0].get("object").is_none());
    assert_eq!(IncludeObject::parse(None), IncludeObject::Metadata);
}
