//! Printers for core and coordination kinds: pods, nodes, namespaces, configmaps, events, leases.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::cells::{NONE, UNKNOWN, age, int, list, name, or_none, since, text};
use super::{AGE, Column, NAME, col};

pub const POD_COLUMNS: [Column; 9] = [
    NAME,
    col("Ready", "string", 0, "Ready containers out of all containers of the pod."),
    col("Status", "string", 0, "The pod's phase, or why it is not running (a waiting reason, Terminating ...)."),
    col("Restarts", "string", 0, "Container restarts, and how long ago the last one was."),
    AGE,
    col("IP", "string", 1, "The pod's IP address."),
    col("Node", "string", 1, "The node the pod is bound to."),
    col("Nominated Node", "string", 1, "The node the scheduler nominated for this pod after preemption."),
    col("Readiness Gates", "string", 1, "Readiness gates that are true out of all gates."),
];

pub const NODE_COLUMNS: [Column; 10] = [
    NAME,
    col("Status", "string", 0, "Ready condition of the node, and SchedulingDisabled when cordoned."),
    col("Roles", "string", 0, "Roles from the node-role.kubernetes.io labels."),
    AGE,
    col("Version", "string", 0, "Version of the kubelet."),
    col("Internal-IP", "string", 1, "The node's first InternalIP address."),
    col("External-IP", "string", 1, "The node's first ExternalIP address."),
    col("OS-Image", "string", 1, "Operating system image reported by the kubelet."),
    col("Kernel-Version", "string", 1, "Kernel version reported by the kubelet."),
    col("Container-Runtime", "string", 1, "Container runtime and its version."),
];

pub const NAMESPACE_COLUMNS: [Column; 3] =
    [NAME, col("Status", "string", 0, "The namespace's phase (Active or Terminating)."), AGE];

pub const CONFIGMAP_COLUMNS: [Column; 3] = [NAME, col("Data", "string", 0, "Number of data entries."), AGE];

pub const LEASE_COLUMNS: [Column; 3] = [NAME, col("Holder", "string", 0, "Identity of the lease's holder."), AGE];

pub const EVENT_COLUMNS: [Column; 10] = [
    col("Last Seen", "string", 0, "Time since the event was last seen."),
    col("Type", "string", 0, "Normal or Warning."),
    col("Reason", "string", 0, "Short machine-readable reason."),
    col("Object", "string", 0, "The object the event is about."),
    col("Subobject", "string", 1, "Field path within the object."),
    col("Source", "string", 1, "The component that reported the event."),
    col("Message", "string", 0, "Human-readable description."),
    col("First Seen", "string", 1, "Time since the event was first seen."),
    col("Count", "string", 1, "How many times the event occurred."),
    col("Name", "string", 1, "Name of the event object."),
];

/// Pod cells: the READY/STATUS/RESTARTS logic follows upstream's pod printer.
pub fn pod(o: &Value, now: Timestamp) -> Vec<Value> {
    let init_specs = list(o, "/spec/initContainers");
    let sidecars: BTreeSet<&str> =
        init_specs.iter().filter(|c| text(c, "/restartPolicy") == "Always").map(|c| text(c, "/name")).collect();
    let total = list(o, "/spec/containers").len() + sidecars.len();
    let mut ready = 0usize;
    // All restarts seen while initializing; only the sidecars' once the pod is initialized.
    let mut init_restarts = Restarts::default();
    let mut sidecar_restarts = Restarts::default();

    let mut reason = text(o, "/status/phase").to_string();
    if !text(o, "/status/reason").is_empty() {
        reason = text(o, "/status/reason").to_string();
    }
    let gated = list(o, "/status/conditions").iter().any(|c| {
        text(c, "/type") == "PodScheduled" && text(c, "/status") == "False" && text(c, "/reason") == "SchedulingGated"
    });
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let mut initializing = false;
    for (i, c) in list(o, "/status/initContainerStatuses").iter().enumerate() {
        let sidecar = sidecars.contains(text(c, "/name"));
        init_restarts.add(c);
        if sidecar {
            sidecar_restarts.add(c);
        }
        let terminated = c.pointer("/state/terminated").is_some_and(Value::is_object);
        let exit_code = int(c, "/state/terminated/exitCode");
        let waiting_reason = text(c, "/state/waiting/reason");
        if terminated && exit_code == 0 {
            continue;
        }
        if sidecar && c.get("started").and_then(Value::as_bool) == Some(true) {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        initializing = true;
        reason = if terminated {
            match text(c, "/state/terminated/reason") {
                "" if int(c, "/state/terminated/signal") != 0 => {
                    format!("Init:Signal:{}", int(c, "/state/terminated/signal"))
                }
                "" => format!("Init:ExitCode:{exit_code}"),
                r => format!("Init:{r}"),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        break;
    }

    let initialized =
        list(o, "/status/conditions").iter().any(|c| text(c, "/type") == "Initialized" && text(c, "/status") == "True");
    let restarts = if !initializing || initialized {
        let mut restarts = sidecar_restarts;
        let mut has_running = false;
        for c in list(o, "/status/containerStatuses").iter().rev() {
            restarts.add(c);
            let waiting = text(c, "/state/waiting/reason");
            let terminated = c.pointer("/state/terminated").is_some_and(Value::is_object);
            let term_reason = text(c, "/state/terminated/reason");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if terminated && !term_reason.is_empty() {
                reason = term_reason.to_string();
            } else if terminated {
                let signal = int(c, "/state/terminated/signal");
                reason = if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!("ExitCode:{}", int(c, "/state/terminated/exitCode"))
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && c.pointer("/state/running").is_some_and(Value::is_object)
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = list(o, "/status/conditions")
                .iter()
                .any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
        restarts
    } else {
        init_restarts
    };

    let deleting = o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    let phase = text(o, "/status/phase");
    if deleting && text(o, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match restarts.last {
        Some(t) if restarts.count != 0 => format!("{} ({} ago)", restarts.count, since(&t.to_string(), now)),
        _ => restarts.count.to_string(),
    };
    let gates = list(o, "/spec/readinessGates");
    let gates_cell = if gates.is_empty() {
        NONE.to_string()
    } else {
        let conditions = list(o, "/status/conditions");
        let true_gates = gates
            .iter()
            .filter(|g| {
                let ty = text(g, "/conditionType");
                conditions.iter().any(|c| text(c, "/type") == ty && text(c, "/status") == "True")
            })
            .count();
        format!("{true_gates}/{}", gates.len())
    };
    vec![
        json!(name(o)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        json!(age(o, now)),
        json!(or_none(text(o, "/status/podIP"))),
        json!(or_none(text(o, "/spec/nodeName"))),
        json!(or_none(text(o, "/status/nominatedNodeName"))),
        json!(gates_cell),
    ]
}

/// Restart count of some containers and when the last of them finished.
#[derive(Default, Clone, Copy)]
struct Restarts {
    count: i64,
    last: Option<Timestamp>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += int(status, "/restartCount");
        if let Ok(t) = text(status, "/lastState/terminated/finishedAt").parse::<Timestamp>() {
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }
}

/// Node cells.
pub fn node(o: &Value, now: Timestamp) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    if let Some(c) = list(o, "/status/conditions").iter().find(|c| text(c, "/type") == "Ready") {
        status.push(if text(c, "/status") == "True" { "Ready" } else { "NotReady" }.to_string());
    }
    if status.is_empty() {
        status.push("Unknown".to_string());
    }
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".to_string());
    }
    let mut roles: BTreeSet<String> = BTreeSet::new();
    if let Some(labels) = o.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role"
                && let Some(v) = v.as_str().filter(|v| !v.is_empty())
            {
                roles.insert(v.to_string());
            }
        }
    }
    let roles = if roles.is_empty() { NONE.to_string() } else { roles.into_iter().collect::<Vec<_>>().join(",") };
    let address = |ty: &str| {
        list(o, "/status/addresses")
            .iter()
            .find(|a| text(a, "/type") == ty)
            .map(|a| text(a, "/address").to_string())
            .unwrap_or_else(|| NONE.to_string())
    };
    let info = |field: &str| {
        let v = text(o, &format!("/status/nodeInfo/{field}"));
        if v.is_empty() { UNKNOWN.to_string() } else { v.to_string() }
    };
    vec![
        json!(name(o)),
        json!(status.join(",")),
        json!(roles),
        json!(age(o, now)),
        json!(text(o, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

pub fn namespace(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(name(o)), json!(text(o, "/status/phase")), json!(age(o, now))]
}

pub fn configmap(o: &Value, now: Timestamp) -> Vec<Value> {
    let count = |field: &str| o.get(field).and_then(Value::as_object).map_or(0, |m| m.len());
    vec![json!(name(o)), json!(count("data") + count("binaryData")), json!(age(o, now))]
}

pub fn lease(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(name(o)), json!(text(o, "/spec/holderIdentity")), json!(age(o, now))]
}

pub fn event(o: &Value, now: Timestamp) -> Vec<Value> {
    let first_ts = match text(o, "/firstTimestamp") {
        "" => text(o, "/eventTime"),
        t => t,
    };
    let first = since(first_ts, now);
    let mut last = match text(o, "/lastTimestamp") {
        "" => first.clone(),
        t => since(t, now),
    };
    let mut count = int(o, "/count");
    if o.get("series").is_some_and(Value::is_object) {
        last = since(text(o, "/series/lastObservedTime"), now);
        count = int(o, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = text(o, "/involvedObject/kind").to_lowercase();
    let target = match text(o, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let source = match (text(o, "/source/component"), text(o, "/source/host")) {
        ("", _) => match (text(o, "/reportingComponent"), text(o, "/reportingInstance")) {
            (c, "") => c.to_string(),
            (c, i) => format!("{c}, {i}"),
        },
        (c, "") => c.to_string(),
        (c, h) => format!("{c}, {h}"),
    };
    vec![
        json!(last),
        json!(text(o, "/type")),
        json!(text(o, "/reason")),
        json!(target),
        json!(text(o, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(o, "/message").trim()),
        json!(first),
        json!(count),
        json!(name(o)),
    ]
}
