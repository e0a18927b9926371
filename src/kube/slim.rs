//! [`SlimPod`]: a Pod as the agent reads it from lists and watches. Only the fields [`PodInfo`] is made of
//! are parsed; everything else in the API server's JSON (container images, commands, env, probes, most
//! volumes, container statuses, managed fields, other annotations) is skipped by the parser, never
//! allocated. A full `Pod` is about ten times larger in memory than what poolshift keeps of it, and a
//! 30,000-pod cluster is listed once for the plan and once more by the watch cache.
//!
//! The result is a `k8s_openapi` [`Pod`] with only those fields set, so that [`PodInfo::from`] stays the one
//! conversion. A field `PodInfo::from` starts reading must be added to the shapes below (the test
//! `slim_pods_convert_as_full_pods_do` compares the two conversions).
//!
//! [`PodInfo`]: crate::model::snapshot::PodInfo
//! [`PodInfo::from`]: crate::model::snapshot::PodInfo

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaimVolumeSource, Pod, PodCondition, PodSpec, PodStatus, ResourceRequirements,
    Toleration, TopologySpreadConstraint, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::model::snapshot::{ANN_DO_NOT_DISRUPT, ANN_MIRROR, ANN_SAFE_TO_EVICT};

/// The annotations [`PodInfo`](crate::model::snapshot::PodInfo) reads; the others are skipped.
const KEPT_ANNOTATIONS: [&str; 3] = [ANN_MIRROR, ANN_DO_NOT_DISRUPT, ANN_SAFE_TO_EVICT];

/// A Pod with only the fields poolshift reads (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "PodShape")]
pub struct SlimPod(pub Pod);

impl k8s_openapi::Resource for SlimPod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for SlimPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

#[derive(Deserialize)]
struct PodShape {
    #[serde(default)]
    metadata: MetaShape,
    #[serde(default)]
    spec: Option<SpecShape>,
    #[serde(default)]
    status: Option<StatusShape>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaShape {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    /// The watcher resumes from it.
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "kept_annotations")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    owner_references: Option<Vec<OwnerReference>>,
    #[serde(default)]
    deletion_timestamp: Option<Time>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecShape {
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    containers: Vec<ContainerShape>,
    #[serde(default)]
    volumes: Option<Vec<VolumeShape>>,
    #[serde(default)]
    tolerations: Option<Vec<Toleration>>,
    #[serde(default)]
    priority_class_name: Option<String>,
    #[serde(default)]
    node_selector: Option<BTreeMap<String, String>>,
    #[serde(default)]
    topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
}

#[derive(Deserialize)]
struct ContainerShape {
    #[serde(default)]
    resources: Option<ResourcesShape>,
}

#[derive(Deserialize)]
struct ResourcesShape {
    #[serde(default)]
    requests: Option<BTreeMap<String, Quantity>>,
}

/// A volume: only whether it is an emptyDir, and the claim it mounts.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeShape {
    #[serde(default)]
    name: String,
    #[serde(default)]
    empty_dir: Option<IgnoredAny>,
    #[serde(default)]
    persistent_volume_claim: Option<ClaimShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaimShape {
    #[serde(default)]
    claim_name: String,
}

#[derive(Deserialize)]
struct StatusShape {
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    conditions: Option<Vec<PodCondition>>,
}

/// The annotations map, keeping only [`KEPT_ANNOTATIONS`] (others can be large: last-applied configurations).
fn kept_annotations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Kept;

    impl<'de> Visitor<'de> for Kept {
        type Value = Option<BTreeMap<String, String>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of annotations or null")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = BTreeMap::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if KEPT_ANNOTATIONS.contains(&key.as_ref()) {
                    kept.insert(key.into_owned(), map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(kept))
        }
    }

    d.deserialize_option(Kept)
}

impl From<PodShape> for SlimPod {
    fn from(p: PodShape) -> Self {
        let m = p.metadata;
        let metadata = ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resource_version: m.resource_version,
            labels: m.labels,
            annotations: m.annotations,
            // Only the controller is read.
            owner_references: m
                .owner_references
                .map(|refs| refs.into_iter().filter(|r| r.controller == Some(true)).collect()),
            deletion_timestamp: m.deletion_timestamp,
            ..Default::default()
        };
        let spec = p.spec.map(|s| PodSpec {
            node_name: s.node_name,
            containers: s
                .containers
                .into_iter()
                .map(|c| Container {
                    resources: c.resources.map(|r| ResourceRequirements { requests: r.requests, ..Default::default() }),
                    ..Default::default()
                })
                .collect(),
            volumes: s.volumes.map(|vs| {
                vs.into_iter()
                    .filter(|v| v.empty_dir.is_some() || v.persistent_volume_claim.is_some())
                    .map(|v| Volume {
                        name: v.name,
                        empty_dir: v.empty_dir.map(|_| Default::default()),
                        persistent_volume_claim: v
                            .persistent_volume_claim
                            .map(|c| PersistentVolumeClaimVolumeSource { claim_name: c.claim_name, read_only: None }),
                        ..Default::default()
                    })
                    .collect()
            }),
            tolerations: s.tolerations,
            priority_class_name: s.priority_class_name,
            node_selector: s.node_selector,
            topology_spread_constraints: s.topology_spread_constraints,
            ..Default::default()
        });
        let status = p.status.map(|s| PodStatus { phase: s.phase, conditions: s.conditions, ..Default::default() });
        SlimPod(Pod { metadata, spec, status })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::snapshot::PodInfo;

    /// A pod with every field PodInfo reads set, and much it does not read.
    fn full() -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-1", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                "generateName": "web-", "creationTimestamp": "2026-01-01T00:00:00Z",
                "deletionTimestamp": "2026-01-01T00:05:00Z",
                "labels": {"app": "web", "pod-template-hash": "abc"},
                "annotations": {
                    ANN_DO_NOT_DISRUPT: "true", ANN_SAFE_TO_EVICT: "false", ANN_MIRROR: "x",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"a\": [1, 2, {\"b\": null}]}"
                },
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "rs-1", "controller": true},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": "cm-1"}
                ],
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {
                "nodeName": "blue-1",
                "containers": [
                    {"name": "app", "image": "nginx", "args": ["-g"], "env": [{"name": "A", "value": "1"}],
                     "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1"}}},
                    {"name": "sidecar", "image": "envoy", "resources": {"requests": {"cpu": "0.5"}}}
                ],
                "volumes": [
                    {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1", "readOnly": true}},
                    {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
                ],
                "tolerations": [{"operator": "Exists"}, {"key": "k", "operator": "Equal", "value": "v"}],
                "priorityClassName": "high",
                "nodeSelector": {"disk": "ssd"},
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                     "labelSelector": {"matchLabels": {"app": "web"}}},
                    {"maxSkew": 2, "topologyKey": "host", "whenUnsatisfiable": "ScheduleAnyway"}
                ]
            },
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}
                ],
                "containerStatuses": [{"name": "app", "image": "nginx", "imageID": "", "ready": true, "restartCount": 0}],
                "podIP": "10.0.0.1"
            }
        })
    }

    #[test]
    fn slim_pods_convert_as_full_pods_do() {
        let full_pod: Pod = serde_json::from_value(full()).expect("a full pod");
        let slim: SlimPod = serde_json::from_value(full()).expect("a slim pod");
        let want = PodInfo::from(&full_pod);
        assert_eq!(PodInfo::from(&slim.0), want);
        // The fixture exercises the fields, so the comparison means something.
        assert!(want.empty_dir && want.mirror && want.tolerates_all && want.terminating && want.ready);
        assert_eq!(want.pvcs, ["data-web-1"]);
        assert_eq!(want.requests.cpu_millis, 750);
        assert_eq!(want.spread.len(), 1);
        assert!(want.unschedulable.is_some() && want.do_not_disrupt.is_some() && want.safe_to_evict.is_some());
        // What the agent does not read is not kept.
        let m = &slim.0.metadata;
        assert_eq!(m.annotations.as_ref().map(BTreeMap::len), Some(3));
        assert!(m.managed_fields.is_none() && m.generate_name.is_none());
        assert_eq!(m.resource_version.as_deref(), Some("42"));
        assert_eq!(m.owner_references.as_ref().map(Vec::len), Some(1));
        let spec = slim.0.spec.as_ref().expect("spec");
        assert!(spec.containers.iter().all(|c| c.image.is_none() && c.env.is_none()));
        assert_eq!(spec.volumes.as_ref().map(Vec::len), Some(2));
        assert!(slim.0.status.as_ref().is_some_and(|s| s.container_statuses.is_none() && s.pod_ip.is_none()));
    }

    #[test]
    fn minimal_and_null_fields_parse() {
        let slim: SlimPod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "annotations": null, "labels": null},
            "spec": {"containers": [{"name": "c"}]}
        }))
        .expect("a minimal pod");
        let want: Pod = serde_json::from_value(
            json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "c"}]}}),
        )
        .expect("pod");
        assert_eq!(PodInfo::from(&slim.0), PodInfo::from(&want));
    }
}
