//! The eviction subresource's algorithm (`pkg/registry/core/pod/storage/eviction.go`, semantics.md §2.1),
//! run under the store lock: the fast path for pods that cannot be disrupted further, the PDB check and
//! decrement, then the `DisruptionTarget` condition and the DELETE with the caller's options.
//!
//! Everything runs under one lock, so the optimistic-concurrency retries of the real server collapse into
//! a single attempt with the same outcome: of two evictions racing for the last disruption, the second
//! sees the decremented budget and gets the 429.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::json;

use super::{
    ALWAYS_ALLOW, DISRUPTION_TARGET, MAX_DISRUPTED_PODS, is_pod_ready, is_terminal, pdbs_for_pod, pod_phase,
    update_disruption_allowed_condition,
};
use crate::api::handlers::set_pod_condition;
use crate::error::ApiError;
use crate::store::State;
use crate::store::objects::{DeleteOpts, Part};

const MULTIPLE_PDBS: &str =
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";
const WOULD_VIOLATE: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// How an accepted eviction went, for the invariant recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Pending, finished or already terminating pod: no budget consulted.
    NoBudgetNeeded,
    /// No PodDisruptionBudget covers the pod.
    NoPdb,
    /// Not-Ready pod let go by `unhealthyPodEvictionPolicy` (no decrement).
    Unhealthy,
    /// The budget was checked and decremented.
    BudgetAllowed,
}

/// 429 "still being processed" (Retry-After 10): a budget whose status trails its spec, or a pod that
/// changed under the unhealthy-pod path.
pub fn still_processing(pdb: &str) -> ApiError {
    let mut e = ApiError::new(429, "TooManyRequests", WOULD_VIOLATE).with_details(json!({
        "causes": [{"reason": "DisruptionBudget", "message": format!("The disruption budget {pdb} is still being processed by the server.")}],
        "retryAfterSeconds": 10,
    }));
    e.retry_after = Some(10);
    e
}

fn pdb_forbidden(pdb: &str, why: &str) -> ApiError {
    ApiError::forbidden(format!("poddisruptionbudget.policy \"{pdb}\" is forbidden: {why}"))
        .with_details(json!({"name": pdb, "group": "policy", "kind": "poddisruptionbudget"}))
}

fn pod_conflict(name: &str, why: String) -> ApiError {
    ApiError::conflict_msg("", "Pod", name, &why)
}

impl State {
    /// `POST pods/{name}/eviction` with the eviction's DeleteOptions (`dry_run` already merged from the query).
    pub fn evict(&mut self, ns: &str, name: &str, opts: &DeleteOpts) -> Result<Path, ApiError> {
        check_namespace(self, ns, name)?;
        let pod = self.get::<Pod>(ns, name).ok_or_else(|| ApiError::not_found("", "pods", name))?;
        let caller_rv = opts.precondition_rv.is_some();

        // Phase A: pods the budget need not protect.
        if matches!(pod_phase(&pod), "Succeeded" | "Failed" | "Pending") || pod.metadata.deletion_timestamp.is_some() {
            let mut o = opts.clone();
            if !is_terminal(&pod) && pod.metadata.deletion_timestamp.is_none() && !caller_rv {
                // Pending: guard against the pod turning Ready (and budget-relevant) meanwhile.
                o.precondition_rv = pod.metadata.resource_version.clone();
            }
            add_condition_and_delete(self, ns, name, &o)?;
            return Ok(self.evicted(&pod, Path::NoBudgetNeeded, opts.dry_run));
        }

        // Phase B: the budget.
        let pdbs = pdbs_for_pod(self, &pod);
        if pdbs.len() > 1 {
            return Err(ApiError::new(500, "", MULTIPLE_PDBS));
        }
        let Some(pdb) = pdbs.into_iter().next() else {
            add_condition_and_delete(self, ns, name, opts)?;
            return Ok(self.evicted(&pod, Path::NoPdb, opts.dry_run));
        };
        let pdb_name = pdb.metadata.name.clone().unwrap_or_default();
        let unhealthy_ok = !is_pod_ready(&pod) && {
            let always =
                pdb.spec.as_ref().and_then(|s| s.unhealthy_pod_eviction_policy.as_deref()) == Some(ALWAYS_ALLOW);
            let status = pdb.status.clone().unwrap_or_default();
            let (current, desired) = (status.current_healthy.unwrap_or(0), status.desired_healthy.unwrap_or(0));
            always || (current >= desired && desired > 0)
        };
        if unhealthy_ok {
            // No decrement; the delete is guarded by the resourceVersion we decided on.
            let mut o = opts.clone();
            o.precondition_rv = pod.metadata.resource_version.clone();
            return match add_condition_and_delete(self, ns, name, &o) {
                Ok(()) => Ok(self.evicted(&pod, Path::Unhealthy, opts.dry_run)),
                Err(e) if e.code == 409 && !caller_rv => Err(still_processing(&pdb_name)),
                Err(e) => Err(e),
            };
        }
        check_and_decrement(self, &pdb, name, opts.dry_run)?;
        // Preconditions are only checked now, after the budget was consumed (as upstream).
        add_condition_and_delete(self, ns, name, opts)?;
        Ok(self.evicted(&pod, Path::BudgetAllowed, opts.dry_run))
    }

    fn evicted(&mut self, pod: &Pod, path: Path, dry_run: bool) -> Path {
        if !dry_run {
            crate::recorder::pod_evicted(self, pod, path == Path::BudgetAllowed);
        }
        path
    }
}

/// NamespaceLifecycle admission: no new content (evictions included) in a namespace being deleted.
fn check_namespace(st: &State, ns: &str, name: &str) -> Result<(), ApiError> {
    match st.namespaces.get("", ns) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if n.metadata.deletion_timestamp.is_some() => Err(ApiError::forbidden(format!(
            "pods \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated"
        ))
        .with_details(json!({
            "name": name, "kind": "pods",
            "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}],
        }))),
        Some(_) => Ok(()),
    }
}

/// `checkAndDecrement`: refuses when the budget has no disruption to give, else takes one and records the
/// pod in `disruptedPods` (not on dry-run).
fn check_and_decrement(
    st: &mut State,
    pdb: &Arc<PodDisruptionBudget>,
    pod_name: &str,
    dry_run: bool,
) -> Result<(), ApiError> {
    let name = pdb.metadata.name.clone().unwrap_or_default();
    let status = pdb.status.clone().unwrap_or_default();
    if status.observed_generation.unwrap_or(0) < pdb.metadata.generation.unwrap_or(0) {
        return Err(still_processing(&name));
    }
    let allowed = status.disruptions_allowed.unwrap_or(0);
    if allowed < 0 {
        return Err(pdb_forbidden(&name, "pdb disruptions allowed is negative"));
    }
    if status.disrupted_pods.as_ref().map_or(0, |d| d.len()) > MAX_DISRUPTED_PODS {
        return Err(pdb_forbidden(
            &name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(ApiError::new(429, "TooManyRequests", WOULD_VIOLATE).with_details(json!({
            "causes": [{"reason": "DisruptionBudget", "message": format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                status.desired_healthy.unwrap_or(0),
                status.current_healthy.unwrap_or(0)
            )}],
        })));
    }
    let mut next = (**pdb).clone();
    let now = st.now;
    let s = next.status.get_or_insert_with(Default::default);
    s.disruptions_allowed = Some(allowed - 1);
    if allowed - 1 == 0 {
        update_disruption_allowed_condition(&mut next, now);
    }
    if dry_run {
        return Ok(());
    }
    let s = next.status.get_or_insert_with(Default::default);
    s.disrupted_pods
        .get_or_insert_with(Default::default)
        .insert(pod_name.to_string(), k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
    st.update(next, Part::Status, false)?;
    Ok(())
}

/// `addConditionAndDeletePod`: re-checks the preconditions against the live pod, marks it
/// `DisruptionTarget=True`, then deletes it (a caller's resourceVersion follows the condition write).
fn add_condition_and_delete(st: &mut State, ns: &str, name: &str, opts: &DeleteOpts) -> Result<(), ApiError> {
    let mut opts = opts.clone();
    if !opts.dry_run {
        let latest = st.get::<Pod>(ns, name).ok_or_else(|| ApiError::not_found("", "pods", name))?;
        let uid = latest.metadata.uid.clone().unwrap_or_default();
        let rv = latest.metadata.resource_version.clone().unwrap_or_default();
        if let Some(want) = opts.precondition_uid.as_deref().filter(|u| !u.is_empty())
            && want != uid
        {
            return Err(pod_conflict(
                name,
                format!(
                    "the UID in the precondition ({want}) does not match the UID in record ({uid}). The object might have been deleted and then recreated"
                ),
            ));
        }
        if let Some(want) = opts.precondition_rv.as_deref().filter(|r| !r.is_empty())
            && want != rv
        {
            return Err(pod_conflict(
                name,
                format!(
                    "the ResourceVersion in the precondition ({want}) does not match the ResourceVersion in record ({rv}). The object might have been modified"
                ),
            ));
        }
        let mut next = (*latest).clone();
        set_pod_condition(
            &mut next,
            DISRUPTION_TARGET,
            "True",
            Some("EvictionByEvictionAPI"),
            Some("Eviction API: evicting"),
            st.now,
        );
        let written = if next.status != latest.status { st.update(next, Part::Status, false)? } else { latest };
        if opts.precondition_rv.is_some() {
            opts.precondition_rv = written.metadata.resource_version.clone();
        }
    }
    st.delete::<Pod>(ns, name, &opts)?;
    Ok(())
}
