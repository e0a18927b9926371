//! Printers for apps/v1 workloads and policy/v1 PodDisruptionBudgets.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::cells::{age, containers_and_images, format_labels, format_selector, int, int_or_string, name};
use super::{AGE, Column, NAME, col};

const CONTAINERS: Column = col("Containers", "string", 1, "Names of the containers in the pod template.");
const IMAGES: Column = col("Images", "string", 1, "Images of the containers in the pod template.");
const SELECTOR: Column = col("Selector", "string", 1, "Label selector of the pods it manages.");

pub const DEPLOYMENT_COLUMNS: [Column; 8] = [
    NAME,
    col("Ready", "string", 0, "Ready replicas out of the desired replicas."),
    col("Up-to-date", "integer", 0, "Replicas running the latest pod template."),
    col("Available", "integer", 0, "Replicas available to serve."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub const REPLICASET_COLUMNS: [Column; 8] = [
    NAME,
    col("Desired", "integer", 0, "Desired replicas."),
    col("Current", "integer", 0, "Replicas that exist."),
    col("Ready", "integer", 0, "Ready replicas."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub const STATEFULSET_COLUMNS: [Column; 5] =
    [NAME, col("Ready", "string", 0, "Ready replicas out of the desired replicas."), AGE, CONTAINERS, IMAGES];

pub const DAEMONSET_COLUMNS: [Column; 11] = [
    NAME,
    col("Desired", "integer", 0, "Nodes that should run the daemon pod."),
    col("Current", "integer", 0, "Nodes that run at least one daemon pod."),
    col("Ready", "integer", 0, "Nodes whose daemon pod is ready."),
    col("Up-to-date", "integer", 0, "Nodes running the latest daemon pod template."),
    col("Available", "integer", 0, "Nodes whose daemon pod is available."),
    col("Node Selector", "string", 0, "Node selector of the pod template."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub const PDB_COLUMNS: [Column; 5] = [
    NAME,
    col("Min Available", "string", 0, "Pods that must stay available (number or percent)."),
    col("Max Unavailable", "string", 0, "Pods that may be unavailable (number or percent)."),
    col("Allowed Disruptions", "integer", 0, "Evictions allowed right now."),
    AGE,
];

/// `spec.replicas`, which defaults to 1.
fn desired(o: &Value) -> i64 {
    o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
}

pub fn deployment(o: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = containers_and_images(o);
    vec![
        json!(name(o)),
        json!(format!("{}/{}", int(o, "/status/readyReplicas"), desired(o))),
        json!(int(o, "/status/updatedReplicas")),
        json!(int(o, "/status/availableReplicas")),
        json!(age(o, now)),
        json!(containers),
        json!(images),
        json!(format_selector(o.pointer("/spec/selector"))),
    ]
}

pub fn replicaset(o: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = containers_and_images(o);
    vec![
        json!(name(o)),
        json!(desired(o)),
        json!(int(o, "/status/replicas")),
        json!(int(o, "/status/readyReplicas")),
        json!(age(o, now)),
        json!(containers),
        json!(images),
        json!(format_selector(o.pointer("/spec/selector"))),
    ]
}

pub fn statefulset(o: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = containers_and_images(o);
    vec![
        json!(name(o)),
        json!(format!("{}/{}", int(o, "/status/readyReplicas"), desired(o))),
        json!(age(o, now)),
        json!(containers),
        json!(images),
    ]
}

pub fn daemonset(o: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = containers_and_images(o);
    vec![
        json!(name(o)),
        json!(int(o, "/status/desiredNumberScheduled")),
        json!(int(o, "/status/currentNumberScheduled")),
        json!(int(o, "/status/numberReady")),
        json!(int(o, "/status/updatedNumberScheduled")),
        json!(int(o, "/status/numberAvailable")),
        json!(format_labels(o.pointer("/spec/template/spec/nodeSelector"))),
        json!(age(o, now)),
        json!(containers),
        json!(images),
        json!(format_selector(o.pointer("/spec/selector"))),
    ]
}

pub fn pdb(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(int_or_string(o.pointer("/spec/minAvailable"))),
        json!(int_or_string(o.pointer("/spec/maxUnavailable"))),
        json!(int(o, "/status/disruptionsAllowed")),
        json!(age(o, now)),
    ]
}
