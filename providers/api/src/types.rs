use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A node taint as providers carry it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule`, `NoExecute`.
    pub effect: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CapacityType {
    #[default]
    OnDemand,
    Spot,
    /// GKE preemptible VMs.
    Preemptible,
}

/// Pool size settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PoolSize {
    pub min: u32,
    pub max: u32,
    pub desired: u32,
}

/// Autoscaling settings of a pool, recorded at freeze time so restore puts back exactly these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AutoscalingSettings {
    pub enabled: bool,
    pub size: PoolSize,
    /// Provider-specific settings that restore needs (suspended ASG processes, GKE location policy ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// How Kubernetes nodes of a pool are recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMatcher {
    pub label: String,
    pub value: String,
}

impl NodeMatcher {
    /// Whether a node with these labels belongs to the pool.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        labels.get(&self.label) == Some(&self.value)
    }
}

/// The blue pool as the provider describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolDescription {
    pub name: String,
    /// Kubelet version of the pool (`1.30.8`).
    pub version: String,
    pub instance_types: Vec<String>,
    pub zones: Vec<String>,
    pub capacity_type: CapacityType,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub size: PoolSize,
    pub autoscaling: AutoscalingSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_gb: Option<u32>,
    /// Provider-specific settings to clone (launch template, node role, service account ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// The idempotency token of one attempt at creating a pool: every retry of that attempt (an answer lost to a
/// timeout or a crash) sends the same token, another attempt (a create after a failed one, a new run after a
/// rollback deleted the pool) another one. Providers whose API takes a token (EKS `clientRequestToken`, EC2
/// `ClientToken`) derive theirs from it; the others find their pool again by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CreateToken(String);

impl CreateToken {
    /// The token of attempt `attempt` of run `run_id` (`<run id>/<attempt>`).
    pub fn new(run_id: &str, attempt: u32) -> Self {
        Self(format!("{run_id}/{attempt}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CreateToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The green pool to create: blue's settings with only the version (or image) changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolSpec {
    pub name: String,
    /// The blue pool this spec was derived from.
    pub source: String,
    pub version: String,
    pub instance_types: Vec<String>,
    pub zones: Vec<String>,
    pub capacity_type: CapacityType,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub size: PoolSize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_gb: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl PoolSpec {
    /// Blue's settings at `version`, under `name`. The size is blue's current node count (`desired`).
    pub fn derive(blue: &PoolDescription, name: &str, version: &str) -> Self {
        Self {
            name: name.to_string(),
            source: blue.name.clone(),
            version: version.to_string(),
            instance_types: blue.instance_types.clone(),
            zones: blue.zones.clone(),
            capacity_type: blue.capacity_type,
            labels: blue.labels.clone(),
            taints: blue.taints.clone(),
            size: blue.size,
            disk_gb: blue.disk_gb,
            extra: blue.extra.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum PoolState {
    Creating,
    Ready,
    Updating,
    Deleting,
    Failed { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    pub name: String,
    pub version: String,
    #[serde(flatten)]
    pub state: PoolState,
    /// Nodes the provider reports (created instances); Kubernetes readiness is checked separately.
    pub nodes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Versions a provider offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferedVersions {
    pub control_plane: String,
    /// Node versions the provider can create, any order.
    pub node_versions: Vec<String>,
}
