//! Pure conversions between Auto Scaling groups and poolshift's pool types.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use poolshift_provider_api::{AutoscalingSettings, PoolSize, PoolState, PoolStatus};

use super::SUSPENDED_KEY;
use crate::images::VERSION_TAG;

pub(super) fn tag<'a>(g: &'a AutoScalingGroup, key: &str) -> Option<&'a str> {
    g.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

pub(super) fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(super) fn to_u32(v: Option<i32>) -> u32 {
    v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

pub(super) fn size_of(g: &AutoScalingGroup) -> PoolSize {
    PoolSize { min: to_u32(g.min_size()), max: to_u32(g.max_size()), desired: to_u32(g.desired_capacity()) }
}

pub(super) fn suspended(g: &AutoScalingGroup) -> BTreeSet<String> {
    g.suspended_processes().iter().filter_map(|p| p.process_name().map(str::to_string)).collect()
}

pub(super) fn autoscaling_of(g: &AutoScalingGroup) -> AutoscalingSettings {
    let size = size_of(g);
    let sus = suspended(g);
    let enabled = size.min < size.max && !sus.contains("Launch") && !sus.contains("Terminate");
    let mut extra = BTreeMap::new();
    extra.insert(SUSPENDED_KEY.to_string(), sus.into_iter().collect::<Vec<_>>().join(","));
    AutoscalingSettings { enabled, size, extra }
}

pub(super) fn encode_frozen(prior: &AutoscalingSettings) -> String {
    let s = prior.size;
    format!("{},{},{};{}", s.min, s.max, s.desired, prior.extra.get(SUSPENDED_KEY).map(String::as_str).unwrap_or(""))
}

pub(super) fn decode_frozen(v: &str) -> Option<AutoscalingSettings> {
    let (sizes, procs) = v.split_once(';')?;
    let n: Vec<u32> = sizes.split(',').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    let [min, max, desired] = n[..] else { return None };
    let sus: BTreeSet<&str> = procs.split(',').filter(|p| !p.is_empty()).collect();
    let enabled = min < max && !sus.contains("Launch") && !sus.contains("Terminate");
    let mut extra = BTreeMap::new();
    extra.insert(SUSPENDED_KEY.to_string(), sus.into_iter().collect::<Vec<_>>().join(","));
    Some(AutoscalingSettings { enabled, size: PoolSize { min, max, desired }, extra })
}

pub(super) fn status_of(pool: &str, g: &AutoScalingGroup) -> PoolStatus {
    let version = tag(g, VERSION_TAG).unwrap_or_default().to_string();
    let desired = to_u32(g.desired_capacity());
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    let mut in_service = 0;
    for i in g.instances() {
        let state = i.lifecycle_state().map(|s| s.as_str()).unwrap_or("Unknown");
        *counts.entry(state).or_default() += 1;
        if i.lifecycle_state() == Some(&LifecycleState::InService) && i.health_status() != Some("Unhealthy") {
            in_service += 1;
        }
    }
    let deleting = g.status().is_some_and(|s| s.to_ascii_lowercase().contains("delete"));
    let state = if deleting {
        PoolState::Deleting
    } else if in_service >= desired {
        PoolState::Ready
    } else {
        PoolState::Creating
    };
    let message = (!counts.is_empty() || g.status().is_some()).then(|| {
        let mut parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        parts.push(format!("desired {desired}"));
        if let Some(s) = g.status() {
            parts.push(s.to_string());
        }
        parts.join(", ")
    });
    PoolStatus { name: pool.to_string(), version, state, nodes: in_service, message }
}
