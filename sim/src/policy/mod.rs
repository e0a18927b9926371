//! PodDisruptionBudget policy, shared by the Eviction API and the disruption controller: which budgets cover
//! a pod, what "healthy" means, the budget arithmetic, and the `DisruptionAllowed` condition
//! (semantics.md §2 and §3).
//!
//! - [`budget`]: expectedPods / desiredHealthy / currentHealthy / disruptionsAllowed, as the controller computes them.
//! - [`eviction`]: the eviction subresource's decision and its writes (`State::evict`).

pub mod budget;
pub mod eviction;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::store::State;
use crate::store::selector::Selector;

/// The PDB condition the controller (and the eviction handler) maintain.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
pub const SUFFICIENT_PODS: &str = "SufficientPods";
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";
/// The pod condition the eviction adds before deleting.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// `unhealthyPodEvictionPolicy` value that lets not-Ready pods go regardless of the budget.
pub const ALWAYS_ALLOW: &str = "AlwaysAllow";
/// How long an approved eviction keeps its pod out of currentHealthy (`DeletionTimeout` upstream).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);
/// After this long without a deletionTimestamp, a `DisruptionTarget=True` condition is reset.
pub const STALE_DISRUPTION_TIMEOUT: Duration = Duration::from_secs(120);
/// Above this many `status.disruptedPods` entries the eviction handler refuses (`MaxDisruptedPodSize`).
pub const MAX_DISRUPTED_PODS: usize = 2000;

/// `IsPodReady`: the pod's `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Healthy for the budget's live count: Ready and not terminating.
pub fn is_pod_healthy(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && is_pod_ready(pod)
}

pub fn pod_phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub fn is_terminal(pod: &Pod) -> bool {
    matches!(pod_phase(pod), "Succeeded" | "Failed")
}

/// The budget's selector with policy/v1 semantics: null matches nothing, `{}` matches every pod of the
/// namespace. An invalid selector is an error (the controller fails the sync, the eviction ignores the PDB).
pub fn selector_of(pdb: &PodDisruptionBudget) -> Result<Selector, String> {
    Selector::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
}

/// Does `pdb` cover `pod` (same namespace, selector matches)?
pub fn covers(pdb: &PodDisruptionBudget, pod: &Pod) -> bool {
    pdb.metadata.namespace == pod.metadata.namespace
        && selector_of(pdb).is_ok_and(|s| s.matches(pod.metadata.labels.as_ref()))
}

/// The budgets of the pod's namespace whose selector matches it (what the eviction handler consults).
pub fn pdbs_for_pod(st: &State, pod: &Pod) -> Vec<Arc<PodDisruptionBudget>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    st.pdbs.in_namespace(ns).filter(|pdb| covers(pdb, pod)).cloned().collect()
}

/// `apimeta.SetStatusCondition`: adds or replaces the condition of that type; the transition time moves only
/// when the status changes.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    ty: &str,
    status: &str,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) {
    match conditions.iter_mut().find(|c| c.type_ == ty) {
        Some(c) => {
            if c.status != status {
                c.status = status.to_string();
                c.last_transition_time = Time(now);
            }
            c.reason = reason.to_string();
            c.message = message.to_string();
            c.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: ty.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation,
            last_transition_time: Time(now),
        }),
    }
}

/// `UpdateDisruptionAllowedCondition`: True/SufficientPods when disruptions are allowed, else
/// False/InsufficientPods.
pub fn update_disruption_allowed_condition(pdb: &mut PodDisruptionBudget, now: Timestamp) {
    let status = pdb.status.get_or_insert_with(Default::default);
    let observed = status.observed_generation;
    let (st, reason) = if status.disruptions_allowed.unwrap_or(0) > 0 {
        ("True", SUFFICIENT_PODS)
    } else {
        ("False", INSUFFICIENT_PODS)
    };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    set_condition(conditions, DISRUPTION_ALLOWED, st, reason, "", observed, now);
}

/// `ConditionsAreUpToDate`: the DisruptionAllowed condition agrees with the status and the generation.
pub fn conditions_up_to_date(pdb: &PodDisruptionBudget) -> bool {
    let Some(status) = pdb.status.as_ref() else { return false };
    let Some(cond) = status.conditions.iter().flatten().find(|c| c.type_ == DISRUPTION_ALLOWED) else {
        return false;
    };
    if status.observed_generation != pdb.metadata.generation {
        return false;
    }
    if status.disruptions_allowed.unwrap_or(0) > 0 {
        cond.status == "True" && cond.reason == SUFFICIENT_PODS
    } else {
        cond.status == "False" && cond.reason == INSUFFICIENT_PODS
    }
}

/// `namespace/name` of an object, for messages and recorder keys.
pub fn ns_name(ns: Option<&str>, name: Option<&str>) -> String {
    format!("{}/{}", ns.unwrap_or(""), name.unwrap_or(""))
}
