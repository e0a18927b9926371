//! Placement of a scenario's pods on named nodes (`workloads[].nodes`), to reproduce a real cluster's layout.
//! While the scenario loads, a pod created for such a workload is bound to the workload's next listed node
//! as it is created (as an admission webhook setting `spec.nodeName` would), and the node's kubelet starts
//! it at once. Pods beyond the list are left to the scheduler. Binding at creation writes each pod once,
//! which is what makes loading a copy of a large cluster (`plan --rehearse`) quick.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::schema::{Workload, WorkloadKind};
use crate::api::handlers::set_pod_condition;
use crate::controllers::kubelet::start_placed;
use crate::controllers::pods::{controller_of, node_name};
use crate::store::State;

/// The nodes left for each placed workload, by `(namespace, name)`: the scenario labels every pod
/// `app=<workload name>`.
#[derive(Debug, Default)]
pub(crate) struct Placement {
    slots: HashMap<(String, String), Slot>,
}

#[derive(Debug)]
struct Slot {
    kind: WorkloadKind,
    nodes: Vec<String>,
    next: usize,
}

/// Starts placing the pods of workloads with `nodes`, after checking that those nodes exist.
pub(super) fn install(st: &mut State, workloads: &[Workload]) -> Result<(), String> {
    let mut slots = HashMap::new();
    for (i, w) in workloads.iter().enumerate().filter(|(_, w)| !w.nodes.is_empty()) {
        if let Some(n) = w.nodes.iter().find(|n| st.get::<Node>("", n).is_none()) {
            return Err(format!("workloads[{i}] ({}/{}): node \"{n}\" in nodes does not exist", w.namespace, w.name));
        }
        slots.insert((w.namespace.clone(), w.name.clone()), Slot { kind: w.kind, nodes: w.nodes.clone(), next: 0 });
    }
    st.placement = (!slots.is_empty()).then_some(Placement { slots });
    Ok(())
}

/// Stops placing: from now on the scheduler binds every pod.
pub(super) fn finish(st: &mut State) {
    st.placement = None;
}

/// Binds a pod being created to its workload's next listed node, and starts it there while the scenario
/// loads. Called by the pod's create-time defaulting; does nothing outside loading.
pub(crate) fn admit(st: &mut State, pod: &mut Pod) {
    let Some(placement) = st.placement.as_mut() else { return };
    if node_name(pod).is_some() {
        return;
    }
    let (Some(ns), Some(app)) =
        (pod.metadata.namespace.as_ref(), pod.metadata.labels.as_ref().and_then(|l| l.get("app")))
    else {
        return;
    };
    let Some(slot) = placement.slots.get_mut(&(ns.clone(), app.clone())) else { return };
    if !owned_as(pod, slot.kind) {
        return;
    }
    let Some(node) = slot.nodes.get(slot.next).cloned() else { return };
    slot.next += 1;
    pod.spec.get_or_insert_with(Default::default).node_name = Some(node.clone());
    set_pod_condition(pod, "PodScheduled", "True", None, None, st.now);
    if st.timing.instant_start
        && let Some(node) = st.get::<Node>("", &node)
    {
        start_placed(st, pod, &node);
    }
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
