//! The Kubernetes cluster as the engine sees it: a snapshot, a live watch-fed view, and a few writes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::identity::{PodKey, WorkloadKey};
use crate::model::snapshot::{NodeInfo, PdbInfo, PodInfo, Snapshot};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    #[error("{operation} {object}: the API server answered {code} {reason}: {message}")]
    Api { operation: String, object: String, code: u16, reason: String, message: String },
    #[error("{operation} {object}: {message}")]
    Transport { operation: String, object: String, message: String },
}

/// A pod identity: name plus UID (a StatefulSet pod comes back with the same name and a new UID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodRef {
    pub fn key(&self) -> PodKey {
        PodKey::new(&self.namespace, &self.name)
    }
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What the Eviction API answered, classified (semantics.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvictOutcome {
    /// 201: deletion started.
    Evicted,
    /// 404, or 409 on the UID precondition: the pod we meant is already gone.
    Gone,
    /// 429 with cause DisruptionBudget: the PDB allows no disruption now. `message` is the server's cause.
    Budget { message: String, retry_after: Option<Duration> },
    /// 429 without a DisruptionBudget cause (API priority and fairness): slow down.
    Throttled { retry_after: Option<Duration> },
    /// 500 more than one PDB, 403 (RBAC, negative budget ...): a configuration problem, never retried in a loop.
    Refused { code: u16, message: String },
    /// 403 NamespaceTerminating: the namespace controller deletes the pod; wait for it.
    NamespaceTerminating,
    /// A transient server error (5xx other than the multiple-PDB 500): retried with backoff.
    Transient { message: String, retry_after: Option<Duration> },
}

#[async_trait]
pub trait Cluster: Send + Sync {
    /// Everything the planner reads (paginated lists).
    async fn snapshot(&self) -> Result<Snapshot, ClusterError>;

    /// Cordons or uncordons a node; a cordoned node is labelled with the run id (`poolshift.io/run`).
    async fn set_cordon(&self, node: &str, cordon: bool, run_id: &str) -> Result<(), ClusterError>;

    /// POST pods/{name}/eviction with a UID precondition; `dry_run` sends `dryRun=All`.
    async fn evict(&self, pod: &PodRef, dry_run: bool) -> Result<EvictOutcome, ClusterError>;

    /// DELETE with a UID precondition and the pod's own grace period (escalation `force` only).
    async fn delete_pod(&self, pod: &PodRef) -> Result<(), ClusterError>;

    /// The watch-fed view of the cluster; started on first use.
    async fn live(&self) -> Result<Arc<dyn LiveView>, ClusterError>;

    /// Sets (`Some`) or removes (`None`) an annotation of a node.
    async fn annotate_node(&self, node: &str, key: &str, value: Option<&str>) -> Result<(), ClusterError>;

    /// Writes a Kubernetes Event (core/v1) about a node or the checkpoint object.
    async fn record_event(&self, event: &EventRecord) -> Result<(), ClusterError>;
}

/// What an Event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventObject {
    /// A node by name, and its UID when known (`kubectl describe node` matches Events by it).
    Node { name: String, uid: Option<String> },
    /// The checkpoint ConfigMap.
    ConfigMap { namespace: String, name: String },
}

/// A Kubernetes Event as poolshift writes it: `reason` in CamelCase (`Cordoned`, `EvictionBlocked`), a
/// Warning when an operator should look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub object: EventObject,
    pub warning: bool,
    pub reason: String,
    pub message: String,
    /// What poolshift was doing (`Cordon`, `Drain`, `Upgrade`), the Event's `action`.
    pub action: String,
    /// The agent that wrote it (the lease holder), the Event's `reportingInstance`.
    pub instance: String,
}

/// A workload's pods as the readiness gate counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replicas {
    /// Ready pods that are not terminating.
    pub ready: i32,
    /// Pods the scheduler cannot place, with the scheduler's message.
    pub unschedulable: Vec<(PodKey, String)>,
}

/// A cache kept current by watches. Reads never call the API.
#[async_trait]
pub trait LiveView: Send + Sync {
    fn pods_on(&self, node: &str) -> Vec<Arc<PodInfo>>;
    /// Pods of a workload (a Deployment, StatefulSet, ReplicaSet ...).
    fn pods_of(&self, workload: &WorkloadKey) -> Vec<Arc<PodInfo>>;
    /// A workload's Ready pods and its unschedulable ones, counted in place (no pod is copied).
    fn replicas(&self, workload: &WorkloadKey) -> Replicas;
    fn pod(&self, key: &PodKey) -> Option<Arc<PodInfo>>;
    fn pdbs(&self, namespace: &str) -> Vec<Arc<PdbInfo>>;
    fn nodes(&self) -> Vec<NodeInfo>;
    /// Desired replicas of a workload.
    fn scale(&self, workload: &WorkloadKey) -> Option<i32>;
    /// Resolves once anything watched changed since the last call returned. An error when the view stopped
    /// following the cluster (the API server refused a list or watch: RBAC, credentials): it is stale from
    /// then on, and whoever waits on it stops with that error instead of deciding from it.
    async fn changed(&self) -> Result<(), ClusterError>;
}
