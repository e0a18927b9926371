//! The resource kinds the simulator serves, and what differs between them (plural, scope, status
//! subresource, field selectors, spec for `metadata.generation`, defaults on create).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Key, State, Table};

/// A resource kind served by the simulator.
pub trait Kind:
    Resource + Metadata<Ty = ObjectMeta> + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    const NAMESPACED: bool;
    /// Has a `/status` subresource: the main resource ignores status writes and vice versa.
    const HAS_STATUS: bool;
    const SHORT_NAMES: &'static [&'static str];
    /// Field selector labels beyond `metadata.name` / `metadata.namespace`.
    const FIELDS: &'static [&'static str] = &[];

    fn table(s: &State) -> &Table<Self>;
    fn table_mut(s: &mut State) -> &mut Table<Self>;

    /// Value of a field-selector label listed in [`Kind::FIELDS`].
    fn field(&self, _path: &str) -> Option<String> {
        None
    }

    /// The spec, compared on update to bump `metadata.generation`.
    fn spec_json(&self) -> Option<serde_json::Value> {
        None
    }

    /// Copies the status of `from` into `self` (a main-resource update keeps the stored status).
    fn take_status(&mut self, _from: &Self) {}

    /// Validation beyond the name (create and update): the field and message of each problem.
    fn validate(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Defaults applied on create (server-side defaulting).
    fn default_on_create(&mut self, _state: &mut State) {}

    /// Grace period for a DELETE: `Some(seconds)` for graceful deletion, `None` to remove now.
    fn deletion_grace(&self, _requested: Option<i64>) -> Option<i64> {
        None
    }

    /// Called after an object is removed for good (recorder hooks).
    fn on_removed(_state: &mut State, _obj: &Arc<Self>) {}

    /// Keeps the state's secondary indexes current: `old` is the stored object being replaced or removed,
    /// `new` the one stored now.
    fn reindex(_state: &mut State, _old: Option<&Self>, _new: Option<&Self>) {}
}

pub fn key_of<K: Kind>(obj: &K) -> Key {
    let m = obj.metadata();
    (
        if K::NAMESPACED { m.namespace.clone().unwrap_or_default() } else { String::new() },
        m.name.clone().unwrap_or_default(),
    )
}

/// Field selector value for any kind: `metadata.*` or the kind's own fields.
pub fn field_value<K: Kind>(obj: &K, path: &str) -> Option<String> {
    match path {
        "metadata.name" => obj.metadata().name.clone(),
        "metadata.namespace" => Some(obj.metadata().namespace.clone().unwrap_or_default()),
        _ => obj.field(path),
    }
}

pub fn field_supported<K: Kind>(path: &str) -> bool {
    path == "metadata.name" || path == "metadata.namespace" || K::FIELDS.contains(&path)
}

macro_rules! table {
    ($field:ident) => {
        fn table(s: &State) -> &Table<Self> {
            &s.$field
        }
        fn table_mut(s: &mut State) -> &mut Table<Self> {
            &mut s.$field
        }
    };
}

macro_rules! status_and_spec {
    () => {
        fn spec_json(&self) -> Option<serde_json::Value> {
            serde_json::to_value(&self.spec).ok()
        }
        fn take_status(&mut self, from: &Self) {
            self.status = from.status.clone();
        }
    };
}

impl Kind for Pod {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["po"];
    const FIELDS: &'static [&'static str] = &[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ];
    table!(pods);

    fn field(&self, path: &str) -> Option<String> {
        let spec = self.spec.as_ref();
        let status = self.status.as_ref();
        match path {
            "spec.nodeName" => Some(spec.and_then(|s| s.node_name.clone()).unwrap_or_default()),
            "spec.restartPolicy" => Some(spec.and_then(|s| s.restart_policy.clone()).unwrap_or_default()),
            "spec.schedulerName" => Some(spec.and_then(|s| s.scheduler_name.clone()).unwrap_or_default()),
            "spec.serviceAccountName" => Some(spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default()),
            "spec.hostNetwork" => Some(spec.and_then(|s| s.host_network).unwrap_or(false).to_string()),
            "status.phase" => Some(status.and_then(|s| s.phase.clone()).unwrap_or_default()),
            "status.podIP" => Some(status.and_then(|s| s.pod_ip.clone()).unwrap_or_default()),
            "status.nominatedNodeName" => Some(status.and_then(|s| s.nominated_node_name.clone()).unwrap_or_default()),
            _ => None,
        }
    }

    fn take_status(&mut self, from: &Self) {
        self.status = from.status.clone();
    }

    fn default_on_create(&mut self, state: &mut State) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.scheduler_name.get_or_insert_with(|| "default-scheduler".into());
        spec.restart_policy.get_or_insert_with(|| "Always".into());
        spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
        spec.termination_grace_period_seconds.get_or_insert(30);
        spec.service_account_name.get_or_insert_with(|| "default".into());
        spec.enable_service_links.get_or_insert(true);
        spec.priority.get_or_insert(0);
        let status = self.status.get_or_insert_with(Default::default);
        status.phase.get_or_insert_with(|| "Pending".into());
        status.qos_class.get_or_insert_with(|| "BestEffort".into());
        crate::scenario::place::admit(state, self);
    }

    fn deletion_grace(&self, requested: Option<i64>) -> Option<i64> {
        // pkg/registry/core/pod/strategy.go CheckGracefulDelete.
        let spec = self.spec.as_ref();
        let mut grace =
            requested.unwrap_or_else(|| spec.and_then(|s| s.termination_grace_period_seconds).unwrap_or(30));
        let unscheduled = spec.and_then(|s| s.node_name.as_deref()).is_none_or(str::is_empty);
        let phase = self.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
        if unscheduled || phase == "Succeeded" || phase == "Failed" {
            grace = 0;
        }
        if grace < 0 {
            grace = 1;
        }
        Some(grace)
    }

    fn on_removed(state: &mut State, obj: &Arc<Self>) {
        state.recorder.pod_removed(obj);
    }

    fn reindex(state: &mut State, old: Option<&Self>, new: Option<&Self>) {
        state.index_pod(old, new);
    }
}

impl Kind for Node {
    const NAMESPACED: bool = false;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["no"];
    const FIELDS: &'static [&'static str] = &["spec.unschedulable"];
    table!(nodes);

    fn field(&self, path: &str) -> Option<String> {
        match path {
            "spec.unschedulable" => Some(self.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false).to_string()),
            _ => None,
        }
    }

    fn take_status(&mut self, from: &Self) {
        self.status = from.status.clone();
    }

    fn on_removed(state: &mut State, obj: &Arc<Self>) {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let workload = state.pods_on_node(&name).filter(|p| is_workload_pod(p)).count();
        let pool = obj.metadata.labels.as_ref().and_then(|l| l.get(POOL_LABEL)).cloned();
        state.recorder.node_removed(&name, pool.as_deref(), workload);
    }
}

/// The label every simulated node carries with its pool's name.
pub const POOL_LABEL: &str = "kubesim.io/pool";

/// A pod that is a workload: not finished, not a mirror pod, not DaemonSet-owned.
pub fn is_workload_pod(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    let mirror = p.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let ds = p.metadata.owner_references.iter().flatten().any(|r| r.controller == Some(true) && r.kind == "DaemonSet");
    !(phase == "Succeeded" || phase == "Failed" || mirror || ds)
}

impl Kind for Namespace {
    const NAMESPACED: bool = false;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["ns"];
    const FIELDS: &'static [&'static str] = &["status.phase"];
    table!(namespaces);

    fn field(&self, path: &str) -> Option<String> {
        match path {
            "status.phase" => Some(self.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()),
            _ => None,
        }
    }

    fn take_status(&mut self, from: &Self) {
        self.status = from.status.clone();
    }

    fn default_on_create(&mut self, _state: &mut State) {
        let status = self.status.get_or_insert_with(Default::default);
        status.phase.get_or_insert_with(|| "Active".into());
    }
}

/// What a ConfigMap's `data` and `binaryData` may hold together (`corev1.MaxConfigMapSize`).
pub const MAX_CONFIGMAP_BYTES: usize = 1024 * 1024;

impl Kind for ConfigMap {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = false;
    const SHORT_NAMES: &'static [&'static str] = &["cm"];
    table!(configmaps);

    /// As `ValidateConfigMap`: the values of `data` and `binaryData` count against the limit; the error
    /// refers to the whole object (an empty field path).
    fn validate(&self) -> Vec<(&'static str, String)> {
        let data: usize = self.data.iter().flatten().map(|(_, v)| v.len()).sum();
        let binary: usize = self.binary_data.iter().flatten().map(|(_, v)| v.0.len()).sum();
        if data + binary > MAX_CONFIGMAP_BYTES {
            return vec![("", format!("Too long: may not be more than {MAX_CONFIGMAP_BYTES} bytes"))];
        }
        Vec::new()
    }
}

impl Kind for Event {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = false;
    const SHORT_NAMES: &'static [&'static str] = &["ev"];
    const FIELDS: &'static [&'static str] = &[
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "reason",
        "type",
    ];
    table!(events);

    fn field(&self, path: &str) -> Option<String> {
        let io = &self.involved_object;
        match path {
            "involvedObject.kind" => Some(io.kind.clone().unwrap_or_default()),
            "involvedObject.name" => Some(io.name.clone().unwrap_or_default()),
            "involvedObject.namespace" => Some(io.namespace.clone().unwrap_or_default()),
            "involvedObject.uid" => Some(io.uid.clone().unwrap_or_default()),
            "reason" => Some(self.reason.clone().unwrap_or_default()),
            "type" => Some(self.type_.clone().unwrap_or_default()),
            _ => None,
        }
    }
}

impl Kind for Deployment {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["deploy"];
    table!(deployments);
    status_and_spec!();

    fn default_on_create(&mut self, _state: &mut State) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        let strategy = spec.strategy.get_or_insert_with(Default::default);
        strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
    }
}

impl Kind for ReplicaSet {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["rs"];
    table!(replicasets);
    status_and_spec!();

    fn default_on_create(&mut self, _state: &mut State) {
        self.spec.replicas.get_or_insert(1);
    }
}

impl Kind for StatefulSet {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["sts"];
    table!(statefulsets);
    status_and_spec!();

    fn default_on_create(&mut self, _state: &mut State) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        spec.pod_management_policy.get_or_insert_with(|| "OrderedReady".into());
    }
}

impl Kind for DaemonSet {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["ds"];
    table!(daemonsets);
    status_and_spec!();
}

impl Kind for PodDisruptionBudget {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = true;
    const SHORT_NAMES: &'static [&'static str] = &["pdb"];
    table!(pdbs);
    status_and_spec!();
}

impl Kind for Lease {
    const NAMESPACED: bool = true;
    const HAS_STATUS: bool = false;
    const SHORT_NAMES: &'static [&'static str] = &[];
    table!(leases);

    fn spec_json(&self) -> Option<serde_json::Value> {
        None
    }
}

/// One served resource, for discovery and routing.
#[derive(Debug, Clone, Copy)]
pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub has_status: bool,
}

fn info<K: Kind>() -> ResourceInfo {
    ResourceInfo {
        group: K::GROUP,
        version: K::VERSION,
        plural: K::URL_PATH_SEGMENT,
        kind: K::KIND,
        namespaced: K::NAMESPACED,
        short_names: K::SHORT_NAMES,
        has_status: K::HAS_STATUS,
    }
}

/// Every resource the simulator serves.
pub fn resources() -> Vec<ResourceInfo> {
    vec![
        info::<Pod>(),
        info::<Node>(),
        info::<Namespace>(),
        info::<ConfigMap>(),
        info::<Event>(),
        info::<Deployment>(),
        info::<ReplicaSet>(),
        info::<StatefulSet>(),
        info::<DaemonSet>(),
        info::<PodDisruptionBudget>(),
        info::<Lease>(),
    ]
}

/// Runs `$body` with `$k` bound to the Rust type of the resource `($group, $plural)`, or `$fallback`.
#[macro_export]
macro_rules! with_kind {
    ($group:expr, $plural:expr, $k:ident => $body:expr, else $fallback:expr) => {{
        use k8s_openapi::api::apps::v1 as __apps;
        use k8s_openapi::api::coordination::v1 as __coord;
        use k8s_openapi::api::core::v1 as __core;
        use k8s_openapi::api::policy::v1 as __policy;
        match ($group, $plural) {
            ("", "pods") => {
                type $k = __core::Pod;
                $body
            }
            ("", "nodes") => {
                type $k = __core::Node;
                $body
            }
            ("", "namespaces") => {
                type $k = __core::Namespace;
                $body
            }
            ("", "configmaps") => {
                type $k = __core::ConfigMap;
                $body
            }
            ("", "events") => {
                type $k = __core::Event;
                $body
            }
            ("apps", "deployments") => {
                type $k = __apps::Deployment;
                $body
            }
            ("apps", "replicasets") => {
                type $k = __apps::ReplicaSet;
                $body
            }
            ("apps", "statefulsets") => {
                type $k = __apps::StatefulSet;
                $body
            }
            ("apps", "daemonsets") => {
                type $k = __apps::DaemonSet;
                $body
            }
            ("policy", "poddisruptionbudgets") => {
                type $k = __policy::PodDisruptionBudget;
                $body
            }
            ("coordination.k8s.io", "leases") => {
                type $k = __coord::Lease;
                $body
            }
            _ => $fallback,
        }
    }};
}
