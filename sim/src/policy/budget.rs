//! The disruption controller's arithmetic (`pkg/controller/disruption/disruption.go`, semantics.md §3.2-3.3):
//! expectedPods from the owning controllers' scale (or the pod count for an integer minAvailable),
//! desiredHealthy, currentHealthy with the `disruptedPods` bridge, and disruptionsAllowed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{DELETION_TIMEOUT, is_pod_ready};
use crate::clock;
use crate::store::State;

/// Everything one sync of a budget computes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Computed {
    pub expected: i32,
    pub desired: i32,
    pub current: i32,
    pub allowed: i32,
    /// The `disruptedPods` entries still in force.
    pub disrupted: BTreeMap<String, Time>,
    /// When the earliest kept `disruptedPods` entry expires (the controller re-syncs then).
    pub recheck: Option<Timestamp>,
    /// Selected pods without a controller (an `UnmanagedPods` event when the spec needs their scale).
    pub unmanaged: Vec<String>,
    /// Pods whose `disruptedPods` entry expired while they still exist (a `NotDeleted` event each).
    pub not_deleted: Vec<String>,
}

/// `GetScaledValueFromIntOrPercent(v, total, roundUp=true)`.
pub fn scaled_value(v: &IntOrString, total: i32) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let Some(num) = s.strip_suffix('%') else {
                return Err("invalid value for IntOrString: invalid type: string is not a percentage".to_string());
            };
            let pct: i64 =
                num.parse().map_err(|e| format!("invalid value for IntOrString: invalid value \"{s}\": {e}"))?;
            let scaled = (pct * i64::from(total) + 99).div_euclid(100);
            Ok(i32::try_from(scaled).unwrap_or(i32::MAX))
        }
    }
}

/// The controller reference of a pod (or any object).
pub fn controller_of(refs: Option<&Vec<OwnerReference>>) -> Option<&OwnerReference> {
    refs.into_iter().flatten().find(|r| r.controller == Some(true))
}

fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// Resolves a pod's controller to (scale owner UID, replicas) with upstream's finders, in order:
/// ReplicaSet→Deployment, bare ReplicaSet, StatefulSet, then the scale subresource.
/// `Ok(None)`: no finder matched; `Err`: the owner kind has no scale subresource.
fn find_scale(st: &State, ctrl: &OwnerReference, ns: &str) -> Result<Option<(String, i32)>, String> {
    let group = group_of(&ctrl.api_version);
    let apps_like = group == "apps" || group == "extensions";
    if apps_like
        && ctrl.kind == "ReplicaSet"
        && let Some(rs) = st.replicasets.get(ns, &ctrl.name).filter(|rs| rs.metadata.uid.as_deref() == Some(&ctrl.uid))
    {
        match controller_of(rs.metadata.owner_references.as_ref()) {
            Some(d) if d.kind == "Deployment" => {
                let dg = group_of(&d.api_version);
                if (dg == "apps" || dg == "extensions")
                    && let Some(dep) =
                        st.deployments.get(ns, &d.name).filter(|dep| dep.metadata.uid.as_deref() == Some(&d.uid))
                {
                    let uid = dep.metadata.uid.clone().unwrap_or_default();
                    return Ok(Some((uid, dep.spec.replicas.unwrap_or(1))));
                }
                // Its Deployment is gone: only the scale subresource finder (below) can resolve it.
            }
            _ => {
                let uid = rs.metadata.uid.clone().unwrap_or_default();
                return Ok(Some((uid, rs.spec.replicas.unwrap_or(1))));
            }
        }
    }
    if group == "apps"
        && ctrl.kind == "StatefulSet"
        && let Some(sts) = st.statefulsets.get(ns, &ctrl.name).filter(|s| s.metadata.uid.as_deref() == Some(&ctrl.uid))
    {
        let uid = sts.metadata.uid.clone().unwrap_or_default();
        return Ok(Some((uid, sts.spec.replicas.unwrap_or(1))));
    }
    scale_subresource(st, ctrl, ns)
}

/// The generic finder: `GET <owner>/scale`. Kinds without a scale subresource are an error naming the resource.
fn scale_subresource(st: &State, ctrl: &OwnerReference, ns: &str) -> Result<Option<(String, i32)>, String> {
    let group = group_of(&ctrl.api_version);
    let matches = |uid: Option<&String>| uid == Some(&ctrl.uid);
    let found = match (group, ctrl.kind.as_str()) {
        ("apps", "Deployment") => st
            .deployments
            .get(ns, &ctrl.name)
            .filter(|o| matches(o.metadata.uid.as_ref()))
            .map(|o| o.spec.replicas.unwrap_or(1)),
        ("apps" | "extensions", "ReplicaSet") => st
            .replicasets
            .get(ns, &ctrl.name)
            .filter(|o| matches(o.metadata.uid.as_ref()))
            .map(|o| o.spec.replicas.unwrap_or(1)),
        ("apps", "StatefulSet") => st
            .statefulsets
            .get(ns, &ctrl.name)
            .filter(|o| matches(o.metadata.uid.as_ref()))
            .map(|o| o.spec.replicas.unwrap_or(1)),
        // Served upstream with a scale subresource, not stored by the simulator: never found.
        ("", "ReplicationController") => None,
        (g, kind) => return Err(no_scale_error(g, kind, &ctrl.api_version)),
    };
    Ok(found.map(|replicas| (ctrl.uid.clone(), replicas)))
}

fn no_scale_error(group: &str, kind: &str, api_version: &str) -> String {
    let resource = match (group, kind) {
        ("apps", "DaemonSet") => "daemonsets.apps",
        ("batch", "Job") => "jobs.batch",
        ("batch", "CronJob") => "cronjobs.batch",
        ("", "Node") => "nodes",
        ("", "Pod") => "pods",
        ("", "Service") => "services",
        ("", "ConfigMap") => "configmaps",
        _ => return format!("no matches for kind \"{kind}\" in version \"{api_version}\""),
    };
    format!("{resource} does not implement the scale subresource")
}

/// `getExpectedScale`: the sum of the distinct controllers' scale; pods without a controller are listed apart.
pub fn expected_scale(st: &State, pods: &[Arc<Pod>]) -> Result<(i32, Vec<String>), String> {
    let mut seen_refs: HashSet<&str> = HashSet::new();
    let mut scale_by_owner: BTreeMap<String, i32> = BTreeMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let Some(ctrl) = controller_of(pod.metadata.owner_references.as_ref()) else {
            unmanaged.push(name.to_string());
            continue;
        };
        if !seen_refs.insert(ctrl.uid.as_str()) {
            continue;
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        match find_scale(st, ctrl, ns)? {
            Some((uid, replicas)) => {
                scale_by_owner.insert(uid, replicas);
            }
            None => return Err(format!("found no controllers for pod \"{name}\"")),
        }
    }
    Ok((scale_by_owner.values().sum(), unmanaged))
}

/// `getExpectedPodCount`: (expectedPods, desiredHealthy, unmanaged pods).
pub fn expected_pod_count(
    st: &State,
    pdb: &PodDisruptionBudget,
    pods: &[Arc<Pod>],
) -> Result<(i32, i32, Vec<String>), String> {
    let spec = pdb.spec.as_ref();
    if let Some(max_unavailable) = spec.and_then(|s| s.max_unavailable.as_ref()) {
        let (expected, unmanaged) = expected_scale(st, pods)?;
        let max = scaled_value(max_unavailable, expected)?;
        return Ok((expected, (expected - max).max(0), unmanaged));
    }
    match spec.and_then(|s| s.min_available.as_ref()) {
        Some(IntOrString::Int(min)) => Ok((i32::try_from(pods.len()).unwrap_or(i32::MAX), *min, Vec::new())),
        Some(pct @ IntOrString::String(_)) => {
            let (expected, unmanaged) = expected_scale(st, pods)?;
            Ok((expected, scaled_value(pct, expected)?, unmanaged))
        }
        None => Ok((0, 0, Vec::new())),
    }
}

/// `buildDisruptedPodMap`: the entries that still hold their pod out of currentHealthy.
fn disrupted_pod_map(
    pdb: &PodDisruptionBudget,
    pods: &[Arc<Pod>],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>, Vec<String>) {
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    let mut expired = Vec::new();
    let Some(entries) = pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref()) else {
        return (kept, recheck, expired);
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(at) = entries.get(&name) else { continue };
        let expected_deletion = clock::add(at.0, DELETION_TIMEOUT);
        // At the very instant of expiry the entry no longer holds the pod (countHealthy's `After`), so it
        // is dropped now rather than rechecked at the current instant.
        if expected_deletion <= now {
            expired.push(name);
        } else {
            recheck = Some(recheck.map_or(expected_deletion, |r| r.min(expected_deletion)));
            kept.insert(name, at.clone());
        }
    }
    (kept, recheck, expired)
}

/// `countHealthyPods`: Ready, not terminating, not held by a `disruptedPods` entry.
pub fn count_healthy(pods: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>, now: Timestamp) -> i32 {
    let held = |p: &Pod| {
        p.metadata
            .name
            .as_ref()
            .and_then(|n| disrupted.get(n))
            .is_some_and(|at| clock::add(at.0, DELETION_TIMEOUT) > now)
    };
    let n = pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none() && !held(p) && is_pod_ready(p)).count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `currentHealthy - desiredHealthy`, forced to 0 when negative or when nothing is expected.
pub fn disruptions_allowed(current: i32, desired: i32, expected: i32) -> i32 {
    let allowed = current - desired;
    if expected <= 0 || allowed <= 0 { 0 } else { allowed }
}

/// One full computation over the budget's selected pods (`pods` must be exactly those).
pub fn compute(st: &State, pdb: &PodDisruptionBudget, pods: &[Arc<Pod>], now: Timestamp) -> Result<Computed, String> {
    let (expected, desired, unmanaged) = expected_pod_count(st, pdb, pods)?;
    let (disrupted, recheck, not_deleted) = disrupted_pod_map(pdb, pods, now);
    let current = count_healthy(pods, &disrupted, now);
    Ok(Computed {
        expected,
        desired,
        current,
        allowed: disruptions_allowed(current, desired, expected),
        disrupted,
        recheck,
        unmanaged,
        not_deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        let pct = |s: &str| IntOrString::String(s.to_string());
        assert_eq!(scaled_value(&pct("30%"), 5), Ok(2));
        assert_eq!(scaled_value(&pct("50%"), 7), Ok(4));
        assert_eq!(scaled_value(&pct("10%"), 3), Ok(1));
        assert_eq!(scaled_value(&pct("100%"), 2), Ok(2));
        assert_eq!(scaled_value(&pct("0%"), 5), Ok(0));
        assert_eq!(scaled_value(&IntOrString::Int(3), 10), Ok(3));
        assert!(scaled_value(&pct("3"), 5).unwrap_err().contains("string is not a percentage"));
        assert!(scaled_value(&pct("x%"), 5).is_err());
    }

    #[test]
    fn allowed_is_never_negative_and_needs_expected_pods() {
        assert_eq!(disruptions_allowed(3, 2, 3), 1);
        assert_eq!(disruptions_allowed(1, 2, 3), 0);
        assert_eq!(disruptions_allowed(3, 0, 0), 0);
    }
}
