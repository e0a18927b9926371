//! Node objects as a kubelet registers them for a pool's machine.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::PoolSpec;
use crate::store::kinds::POOL_LABEL;

pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// Labels the cloud sets on every node; a pool's own labels may not override them.
pub const RESERVED_LABELS: &[&str] = &[
    POOL_LABEL,
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "kubesim.io/capacity-type",
];

/// `<pool>-<zone suffix>-<index>`, the suffix being the zone's last `-` segment.
pub fn node_name(pool: &str, zone: &str, index: u32) -> String {
    let last = zone.rsplit('-').next().unwrap_or(zone);
    let suffix: String = last.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    if suffix.is_empty() { format!("{pool}-{index}") } else { format!("{pool}-{suffix}-{index}") }
}

fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn condition(ty: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> serde_json::Value {
    json!({
        "type": ty, "status": status, "reason": reason, "message": message,
        "lastHeartbeatTime": now.to_string(), "lastTransitionTime": now.to_string(),
    })
}

fn ready_condition(ready: bool, now: Timestamp) -> serde_json::Value {
    if ready {
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now)
    } else {
        condition(
            "Ready",
            "False",
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
            now,
        )
    }
}

/// The node object of machine `index` of a pool (sequence number `seq`).
pub fn build(spec: &PoolSpec, seq: u32, index: u32, name: &str, zone: &str, ready: bool, now: Timestamp) -> Node {
    let mut labels = serde_json::Map::new();
    for (k, v) in &spec.labels {
        labels.insert(k.clone(), json!(v));
    }
    for (k, v) in [
        (POOL_LABEL, spec.name.as_str()),
        ("kubernetes.io/hostname", name),
        ("topology.kubernetes.io/zone", zone),
        ("node.kubernetes.io/instance-type", spec.instance_type.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("kubesim.io/capacity-type", spec.capacity_type.as_str()),
    ] {
        labels.insert(k.to_string(), json!(v));
    }
    let mut taints: Vec<serde_json::Value> = spec
        .taints
        .iter()
        .map(|t| {
            let mut v = json!({"key": t.key, "effect": t.effect.as_str()});
            if let Some(val) = &t.value {
                v["value"] = json!(val);
            }
            v
        })
        .collect();
    if !ready {
        taints.push(json!({"key": NOT_READY_TAINT, "effect": "NoSchedule", "timeAdded": now.to_string()}));
    }
    let h = fnv64(name);
    let h2 = fnv64(&format!("{name}/{seq}"));
    let ip = format!("10.{}.{}.{}", seq % 256, (index / 250) % 256, index % 250 + 4);
    let resources = json!({
        "cpu": spec.allocatable.cpu.as_str(),
        "memory": spec.allocatable.memory.as_str(),
        "pods": spec.allocatable.pods.to_string(),
        "ephemeral-storage": "100Gi",
    });
    let kubelet = format!("v{}", spec.version);
    let v = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": format!("kubesim:///{zone}/{name}"), "taints": taints},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
                ready_condition(ready, now),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": format!("{h2:016x}"),
                "containerRuntimeVersion": "containerd://1.7.22",
                "kernelVersion": "6.1.0-kubesim",
                "kubeProxyVersion": kubelet,
                "kubeletVersion": kubelet,
                "machineID": format!("{h:016x}{h2:016x}"),
                "operatingSystem": "linux",
                "osImage": "Kubesim Linux",
                "systemUUID": format!("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", h >> 32, (h >> 16) & 0xffff, h & 0xffff, h2 >> 48, h2 & 0xffff_ffff_ffff),
            },
        },
    });
    serde_json::from_value(v).unwrap_or_else(|e| {
        tracing::error!(node = name, error = %e, "node template does not decode");
        Node::default()
    })
}

/// Turns a node Ready: the Ready condition becomes True and the not-ready taint goes.
pub fn mark_ready(node: &mut Node, now: Timestamp) {
    if let Some(spec) = node.spec.as_mut()
        && let Some(taints) = spec.taints.as_mut()
    {
        taints.retain(|t: &Taint| t.key != NOT_READY_TAINT);
    }
    let status = node.status.get_or_insert_with(Default::default);
    let conds = status.conditions.get_or_insert_with(Vec::new);
    let ready: NodeCondition = serde_json::from_value(ready_condition(true, now)).unwrap_or_else(|_| NodeCondition {
        type_: "Ready".into(),
        status: "True".into(),
        last_transition_time: Some(Time(now)),
        ..Default::default()
    });
    match conds.iter_mut().find(|c| c.type_ == "Ready") {
        Some(c) => *c = ready,
        None => conds.push(ready),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_use_the_zone_suffix() {
        assert_eq!(node_name("blue", "eu-west-1a", 4), "blue-1a-4");
        assert_eq!(node_name("blue", "zone-b", 0), "blue-b-0");
        assert_eq!(node_name("blue", "Zone_X", 2), "blue-zonex-2");
    }
}
