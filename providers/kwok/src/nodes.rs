//! The node objects of a pool, as kubesim builds them, handed to the real control plane and kwok: readiness is
//! theirs (kwok's node-initialize stage turns the node Ready after the annotated delay).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kubesim::cloud::{NOT_READY_TAINT, PoolSpec, node_name, node_object as kubesim_node};

/// kwok manages the nodes carrying this annotation (`--manage-nodes-with-annotation-selector`).
pub const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";
pub const KWOK_NODE_VALUE: &str = "fake";
/// How long kwok's node-initialize stage waits before the node turns Ready (a Go duration).
pub const READY_DELAY_ANNOTATION: &str = "node-initialize.stage.kwok.x-k8s.io/delay";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Node `index` of a pool: its name and zone (zones round robin, as kubesim places them).
pub(crate) fn placement(spec: &PoolSpec, index: u32) -> Option<(String, String)> {
    if spec.zones.is_empty() {
        return None;
    }
    let zone = spec.zones[index as usize % spec.zones.len()].clone();
    Some((node_name(&spec.name, &zone, index), zone))
}

/// The names of the `size` nodes a pool has when complete.
pub(crate) fn expected_names(spec: &PoolSpec) -> Vec<String> {
    (0..spec.size).filter_map(|i| placement(spec, i).map(|(name, _)| name)).collect()
}

/// A `Duration` the way Go's `time.ParseDuration` (kwok's stage delays) reads it: `10s`, `1500ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

/// A per-pool number for kubesim's builder (it picks the node's InternalIP and boot ID from it), stable
/// across calls so that a node recreated after a crash is the same object.
fn pool_seq(pool: &str) -> u32 {
    let h = pool.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    h % 250 + 1
}

/// The node object to POST for node `index` of the pool: kubesim's node (labels, pool taints, capacity,
/// allocatable, nodeInfo with the kubelet version) created not Ready, without the not-ready taint and without
/// a Ready condition (the node lifecycle controller and kwok own readiness), annotated for kwok. `None` when
/// the pool has no zone or kubesim's template does not give the node.
pub(crate) fn node_object(spec: &PoolSpec, index: u32, ready_delay: Duration, now: Timestamp) -> Option<Node> {
    let (name, zone) = placement(spec, index)?;
    let mut node = kubesim_node(spec, pool_seq(&spec.name), index, &name, &zone, false, now);
    if node.metadata.name.as_deref() != Some(name.as_str()) {
        return None;
    }
    if let Some(s) = node.spec.as_mut() {
        if let Some(taints) = s.taints.as_mut() {
            taints.retain(|t| t.key != NOT_READY_TAINT);
        }
        if s.taints.as_ref().is_some_and(Vec::is_empty) {
            s.taints = None;
        }
    }
    if let Some(conditions) = node.status.as_mut().and_then(|s| s.conditions.as_mut()) {
        conditions.retain(|c| c.type_ != "Ready");
    }
    let annotations = node.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(KWOK_NODE_ANNOTATION.to_string(), KWOK_NODE_VALUE.to_string());
    annotations.insert(READY_DELAY_ANNOTATION.to_string(), go_duration(ready_delay));
    Some(node)
}

pub(crate) fn name_of(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or_default()
}

/// Whether the node's Ready condition is True.
pub(crate) fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether kwok plays this node (the provider only ever deletes those).
pub(crate) fn is_kwok_node(node: &Node) -> bool {
    node.metadata.annotations.as_ref().and_then(|a| a.get(KWOK_NODE_ANNOTATION)).is_some_and(|v| v == KWOK_NODE_VALUE)
}

/// Whether `pod` keeps its node's pool from being deleted: a pod that is not a DaemonSet's, not a mirror
/// pod and not finished.
pub(crate) fn blocks_deletion(pod: &Pod) -> bool {
    let daemon = pod
        .metadata
        .owner_references
        .as_ref()
        .is_some_and(|o| o.iter().any(|r| r.kind == "DaemonSet" && r.controller.unwrap_or(false)));
    let mirror = pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    let finished =
        pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| p == "Succeeded" || p == "Failed");
    !(daemon || mirror || finished)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> PoolSpec {
        serde_json::from_value(json!({
            "name": "green", "version": "1.31.4", "size": 4, "zones": ["eu-west-1a", "eu-west-1b"],
            "instance_type": "m5.xlarge", "labels": {"team": "a"},
            "taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}],
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": 58},
        }))
        .unwrap()
    }

    #[test]
    fn the_posted_node_is_kubesims_node_made_for_kwok() {
        let node = node_object(&spec(), 3, Duration::from_secs(10), Timestamp::UNIX_EPOCH).unwrap();
        let meta = &node.metadata;
        assert_eq!(meta.name.as_deref(), Some("green-1b-3"));
        let annotations = meta.annotations.as_ref().unwrap();
        assert_eq!(annotations[KWOK_NODE_ANNOTATION], "fake");
        assert_eq!(annotations[READY_DELAY_ANNOTATION], "10s");
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels["kubesim.io/pool"], "green");
        assert_eq!(labels["topology.kubernetes.io/zone"], "eu-west-1b");
        assert_eq!(labels["kubernetes.io/hostname"], "green-1b-3");
        assert_eq!(labels["node.kubernetes.io/instance-type"], "m5.xlarge");
        assert_eq!(labels["team"], "a");
        let taints = node.spec.as_ref().and_then(|s| s.taints.as_ref()).unwrap();
        assert_eq!(taints.len(), 1, "{taints:?}");
        assert_eq!((taints[0].key.as_str(), taints[0].effect.as_str()), ("gpu", "NoSchedule"));
        assert!(!taints.iter().any(|t| t.key == NOT_READY_TAINT));
        let status = node.status.as_ref().unwrap();
        assert_eq!(status.node_info.as_ref().unwrap().kubelet_version, "v1.31.4");
        assert_eq!(status.allocatable.as_ref().unwrap()["cpu"].0, "8");
        assert_eq!(status.allocatable.as_ref().unwrap()["memory"].0, "32Gi");
        assert_eq!(status.allocatable.as_ref().unwrap()["pods"].0, "58");
        assert_eq!(status.capacity, status.allocatable);
        let conditions = status.conditions.as_ref().unwrap();
        assert!(!conditions.iter().any(|c| c.type_ == "Ready"), "{conditions:?}");
        assert!(!is_ready(&node));
        assert!(is_kwok_node(&node));
        // The same node every time (a retry after a crash posts the same object).
        let again = node_object(&spec(), 3, Duration::from_secs(10), Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(again, node);
    }

    #[test]
    fn without_pool_taints_the_node_has_none() {
        let mut s = spec();
        s.taints.clear();
        let node = node_object(&s, 0, Duration::ZERO, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(node.spec.as_ref().unwrap().taints, None);
        assert_eq!(node.metadata.annotations.as_ref().unwrap()[READY_DELAY_ANNOTATION], "0s");
        s.zones.clear();
        assert_eq!(node_object(&s, 0, Duration::ZERO, Timestamp::UNIX_EPOCH), None);
        assert!(expected_names(&s).is_empty());
    }

    #[test]
    fn names_follow_kubesim() {
        assert_eq!(expected_names(&spec()), ["green-1a-0", "green-1b-1", "green-1a-2", "green-1b-3"]);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_secs(90)), "90s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn only_running_workload_pods_block_deletion() {
        let pod = |v: serde_json::Value| -> Pod { serde_json::from_value(v).unwrap() };
        assert!(blocks_deletion(&pod(json!({"metadata": {"name": "web"}, "status": {"phase": "Running"}}))));
        assert!(blocks_deletion(&pod(json!({"metadata": {"name": "web"}}))));
        assert!(!blocks_deletion(&pod(json!({"metadata": {"name": "ds", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "u", "controller": true}]}}))));
        assert!(!blocks_deletion(&pod(
            json!({"metadata": {"name": "m", "annotations": {"kubernetes.io/config.mirror": "x"}}})
        )));
        assert!(!blocks_deletion(&pod(json!({"metadata": {"name": "job"}, "status": {"phase": "Succeeded"}}))));
        assert!(!blocks_deletion(&pod(json!({"metadata": {"name": "job"}, "status": {"phase": "Failed"}}))));
    }
}
