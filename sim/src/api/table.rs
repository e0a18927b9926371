//! Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which `kubectl get` asks for.
//!
//! Each kind has the columns upstream's printers give it (priority 0 is shown by default, priority 1 only with
//! `kubectl get -o wide`). kubectl adds the NAMESPACE column itself for `-A`, reading it from each row's object,
//! so every row carries the object's metadata.

mod cells;
mod core;
mod workloads;

use jiff::Timestamp;
use serde_json::{Value, json};

pub fn wants_table(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

/// `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1` (metadata-only GET, as
/// `kube::Api::get_metadata` asks for).
pub fn wants_metadata(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=PartialObjectMetadata"))
}

/// The `PartialObjectMetadata` of an object (its metadata under the meta.k8s.io kind).
pub fn metadata_only(o: &Value) -> Value {
    partial(o)
}

/// What each row carries besides its cells (the `includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    /// `PartialObjectMetadata`, the server's default.
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the query parameter; unknown values fall back to the default, as the server does for empty.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// One column definition of a Table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// `string`, `integer`, `date` ...
    pub ty: &'static str,
    pub priority: u8,
    pub description: &'static str,
}

pub(crate) const fn col(name: &'static str, ty: &'static str, priority: u8, description: &'static str) -> Column {
    Column { name, ty, priority, description }
}

const NAME: Column = col("Name", "string", 0, "Name of the object, unique within its namespace.");
const AGE: Column = col("Age", "string", 0, "Time since the object was created.");

/// A `meta.k8s.io/v1` Table of `items` (JSON objects of kind `kind`), rows carrying their metadata.
pub fn render(kind: &str, items: &[Value], rv: u64, cont: Option<&str>, now: Timestamp) -> Value {
    render_with(kind, items, rv, cont, now, IncludeObject::Metadata)
}

/// [`render`] with the row object chosen by `includeObject`.
pub fn render_with(
    kind: &str,
    items: &[Value],
    rv: u64,
    cont: Option<&str>,
    now: Timestamp,
    include: IncludeObject,
) -> Value {
    let columns: Vec<Value> = columns(kind)
        .iter()
        .map(|c| {
            let mut d = json!({"name": c.name, "type": c.ty, "format": "", "description": c.description,
                "priority": c.priority});
            if c.name == "Name" {
                d["format"] = json!("name");
            }
            d
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(kind, o, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial(o),
                IncludeObject::Object => row["object"] = o.clone(),
            }
            row
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns, "rows": rows})
}

/// The columns of `kind`, in upstream's order.
pub fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Pod" => core::POD_COLUMNS.to_vec(),
        "Node" => core::NODE_COLUMNS.to_vec(),
        "Namespace" => core::NAMESPACE_COLUMNS.to_vec(),
        "ConfigMap" => core::CONFIGMAP_COLUMNS.to_vec(),
        "Event" => core::EVENT_COLUMNS.to_vec(),
        "Lease" => core::LEASE_COLUMNS.to_vec(),
        "Deployment" => workloads::DEPLOYMENT_COLUMNS.to_vec(),
        "ReplicaSet" => workloads::REPLICASET_COLUMNS.to_vec(),
        "StatefulSet" => workloads::STATEFULSET_COLUMNS.to_vec(),
        "DaemonSet" => workloads::DAEMONSET_COLUMNS.to_vec(),
        "PodDisruptionBudget" => workloads::PDB_COLUMNS.to_vec(),
        _ => vec![NAME, AGE],
    }
}

/// The cells of one object, matching [`columns`].
pub fn cells(kind: &str, o: &Value, now: Timestamp) -> Vec<Value> {
    match kind {
        "Pod" => core::pod(o, now),
        "Node" => core::node(o, now),
        "Namespace" => core::namespace(o, now),
        "ConfigMap" => core::configmap(o, now),
        "Event" => core::event(o, now),
        "Lease" => core::lease(o, now),
        "Deployment" => workloads::deployment(o, now),
        "ReplicaSet" => workloads::replicaset(o, now),
        "StatefulSet" => workloads::statefulset(o, now),
        "DaemonSet" => workloads::daemonset(o, now),
        "PodDisruptionBudget" => workloads::pdb(o, now),
        _ => vec![json!(cells::name(o)), json!(cells::age(o, now))],
    }
}

/// `PartialObjectMetadata` of an object, as rows carry by default (`includeObject=Metadata`).
fn partial(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"].clone()})
}

pub use cells::human_duration;

#[cfg(test)]
mod tests;
