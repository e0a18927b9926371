//! The cluster state the planner reads: nodes, pods, PDBs and workload scales, in a compact form that
//! serialises to a snapshot file (`poolshift snapshot -o FILE`) and converts from the API objects.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use poolshift_provider_api::{NodeMatcher, OfferedVersions, PoolDescription};

use super::identity::{PdbKey, PodKey, WorkloadKey, WorkloadRef};
use super::quantity;

pub const SNAPSHOT_SCHEMA: u32 = 1;

pub const ANN_DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
pub const ANN_SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
pub const ANN_MIRROR: &str = "kubernetes.io/config.mirror";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema: u32,
    /// The kube-apiserver's version (`gitVersion` of `/version`).
    pub server_version: String,
    pub nodes: Vec<NodeInfo>,
    pub pods: Vec<PodInfo>,
    pub pdbs: Vec<PdbInfo>,
    /// Replica counts of workload controllers, by `Kind/namespace/name`.
    pub scales: BTreeMap<String, i32>,
    /// PersistentVolumeClaims and their volumes' placement; `None` when the API server does not serve them
    /// (the plan then assumes a claim's volume is in its pod's node zone, and says so). An RBAC refusal is an
    /// error, not `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<VolumeInfo>>,
    /// What the provider said about the configured pools when the snapshot was taken, for offline planning
    /// (`plan --from-snapshot`). Empty when the snapshot was taken without a configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRecord>,
}

/// A PersistentVolumeClaim and where its volume lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    pub namespace: String,
    pub claim: String,
    /// The bound PersistentVolume, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// The zone the volume is pinned to (node affinity or zone label), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// A `local` or `hostPath` volume: pinned to `node`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The provider's view of one pool, recorded in a snapshot file so that it can be planned offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderRecord {
    /// Provider kind (`sim`, `gke`, `onprem` ...).
    pub kind: String,
    pub blue: PoolDescription,
    pub offered: OfferedVersions,
    pub matcher: NodeMatcher,
    /// The green pool's name for each offered version newer than blue (the provider's naming rule).
    pub green_names: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub pods: u64,
}

impl Resources {
    pub fn add(&mut self, o: &Resources) {
        self.cpu_millis += o.cpu_millis;
        self.memory_bytes += o.memory_bytes;
        self.pods += o.pods;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// The node object's UID (Events name it, so that `kubectl describe node` finds them).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub unschedulable: bool,
    pub ready: bool,
    pub kubelet_version: String,
    pub allocatable: Resources,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<String>,
}

impl NodeInfo {
    pub fn zone(&self) -> Option<&str> {
        self.labels.get(LABEL_ZONE).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub phase: String,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminating: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The controller owner reference, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<OwnerRef>,
    /// For pods of a ReplicaSet owned by a Deployment: the Deployment (`Deployment/name`), as the PDB finders do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadRef>,
    pub requests: Resources,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_dir: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pvcs: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mirror: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_not_disrupt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_to_evict: Option<String>,
    /// Tolerates every taint (`operator: Exists` with no key): can land back on cordoned blue nodes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tolerates_all: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class: Option<String>,
    /// The scheduler's message when the pod is Pending because no node fits (PodScheduled=False, Unschedulable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unschedulable: Option<String>,
    /// `spec.nodeSelector`: a replacement only lands on nodes carrying these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Hard topology spread constraints (`whenUnsatisfiable: DoNotSchedule`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<Spread>,
}

/// A `DoNotSchedule` topology spread constraint: at most `max_skew` pods more in one `key` domain than in
/// the emptiest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    pub key: String,
    pub max_skew: i32,
}

impl PodInfo {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn pod_key(&self) -> PodKey {
        PodKey::new(&self.namespace, &self.name)
    }

    /// The pod's workload in its namespace (`Deployment/shop/web`).
    pub fn workload_key(&self) -> Option<WorkloadKey> {
        self.workload.as_ref().map(|w| w.in_namespace(&self.namespace))
    }

    pub fn finished(&self) -> bool {
        self.phase == "Succeeded" || self.phase == "Failed"
    }

    pub fn owner_kind(&self) -> Option<&str> {
        self.controller.as_ref().map(|o| o.kind.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdbInfo {
    pub namespace: String,
    pub name: String,
    /// `None` matches nothing (policy/v1); an empty selector matches every pod of the namespace.
    pub selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_eviction_policy: Option<String>,
    pub expected_pods: i32,
    pub desired_healthy: i32,
    pub current_healthy: i32,
    pub disruptions_allowed: i32,
    pub generation: i64,
    pub observed_generation: i64,
    /// The SyncFailed condition's message, when the disruption controller could not compute the budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_failed: Option<String>,
    /// The object's resourceVersion: tells the engine whether a cached status already reflects its evictions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
}

impl PdbInfo {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn pdb_key(&self) -> PdbKey {
        PdbKey::new(&self.namespace, &self.name)
    }

    /// Does this PDB select `pod` (same namespace, label selector)?
    pub fn selects(&self, pod: &PodInfo) -> bool {
        pod.namespace == self.namespace && self.selector.as_ref().is_some_and(|s| selector_matches(s, &pod.labels))
    }

    /// A budget that can never allow a disruption, whatever happens (Karpenter's "fully blocking", plus
    /// `expectedPods <= desiredHealthy`, e.g. one replica with minAvailable 1).
    pub fn structurally_blocked(&self) -> Option<String> {
        let zero = |v: &IntOrString| match v {
            IntOrString::Int(i) => *i == 0,
            IntOrString::String(s) => s.trim() == "0%",
        };
        if self.max_unavailable.as_ref().is_some_and(zero) {
            return Some("maxUnavailable is 0".into());
        }
        if matches!(&self.min_available, Some(IntOrString::String(s)) if s.trim() == "100%") {
            return Some("minAvailable is 100%".into());
        }
        if self.min_available.is_none() && self.max_unavailable.is_none() {
            return Some("neither minAvailable nor maxUnavailable is set".into());
        }
        if self.sync_failed.is_none() && self.expected_pods > 0 && self.expected_pods <= self.desired_healthy {
            return Some(format!(
                "needs {} healthy pods out of {} expected: no disruption can ever be allowed",
                self.desired_healthy, self.expected_pods
            ));
        }
        None
    }
}

/// `metav1.LabelSelector` matching (matchLabels AND matchExpressions).
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = sel.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    labels_ok
        && sel.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or(&[]);
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

impl From<&Node> for NodeInfo {
    fn from(n: &Node) -> Self {
        let status = n.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let alloc = status.and_then(|s| s.allocatable.as_ref());
        let q = |k: &str| alloc.and_then(|a| a.get(k)).map(|q| q.0.as_str());
        let spec = n.spec.as_ref();
        Self {
            name: n.metadata.name.clone().unwrap_or_default(),
            uid: n.metadata.uid.clone().unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            ready,
            kubelet_version: status
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.kubelet_version.clone())
                .unwrap_or_default(),
            allocatable: Resources {
                cpu_millis: q("cpu").and_then(quantity::cpu_millis).unwrap_or(0),
                memory_bytes: q("memory").and_then(quantity::bytes).unwrap_or(0),
                pods: q("pods").and_then(quantity::bytes).unwrap_or(110),
            },
            taints: spec
                .and_then(|s| s.taints.as_ref())
                .map(|ts| ts.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect())
                .unwrap_or_default(),
        }
    }
}

impl From<&Pod> for PodInfo {
    fn from(p: &Pod) -> Self {
        let spec = p.spec.as_ref();
        let status = p.status.as_ref();
        let ann = p.metadata.annotations.as_ref();
        let controller =
            p.metadata.owner_references.iter().flatten().find(|r| r.controller == Some(true)).map(|r| OwnerRef {
                kind: r.kind.clone(),
                name: r.name.clone(),
                uid: r.uid.clone(),
            });
        let mut requests = Resources { pods: 1, ..Default::default() };
        for c in spec.map(|s| s.containers.as_slice()).unwrap_or(&[]) {
            let req = c.resources.as_ref().and_then(|r| r.requests.as_ref());
            requests.cpu_millis += req.and_then(|r| r.get("cpu")).and_then(|q| quantity::cpu_millis(&q.0)).unwrap_or(0);
            requests.memory_bytes += req.and_then(|r| r.get("memory")).and_then(|q| quantity::bytes(&q.0)).unwrap_or(0);
        }
        let volumes = spec.and_then(|s| s.volumes.as_ref());
        Self {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            name: p.metadata.name.clone().unwrap_or_default(),
            uid: p.metadata.uid.clone().unwrap_or_default(),
            node: spec.and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty()),
            phase: status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into()),
            ready: status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            terminating: p.metadata.deletion_timestamp.is_some(),
            labels: p.metadata.labels.clone().unwrap_or_default(),
            workload: controller.as_ref().map(|c| WorkloadRef::new(&c.kind, &c.name)),
            controller,
            requests,
            empty_dir: volumes.is_some_and(|v| v.iter().any(|v| v.empty_dir.is_some())),
            pvcs: volumes
                .map(|v| {
                    v.iter().filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.clone())).collect()
                })
                .unwrap_or_default(),
            mirror: ann.is_some_and(|a| a.contains_key(ANN_MIRROR)),
            do_not_disrupt: ann.and_then(|a| a.get(ANN_DO_NOT_DISRUPT)).cloned(),
            safe_to_evict: ann.and_then(|a| a.get(ANN_SAFE_TO_EVICT)).cloned(),
            tolerates_all: spec.and_then(|s| s.tolerations.as_ref()).is_some_and(|ts| {
                ts.iter().any(|t| t.key.as_deref().unwrap_or("").is_empty() && t.operator.as_deref() == Some("Exists"))
            }),
            priority_class: spec.and_then(|s| s.priority_class_name.clone()),
            unschedulable: status
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False"))
                .filter(|c| c.reason.as_deref() == Some("Unschedulable"))
                .map(|c| c.message.clone().unwrap_or_else(|| "no node fits".into())),
            node_selector: spec.and_then(|s| s.node_selector.clone()).unwrap_or_default(),
            spread: spec
                .and_then(|s| s.topology_spread_constraints.as_ref())
                .map(|cs| {
                    cs.iter()
                        .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
                        .map(|c| Spread { key: c.topology_key.clone(), max_skew: c.max_skew })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

impl From<&PodDisruptionBudget> for PdbInfo {
    fn from(p: &PodDisruptionBudget) -> Self {
        let spec = p.spec.as_ref();
        let st = p.status.as_ref();
        let sync_failed = st
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed" && c.reason == "SyncFailed"))
            .map(|c| c.message.clone());
        Self {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            name: p.metadata.name.clone().unwrap_or_default(),
            selector: spec.and_then(|s| s.selector.clone()),
            min_available: spec.and_then(|s| s.min_available.clone()),
            max_unavailable: spec.and_then(|s| s.max_unavailable.clone()),
            unhealthy_pod_eviction_policy: spec.and_then(|s| s.unhealthy_pod_eviction_policy.clone()),
            expected_pods: st.and_then(|s| s.expected_pods).unwrap_or(0),
            desired_healthy: st.and_then(|s| s.desired_healthy).unwrap_or(0),
            current_healthy: st.and_then(|s| s.current_healthy).unwrap_or(0),
            disruptions_allowed: st.and_then(|s| s.disruptions_allowed).unwrap_or(0),
            generation: p.metadata.generation.unwrap_or(0),
            observed_generation: st.and_then(|s| s.observed_generation).unwrap_or(0),
            sync_failed,
            resource_version: p.metadata.resource_version.clone().unwrap_or_default(),
        }
    }
}

/// The API objects a snapshot is made from (as listed, or as a simulator holds them).
pub struct Listed<'a> {
    /// `gitVersion` of `/version`.
    pub server_version: String,
    pub nodes: Vec<&'a Node>,
    pub pods: Vec<&'a Pod>,
    pub pdbs: Vec<&'a PodDisruptionBudget>,
    pub deployments: Vec<&'a Deployment>,
    pub statefulsets: Vec<&'a StatefulSet>,
    pub replicasets: Vec<&'a ReplicaSet>,
    /// `None` when the volumes could not be read.
    pub volumes: Option<Vec<VolumeInfo>>,
}

/// The same objects, each already reduced to what a snapshot keeps (a paginated list reduces a page at a
/// time, so that a whole list of API objects is never held).
pub struct Reduced {
    /// `gitVersion` of `/version`.
    pub server_version: String,
    pub nodes: Vec<NodeInfo>,
    pub pods: Vec<PodInfo>,
    pub pdbs: Vec<PdbInfo>,
    /// Deployments, StatefulSets and ReplicaSets.
    pub controllers: Vec<ControllerInfo>,
    /// `None` when the volumes could not be read.
    pub volumes: Option<Vec<VolumeInfo>>,
}

/// A Deployment, StatefulSet or ReplicaSet as a snapshot needs it: its scale, and for a ReplicaSet the
/// Deployment that controls it (its pods belong to that Deployment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerInfo {
    /// `Kind/namespace/name`, as in [`Snapshot::scales`].
    pub key: String,
    pub uid: String,
    pub replicas: i32,
    /// The controlling Deployment's name (ReplicaSets only).
    pub deployment: Option<String>,
}

impl ControllerInfo {
    fn new(kind: &str, meta: &ObjectMeta, replicas: Option<i32>) -> Self {
        Self {
            key: format!("{kind}/{}/{}", meta.namespace.as_deref().unwrap_or(""), meta.name.as_deref().unwrap_or("")),
            uid: meta.uid.clone().unwrap_or_default(),
            replicas: replicas.unwrap_or(1),
            deployment: None,
        }
    }
}

impl From<&Deployment> for ControllerInfo {
    fn from(d: &Deployment) -> Self {
        Self::new("Deployment", &d.metadata, d.spec.replicas)
    }
}

impl From<&StatefulSet> for ControllerInfo {
    fn from(s: &StatefulSet) -> Self {
        Self::new("StatefulSet", &s.metadata, s.spec.replicas)
    }
}

impl From<&ReplicaSet> for ControllerInfo {
    fn from(r: &ReplicaSet) -> Self {
        let mut c = Self::new("ReplicaSet", &r.metadata, r.spec.replicas);
        c.deployment = r
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true) && o.kind == "Deployment")
            .map(|o| o.name.clone());
        c
    }
}

impl Snapshot {
    /// The snapshot of these objects, sorted by name, pods resolved to their Deployments. No provider record.
    pub fn from_listed(l: Listed<'_>) -> Snapshot {
        let controllers = l
            .deployments
            .iter()
            .map(|d| ControllerInfo::from(*d))
            .chain(l.statefulsets.iter().map(|s| ControllerInfo::from(*s)))
            .chain(l.replicasets.iter().map(|r| ControllerInfo::from(*r)))
            .collect();
        Snapshot::from_reduced(Reduced {
            server_version: l.server_version,
            nodes: l.nodes.iter().map(|n| NodeInfo::from(*n)).collect(),
            pods: l.pods.iter().map(|p| PodInfo::from(*p)).collect(),
            pdbs: l.pdbs.iter().map(|p| PdbInfo::from(*p)).collect(),
            controllers,
            volumes: l.volumes,
        })
    }

    /// [`Snapshot::from_listed`] of objects already reduced.
    pub fn from_reduced(r: Reduced) -> Snapshot {
        let Reduced { server_version, mut nodes, mut pods, mut pdbs, controllers, volumes } = r;
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        resolve_workloads(&mut pods, &controllers);
        pdbs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Snapshot {
            schema: SNAPSHOT_SCHEMA,
            server_version,
            nodes,
            pods,
            pdbs,
            scales: controllers.into_iter().map(|c| (c.key, c.replicas)).collect(),
            volumes,
            providers: Vec::new(),
        }
    }
}

/// Resolves pods of Deployment-owned ReplicaSets to their Deployment (`workload`), using the ReplicaSets' owners.
fn resolve_workloads(pods: &mut [PodInfo], controllers: &[ControllerInfo]) {
    let owner_of: BTreeMap<&str, WorkloadRef> = controllers
        .iter()
        .filter_map(|c| Some((c.uid.as_str(), WorkloadRef::new("Deployment", c.deployment.as_deref()?))))
        .filter(|(uid, _)| !uid.is_empty())
        .collect();
    for p in pods {
        if let Some(c) = &p.controller
            && c.kind == "ReplicaSet"
            && let Some(d) = owner_of.get(c.uid.as_str())
        {
            p.workload = Some(d.clone());
        }
    }
}

/// Claims and where their volumes live: the zone from the PersistentVolume's node affinity (or its zone
/// label), `local`/`hostPath` volumes with the node they are pinned to.
pub fn volume_infos(
    pvcs: &[k8s_openapi::api::core::v1::PersistentVolumeClaim],
    pvs: &[k8s_openapi::api::core::v1::PersistentVolume],
) -> Vec<VolumeInfo> {
    const ZONE_KEYS: [&str; 2] = [LABEL_ZONE, "failure-domain.beta.kubernetes.io/zone"];
    let by_name: BTreeMap<&str, &k8s_openapi::api::core::v1::PersistentVolume> =
        pvs.iter().filter_map(|pv| Some((pv.metadata.name.as_deref()?, pv))).collect();
    let mut out: Vec<VolumeInfo> = pvcs
        .iter()
        .map(|c| {
            let volume = c.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty());
            let pv = volume.as_deref().and_then(|v| by_name.get(v));
            let spec = pv.and_then(|pv| pv.spec.as_ref());
            let terms = spec
                .and_then(|s| s.node_affinity.as_ref())
                .and_then(|a| a.required.as_ref())
                .map(|r| r.node_selector_terms.as_slice())
                .unwrap_or(&[]);
            let single = |keys: &[&str]| {
                terms.iter().flat_map(|t| t.match_expressions.iter().flatten()).find_map(|e| {
                    (keys.contains(&e.key.as_str()) && e.operator == "In")
                        .then(|| e.values.as_ref().filter(|v| v.len() == 1).map(|v| v[0].clone()))
                        .flatten()
                })
            };
            let label_zone = pv
                .and_then(|pv| pv.metadata.labels.as_ref())
                .and_then(|l| ZONE_KEYS.iter().find_map(|k| l.get(*k).cloned()));
            VolumeInfo {
                namespace: c.metadata.namespace.clone().unwrap_or_default(),
                claim: c.metadata.name.clone().unwrap_or_default(),
                zone: single(&ZONE_KEYS).or(label_zone),
                local: spec.is_some_and(|s| s.local.is_some() || s.host_path.is_some()),
                node: single(&["kubernetes.io/hostname"]),
                volume,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.claim).cmp(&(&b.namespace, &b.claim)));
    out
}
