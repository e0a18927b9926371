//! Placement of a scenario's pods on named nodes (`workloads[].nodes`), to reproduce a real cluster's layout:
//! the workload controllers create the pods with the scheduler sitting out, and each workload's pods are
//! bound, in order, to the listed nodes. A StatefulSet creates its pods one by one (each once the previous
//! is Ready), so this alternates controller passes and binding until nothing is left to place.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::schema::{Workload, WorkloadKind};
use crate::api::handlers::set_pod_condition;
use crate::controllers::pods::controller_of;
use crate::controllers::{self, Reconciler};
use crate::store::{EventType, State};

/// Upper bound on create-then-bind rounds.
const ROUNDS: usize = 100_000;

/// Binds the pods of workloads with `nodes` to those nodes. Pods are Running and Ready when this returns.
pub(super) fn bind_placed(
    st: &mut State,
    components: &mut Vec<Box<dyn Reconciler>>,
    workloads: &[Workload],
) -> Result<(), String> {
    let placed: Vec<(usize, &Workload)> = workloads.iter().enumerate().filter(|(_, w)| !w.nodes.is_empty()).collect();
    if placed.is_empty() {
        return Ok(());
    }
    for (i, w) in &placed {
        if let Some(n) = w.nodes.iter().find(|n| st.get::<Node>("", n).is_none()) {
            return Err(format!("workloads[{i}] ({}/{}): node \"{n}\" in nodes does not exist", w.namespace, w.name));
        }
    }
    let scheduler = components.iter().position(|c| c.name() == "scheduler").map(|i| (i, components.remove(i)));
    st.timing.instant_start = true;
    let mut next: HashMap<(&str, &str), usize> = HashMap::new();
    for _ in 0..ROUNDS {
        controllers::pass(st, components);
        // Unbound pods by (namespace, app label): the scenario labels every pod app=<workload name>.
        let mut unbound: HashMap<(String, String), Vec<Arc<Pod>>> = HashMap::new();
        for p in st.pods.iter() {
            let bound = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| !n.is_empty());
            if bound || p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let app = p.metadata.labels.as_ref().and_then(|l| l.get("app"));
            if let (Some(ns), Some(app)) = (p.metadata.namespace.as_ref(), app) {
                unbound.entry((ns.clone(), app.clone())).or_default().push(p.clone());
            }
        }
        let mut progress = false;
        for (_, w) in &placed {
            let Some(mut pods) = unbound.remove(&(w.namespace.clone(), w.name.clone())) else { continue };
            pods.retain(|p| owned_as(p, w.kind));
            pods.sort_by(|a, b| {
                let name = |p: &Pod| p.metadata.name.clone().unwrap_or_default();
                (name(a).len(), name(a)).cmp(&(name(b).len(), name(b)))
            });
            let k = next.entry((w.namespace.as_str(), w.name.as_str())).or_default();
            for pod in pods {
                let Some(node) = w.nodes.get(*k) else { break };
                let mut bound = (*pod).clone();
                bound.spec.get_or_insert_with(Default::default).node_name = Some(node.clone());
                set_pod_condition(&mut bound, "PodScheduled", "True", None, None, st.now);
                st.put(bound, EventType::Modified);
                *k += 1;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    st.timing.instant_start = false;
    if let Some((i, s)) = scheduler {
        components.insert(i, s);
    }
    Ok(())
}

/// Is `pod` one the workload's own controller made (or, for `Pod`, a bare pod)?
fn owned_as(pod: &Pod, kind: WorkloadKind) -> bool {
    let owner = controller_of(&pod.metadata).map(|r| r.kind.as_str());
    match kind {
        WorkloadKind::Deployment => owner == Some("ReplicaSet"),
        WorkloadKind::StatefulSet => owner == Some("StatefulSet"),
        WorkloadKind::DaemonSet => false,
        WorkloadKind::Pod => owner.is_none(),
    }
}
