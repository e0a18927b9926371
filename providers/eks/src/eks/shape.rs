//! Pure conversions between EKS node groups and poolshift's pool types.

use std::collections::BTreeMap;

use aws_sdk_eks::types::{CapacityTypes, Nodegroup, NodegroupStatus, TaintEffect};
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, PoolDescription, PoolSize, PoolState, PoolStatus, Taint,
};

use super::extra_keys as x;
use super::{FROZEN_TAG, SOURCE_TAG, VERSION_TAG};
use crate::versions::{kubelet_of_release, minor_of};

pub(super) fn is_cluster_missing(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("cluster") && !m.contains("node group") && !m.contains("nodegroup")
}

pub(super) fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(super) fn to_u32(v: Option<i32>) -> u32 {
    v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

pub(super) fn size_of(ng: &Nodegroup) -> PoolSize {
    let s = ng.scaling_config();
    PoolSize {
        min: to_u32(s.and_then(|s| s.min_size())),
        max: to_u32(s.and_then(|s| s.max_size())),
        desired: to_u32(s.and_then(|s| s.desired_size())),
    }
}

/// EKS has no autoscaling switch: cluster-autoscaler works within min..max, so a pool can scale when min < max.
pub(super) fn autoscaling_of(ng: &Nodegroup) -> AutoscalingSettings {
    let size = size_of(ng);
    AutoscalingSettings { enabled: size.min < size.max, size, extra: BTreeMap::new() }
}

/// The value of the frozen tag: `min=2 max=9 desired=5` (EKS tag values allow no commas).
pub(super) fn encode_frozen(size: PoolSize) -> String {
    format!("min={} max={} desired={}", size.min, size.max, size.desired)
}

/// The settings a frozen tag records; `None` when it is not one.
pub(super) fn decode_frozen(v: &str) -> Option<AutoscalingSettings> {
    let (mut min, mut max, mut desired) = (None, None, None);
    for part in v.split_whitespace() {
        let (k, n) = part.split_once('=')?;
        let slot = match k {
            "min" => &mut min,
            "max" => &mut max,
            "desired" => &mut desired,
            _ => return None,
        };
        *slot = Some(n.parse::<u32>().ok()?);
    }
    let size = PoolSize { min: min?, max: max?, desired: desired? };
    Some(AutoscalingSettings { enabled: size.min < size.max, size, extra: BTreeMap::new() })
}

/// The kubelet version of a node group: its AMI release's `X.Y.Z`, else its Kubernetes minor.
pub(super) fn kubelet_version(ng: &Nodegroup) -> String {
    let minor = ng.version().unwrap_or_default();
    match ng.release_version().and_then(kubelet_of_release) {
        Some(k) if minor_of(&k).as_deref() == Some(minor) => k,
        _ => minor.to_string(),
    }
}

pub(super) fn effect_to_k8s(e: Option<&TaintEffect>) -> String {
    match e {
        Some(TaintEffect::NoExecute) => "NoExecute",
        Some(TaintEffect::PreferNoSchedule) => "PreferNoSchedule",
        _ => "NoSchedule",
    }
    .to_string()
}

pub(super) fn effect_to_eks(e: &str) -> TaintEffect {
    match e {
        "NoExecute" => TaintEffect::NoExecute,
        "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
        _ => TaintEffect::NoSchedule,
    }
}

pub(super) fn health_message(ng: &Nodegroup) -> Option<String> {
    let issues: Vec<String> = ng
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let code = i.code().map(|c| c.as_str()).unwrap_or("Issue");
            let msg = i.message().unwrap_or("");
            let res = i.resource_ids();
            if res.is_empty() { format!("{code}: {msg}") } else { format!("{code}: {msg} ({})", res.join(", ")) }
        })
        .collect();
    if issues.is_empty() { None } else { Some(issues.join("; ")) }
}

pub(super) fn status_of(name: &str, ng: &Nodegroup) -> PoolStatus {
    let message = health_message(ng);
    let reason = |what: &str| {
        let detail = message.clone().unwrap_or_else(|| "no health issue reported".into());
        format!("{what}: {detail}")
    };
    let state = match ng.status() {
        Some(NodegroupStatus::Active) => PoolState::Ready,
        Some(NodegroupStatus::Updating) => PoolState::Updating,
        Some(NodegroupStatus::Deleting) => PoolState::Deleting,
        Some(NodegroupStatus::CreateFailed) => PoolState::Failed { reason: reason("CREATE_FAILED") },
        // A degraded group runs but cannot keep its nodes (launch failures, IAM ...): the operator must act.
        Some(NodegroupStatus::Degraded) => PoolState::Failed { reason: reason("DEGRADED") },
        Some(NodegroupStatus::DeleteFailed) => PoolState::Failed { reason: reason("DELETE_FAILED") },
        _ => PoolState::Creating,
    };
    let nodes = match ng.status() {
        Some(NodegroupStatus::Active | NodegroupStatus::Updating | NodegroupStatus::Degraded) => size_of(ng).desired,
        _ => 0,
    };
    PoolStatus { name: name.to_string(), version: kubelet_version(ng), state, nodes, message }
}

pub(super) fn join(v: &[String]) -> String {
    v.join(",")
}

pub(super) fn split(s: Option<&String>) -> Vec<String> {
    s.map(|s| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

pub(super) fn describe(ng: &Nodegroup, name: &str, zones: Vec<String>) -> PoolDescription {
    let mut extra = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            extra.insert(k.to_string(), v);
        }
    };
    put(x::SUBNETS, Some(join(ng.subnets())));
    put(x::NODE_ROLE, ng.node_role().map(str::to_string));
    put(x::AMI_TYPE, ng.ami_type().map(|a| a.as_str().to_string()));
    put(x::CAPACITY_TYPE, ng.capacity_type().map(|c| c.as_str().to_string()));
    put(x::KUBERNETES_VERSION, ng.version().map(str::to_string));
    put(x::RELEASE_VERSION, ng.release_version().map(str::to_string));
    if let Some(lt) = ng.launch_template() {
        put(x::LAUNCH_TEMPLATE_ID, lt.id().map(str::to_string));
        put(x::LAUNCH_TEMPLATE_NAME, lt.name().map(str::to_string));
        put(x::LAUNCH_TEMPLATE_VERSION, lt.version().map(str::to_string));
    } else if let Some(ra) = ng.remote_access() {
        // EKS takes remote access only without a launch template (it belongs in the template then).
        put(x::SSH_KEY, ra.ec2_ssh_key().map(str::to_string));
        put(x::SSH_SECURITY_GROUPS, Some(join(ra.source_security_groups())));
    }
    if let Some(u) = ng.update_config() {
        put(x::MAX_UNAVAILABLE, u.max_unavailable().map(|v| v.to_string()));
        put(x::MAX_UNAVAILABLE_PERCENTAGE, u.max_unavailable_percentage().map(|v| v.to_string()));
    }
    for (k, v) in ng.tags().into_iter().flatten() {
        if k != SOURCE_TAG && k != VERSION_TAG && k != FROZEN_TAG && !k.starts_with("aws:") {
            extra.insert(format!("{}{k}", x::TAG_PREFIX), v.clone());
        }
    }
    let labels: BTreeMap<String, String> =
        ng.labels().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    let taints = ng
        .taints()
        .iter()
        .map(|t| Taint {
            key: t.key().unwrap_or_default().to_string(),
            value: t.value().map(str::to_string),
            effect: effect_to_k8s(t.effect()),
        })
        .collect();
    let capacity_type = match ng.capacity_type() {
        Some(CapacityTypes::Spot) => CapacityType::Spot,
        _ => CapacityType::OnDemand,
    };
    PoolDescription {
        name: name.to_string(),
        version: kubelet_version(ng),
        instance_types: ng.instance_types().to_vec(),
        zones,
        capacity_type,
        labels,
        taints,
        size: size_of(ng),
        autoscaling: autoscaling_of(ng),
        // With a launch template the disk is the template's business.
        disk_gb: if ng.launch_template().is_some() { None } else { ng.disk_size().and_then(|d| u32::try_from(d).ok()) },
        extra,
    }
}
