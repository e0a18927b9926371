//! GKE node pools <-> the trait's types: the description of blue, a pool's status, its autoscaling settings
//! (recorded exactly so restore puts them back), and the CreateNodePool body cloned from blue.

use std::collections::{BTreeMap, HashMap};

use google_cloud_container_v1::model::node_pool::Status as NpStatus;
use google_cloud_container_v1::model::node_pool_autoscaling::LocationPolicy;
use google_cloud_container_v1::model::node_taint::Effect;
use google_cloud_container_v1::model::{NodePool, NodePoolAutoscaling, NodeTaint};
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, PoolDescription, PoolSize, PoolSpec, PoolState, PoolStatus, Taint,
};

/// `PoolDescription.extra` key holding blue's node pool (output-only fields removed) as GKE JSON: the
/// template CreateNodePool clones, so every setting GKE has (service account, scopes, image type, metadata,
/// shielded instance, kubelet config, upgrade settings ...) is carried even where poolshift has no field.
pub const TEMPLATE_KEY: &str = "gke.nodePool";

// `AutoscalingSettings.extra` keys: GKE's own autoscaling fields and the pool's auto-upgrade.
pub const EXTRA_MIN: &str = "minNodeCount";
pub const EXTRA_MAX: &str = "maxNodeCount";
pub const EXTRA_TOTAL_MIN: &str = "totalMinNodeCount";
pub const EXTRA_TOTAL_MAX: &str = "totalMaxNodeCount";
pub const EXTRA_LOCATION_POLICY: &str = "locationPolicy";
pub const EXTRA_AUTOPROVISIONED: &str = "autoprovisioned";
pub const EXTRA_AUTO_UPGRADE: &str = "autoUpgrade";

/// Resource labels (GCE labels of the pool's VMs, `config.resourceLabels`) recording a frozen pool's
/// autoscaling from before the freeze, so that freezing it again returns those settings. GCE label values
/// are at most 63 of `[a-z0-9_-]`, hence three labels:
/// - `poolshift-frozen`: `e<enabled>-u<auto-upgrade>-a<autoprovisioned>[-l<location policy>]` (`e1-u1-a0-lbalanced`);
/// - `poolshift-frozen-size`: `<min>_<max>_<desired>` (whole-pool sizes);
/// - `poolshift-frozen-nodes`: `<minNodeCount>_<maxNodeCount>_<totalMinNodeCount>_<totalMaxNodeCount>`.
pub const FROZEN_LABEL: &str = "poolshift-frozen";
pub const FROZEN_SIZE_LABEL: &str = "poolshift-frozen-size";
pub const FROZEN_NODES_LABEL: &str = "poolshift-frozen-nodes";
const FROZEN_LABELS: [&str; 3] = [FROZEN_LABEL, FROZEN_SIZE_LABEL, FROZEN_NODES_LABEL];

fn zones(np: &NodePool) -> u32 {
    (np.locations.len() as u32).max(1)
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// Nodes GKE creates for the pool: `initialNodeCount` is per zone. GKE's API does not report a pool's
/// current size (its managed instance groups do; Kubernetes has the nodes).
pub fn node_count(np: &NodePool) -> u32 {
    count(np.initial_node_count) * zones(np)
}

/// The pool's autoscaling as the trait sees it; `extra` keeps GKE's exact fields for restore.
pub fn autoscaling(np: &NodePool) -> AutoscalingSettings {
    let desired = node_count(np);
    let mut extra = BTreeMap::new();
    let auto_upgrade = np.management.as_ref().is_some_and(|m| m.auto_upgrade);
    extra.insert(EXTRA_AUTO_UPGRADE.to_string(), auto_upgrade.to_string());
    let size = match np.autoscaling.as_ref().filter(|a| a.enabled) {
        Some(a) => {
            for (k, v) in [
                (EXTRA_MIN, a.min_node_count),
                (EXTRA_MAX, a.max_node_count),
                (EXTRA_TOTAL_MIN, a.total_min_node_count),
                (EXTRA_TOTAL_MAX, a.total_max_node_count),
            ] {
                if v != 0 {
                    extra.insert(k.to_string(), v.to_string());
                }
            }
            if let Some(p) = a.location_policy.name().filter(|_| a.location_policy != LocationPolicy::Unspecified) {
                extra.insert(EXTRA_LOCATION_POLICY.to_string(), p.to_string());
            }
            if a.autoprovisioned {
                extra.insert(EXTRA_AUTOPROVISIONED.to_string(), "true".to_string());
            }
            if a.total_max_node_count > 0 {
                PoolSize { min: count(a.total_min_node_count), max: count(a.total_max_node_count), desired }
            } else {
                PoolSize { min: count(a.min_node_count) * zones(np), max: count(a.max_node_count) * zones(np), desired }
            }
        }
        None => PoolSize { min: desired, max: desired, desired },
    };
    AutoscalingSettings { enabled: np.autoscaling.as_ref().is_some_and(|a| a.enabled), size, extra }
}

/// The GKE autoscaling that `prior` describes: GKE's exact recorded fields where present, else the sizes.
pub fn autoscaling_from(prior: &AutoscalingSettings) -> NodePoolAutoscaling {
    if !prior.enabled {
        return NodePoolAutoscaling::new().set_enabled(false);
    }
    let get = |k: &str| prior.extra.get(k).and_then(|v| v.parse::<i32>().ok());
    let as_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let mut a = NodePoolAutoscaling::new().set_enabled(true);
    let recorded = [EXTRA_MIN, EXTRA_MAX, EXTRA_TOTAL_MIN, EXTRA_TOTAL_MAX].iter().any(|k| get(k).is_some());
    if recorded {
        a.min_node_count = get(EXTRA_MIN).unwrap_or(0);
        a.max_node_count = get(EXTRA_MAX).unwrap_or(0);
        a.total_min_node_count = get(EXTRA_TOTAL_MIN).unwrap_or(0);
        a.total_max_node_count = get(EXTRA_TOTAL_MAX).unwrap_or(0);
    } else {
        // Settings from elsewhere than this provider: whole-pool sizes are GKE's total counts.
        a.total_min_node_count = as_i32(prior.size.min);
        a.total_max_node_count = as_i32(prior.size.max.max(prior.size.min));
    }
    if let Some(p) = prior.extra.get(EXTRA_LOCATION_POLICY) {
        a.location_policy = LocationPolicy::from(p.as_str());
    }
    a.autoprovisioned = prior.extra.get(EXTRA_AUTOPROVISIONED).is_some_and(|v| v == "true");
    a
}

pub fn prior_auto_upgrade(prior: &AutoscalingSettings) -> Option<bool> {
    prior.extra.get(EXTRA_AUTO_UPGRADE).map(|v| v == "true")
}

/// The freeze record of `prior` (settings [`autoscaling`] read) as resource labels.
pub fn frozen_labels(prior: &AutoscalingSettings) -> [(&'static str, String); 3] {
    let flag = |b: bool| if b { '1' } else { '0' };
    let extra = |k: &str| prior.extra.get(k).map(String::as_str);
    let number = |k: &str| extra(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let mut flags = format!(
        "e{}-u{}-a{}",
        flag(prior.enabled),
        flag(extra(EXTRA_AUTO_UPGRADE) == Some("true")),
        flag(extra(EXTRA_AUTOPROVISIONED) == Some("true"))
    );
    if let Some(p) = extra(EXTRA_LOCATION_POLICY) {
        flags.push_str(&format!("-l{}", p.to_ascii_lowercase()));
    }
    let s = prior.size;
    let nodes = [EXTRA_MIN, EXTRA_MAX, EXTRA_TOTAL_MIN, EXTRA_TOTAL_MAX].map(|k| number(k).to_string()).join("_");
    [
        (FROZEN_LABEL, flags),
        (FROZEN_SIZE_LABEL, format!("{}_{}_{}", s.min, s.max, s.desired)),
        (FROZEN_NODES_LABEL, nodes),
    ]
}

/// The settings a frozen pool's labels record (exactly what [`autoscaling`] read before the freeze); `None`
/// when the pool carries no (or no readable) record.
pub fn frozen_record(np: &NodePool) -> Option<AutoscalingSettings> {
    let labels = &np.config.as_ref()?.resource_labels;
    let flags = labels.get(FROZEN_LABEL)?;
    let numbers = |v: &str| -> Option<Vec<u32>> { v.split('_').map(|n| n.parse().ok()).collect() };
    let size = numbers(labels.get(FROZEN_SIZE_LABEL)?)?;
    let nodes = numbers(labels.get(FROZEN_NODES_LABEL)?)?;
    let (&[min, max, desired], &[n_min, n_max, t_min, t_max]) = (size.as_slice(), nodes.as_slice()) else {
        return None;
    };
    let mut enabled = None;
    let mut extra = BTreeMap::new();
    for part in flags.split('-') {
        let (k, v) = part.split_at_checked(1)?;
        match (k, v) {
            ("e", "0" | "1") => enabled = Some(v == "1"),
            ("u", "0" | "1") => {
                extra.insert(EXTRA_AUTO_UPGRADE.to_string(), (v == "1").to_string());
            }
            ("a", "0") => {}
            ("a", "1") => {
                extra.insert(EXTRA_AUTOPROVISIONED.to_string(), "true".to_string());
            }
            ("l", p) if !p.is_empty() => {
                extra.insert(EXTRA_LOCATION_POLICY.to_string(), p.to_ascii_uppercase());
            }
            _ => return None,
        }
    }
    for (k, n) in [(EXTRA_MIN, n_min), (EXTRA_MAX, n_max), (EXTRA_TOTAL_MIN, t_min), (EXTRA_TOTAL_MAX, t_max)] {
        if n != 0 {
            extra.insert(k.to_string(), n.to_string());
        }
    }
    Some(AutoscalingSettings { enabled: enabled?, size: PoolSize { min, max, desired }, extra })
}

/// The pool's resource labels with the freeze record of `prior` added (`Some`) or removed (`None`).
pub fn resource_labels_with(np: &NodePool, prior: Option<&AutoscalingSettings>) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = np.config.as_ref().map(|c| c.resource_labels.clone()).unwrap_or_default();
    labels.retain(|k, _| !FROZEN_LABELS.contains(&k.as_str()));
    if let Some(p) = prior {
        labels.extend(frozen_labels(p).into_iter().map(|(k, v)| (k.to_string(), v)));
    }
    labels
}

/// Whether the pool carries any label of a freeze record.
pub fn has_frozen_labels(np: &NodePool) -> bool {
    np.config.as_ref().is_some_and(|c| c.resource_labels.keys().any(|k| FROZEN_LABELS.contains(&k.as_str())))
}

fn effect_name(e: &Effect) -> String {
    match e {
        Effect::NoSchedule => "NoSchedule".into(),
        Effect::PreferNoSchedule => "PreferNoSchedule".into(),
        Effect::NoExecute => "NoExecute".into(),
        other => other.name().unwrap_or("Unspecified").to_string(),
    }
}

fn effect_of(name: &str) -> Effect {
    match name {
        "NoSchedule" | "NO_SCHEDULE" => Effect::NoSchedule,
        "PreferNoSchedule" | "PREFER_NO_SCHEDULE" => Effect::PreferNoSchedule,
        "NoExecute" | "NO_EXECUTE" => Effect::NoExecute,
        other => Effect::from(other),
    }
}

/// Blue's node pool as a clone template: output-only fields cleared, name and version left to the clone.
pub fn template(np: &NodePool) -> NodePool {
    let mut t = np.clone();
    t.name.clear();
    t.version.clear();
    t.self_link.clear();
    t.status = NpStatus::default();
    #[allow(deprecated)]
    t.status_message.clear();
    t.instance_group_urls.clear();
    t.conditions.clear();
    t.etag.clear();
    t.update_info = None;
    t.pod_ipv4_cidr_size = 0;
    if let Some(c) = t.config.as_mut() {
        c.effective_cgroup_mode = Default::default();
        // A frozen blue's record is not green's.
        c.resource_labels.retain(|k, _| !FROZEN_LABELS.contains(&k.as_str()));
    }
    if let Some(n) = t.network_config.as_mut() {
        n.pod_ipv4_range_utilization = 0.0;
    }
    t
}

pub fn describe(np: &NodePool) -> PoolDescription {
    let config = np.config.clone().unwrap_or_default();
    let capacity_type = if config.spot {
        CapacityType::Spot
    } else if config.preemptible {
        CapacityType::Preemptible
    } else {
        CapacityType::OnDemand
    };
    let autoscaling = autoscaling(np);
    let mut extra = BTreeMap::new();
    if let Ok(t) = serde_json::to_string(&template(np)) {
        extra.insert(TEMPLATE_KEY.to_string(), t);
    }
    PoolDescription {
        name: np.name.clone(),
        version: np.version.clone(),
        instance_types: Some(config.machine_type.clone()).filter(|m| !m.is_empty()).into_iter().collect(),
        zones: np.locations.clone(),
        capacity_type,
        labels: config.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        taints: config
            .taints
            .iter()
            .map(|t| Taint {
                key: t.key.clone(),
                value: Some(t.value.clone()).filter(|v| !v.is_empty()),
                effect: effect_name(&t.effect),
            })
            .collect(),
        size: autoscaling.size,
        autoscaling,
        disk_gb: u32::try_from(config.disk_size_gb).ok().filter(|d| *d > 0),
        extra,
    }
}

/// The node pool to create for `spec`: `template` (blue's pool) with the spec's name and `version`, and the
/// spec's machine type, zones, capacity type, labels, taints, disk and size (equal to blue's unless the
/// engine changed them).
pub fn green_pool(template: &NodePool, spec: &PoolSpec, version: &str) -> NodePool {
    let mut np = template.clone();
    np.name = spec.name.clone();
    np.version = version.to_string();
    if !spec.zones.is_empty() {
        np.locations = spec.zones.clone();
    }
    let per_zone = spec.size.desired.div_ceil(zones(&np));
    np.initial_node_count = i32::try_from(per_zone).unwrap_or(i32::MAX);
    let mut config = np.config.take().unwrap_or_default();
    if let Some(m) = spec.instance_types.first() {
        config.machine_type = m.clone();
    }
    config.spot = spec.capacity_type == CapacityType::Spot;
    config.preemptible = spec.capacity_type == CapacityType::Preemptible;
    config.labels = spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    config.taints = spec
        .taints
        .iter()
        .map(|t| {
            NodeTaint::new()
                .set_key(t.key.clone())
                .set_value(t.value.clone().unwrap_or_default())
                .set_effect(effect_of(&t.effect))
        })
        .collect();
    if let Some(d) = spec.disk_gb {
        config.disk_size_gb = i32::try_from(d).unwrap_or(i32::MAX);
    }
    np.config = Some(config);
    np
}

/// What GKE says about the pool's state: its conditions' messages, else the older `statusMessage`.
pub fn message(np: &NodePool) -> Option<String> {
    let conditions: Vec<&str> = np.conditions.iter().map(|c| c.message.as_str()).filter(|m| !m.is_empty()).collect();
    if !conditions.is_empty() {
        return Some(conditions.join("; "));
    }
    #[allow(deprecated)]
    Some(np.status_message.clone()).filter(|m| !m.is_empty())
}

pub fn state(np: &NodePool) -> PoolState {
    let reason = || message(np).unwrap_or_else(|| "ERROR".into());
    match np.status {
        // RUNNING_WITH_ERROR: created and partly usable (a zone may have failed); GKE's message goes with the
        // status, and the engine's own gate, enough Ready nodes in Kubernetes, decides whether to go on.
        NpStatus::Running | NpStatus::RunningWithError => PoolState::Ready,
        NpStatus::Provisioning => PoolState::Creating,
        NpStatus::Reconciling => PoolState::Updating,
        NpStatus::Stopping => PoolState::Deleting,
        NpStatus::Error => PoolState::Failed { reason: reason() },
        _ => PoolState::Creating,
    }
}

pub fn status(np: &NodePool) -> PoolStatus {
    let nodes = match np.status {
        NpStatus::Running | NpStatus::RunningWithError | NpStatus::Reconciling => node_count(np),
        _ => 0,
    };
    PoolStatus { name: np.name.clone(), version: np.version.clone(), state: state(np), nodes, message: message(np) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_container_v1::model::{NodeManagement, StatusCondition};

    fn pool(zones: usize, initial: i32) -> NodePool {
        let mut np = NodePool::new().set_name("p").set_version("1.30.8-gke.1");
        np.locations = (0..zones).map(|i| format!("z{i}")).collect();
        np.initial_node_count = initial;
        np
    }

    #[test]
    fn total_counts_are_whole_pool_sizes_and_restore_exactly() {
        let mut np = pool(3, 2);
        let mut a = NodePoolAutoscaling::new().set_enabled(true);
        a.total_min_node_count = 4;
        a.total_max_node_count = 12;
        a.location_policy = LocationPolicy::Any;
        np.autoscaling = Some(a.clone());
        np.management = Some(NodeManagement::new().set_auto_repair(true));
        let s = autoscaling(&np);
        assert_eq!(s.size, PoolSize { min: 4, max: 12, desired: 6 });
        assert_eq!(s.extra.get(EXTRA_LOCATION_POLICY).map(String::as_str), Some("ANY"));
        assert_eq!(prior_auto_upgrade(&s), Some(false));
        assert_eq!(autoscaling_from(&s), a);
    }

    #[test]
    fn settings_from_elsewhere_become_total_counts() {
        let s = AutoscalingSettings {
            enabled: true,
            size: PoolSize { min: 2, max: 9, desired: 3 },
            extra: BTreeMap::new(),
        };
        let a = autoscaling_from(&s);
        assert!(a.enabled);
        assert_eq!((a.min_node_count, a.total_min_node_count, a.total_max_node_count), (0, 2, 9));
        assert_eq!(prior_auto_upgrade(&s), None);
    }

    #[test]
    fn pool_states_and_messages() {
        let mut np = pool(1, 3);
        np.status = NpStatus::RunningWithError;
        np.conditions = vec![StatusCondition::new().set_message("europe-west1-c: ZONE_RESOURCE_POOL_EXHAUSTED")];
        let s = status(&np);
        assert_eq!((s.state, s.nodes), (PoolState::Ready, 3));
        assert_eq!(s.message.as_deref(), Some("europe-west1-c: ZONE_RESOURCE_POOL_EXHAUSTED"));
        np.status = NpStatus::Error;
        assert_eq!(state(&np), PoolState::Failed { reason: "europe-west1-c: ZONE_RESOURCE_POOL_EXHAUSTED".into() });
        np.conditions.clear();
        assert_eq!(state(&np), PoolState::Failed { reason: "ERROR".into() });
        np.status = NpStatus::Stopping;
        assert_eq!(status(&np).state, PoolState::Deleting);
        np.status = NpStatus::Provisioning;
        assert_eq!((status(&np).state, status(&np).nodes), (PoolState::Creating, 0));
        np.status = NpStatus::Reconciling;
        assert_eq!(state(&np), PoolState::Updating);
    }
}
