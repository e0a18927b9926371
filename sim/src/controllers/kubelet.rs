//! The kubelets of all nodes: pod lifecycle timing for pods bound to an existing node whose Ready condition is
//! True (pods on other nodes make no progress, as with a dead kubelet).
//!
//! - Bound: `Pending`, sandbox up (podIP, hostIP, startTime), containers `ContainerCreating`,
//!   ContainersReady/Ready False.
//! - After `kubesim.io/start-delay` (default 2s): `Running`.
//! - After a further `kubesim.io/ready-delay` (default 3s): Ready, unless the pod never becomes ready (fault).
//! - Terminating: Ready goes False at once; the containers stop after min(grace, `kubesim.io/termination-delay`
//!   default 1s) from the deletion; then the object is removed, unless it has finalizers (it waits for them) or
//!   is stuck terminating (fault: only a DELETE with grace 0 removes it).
//!
//! While `timing.instant_start` is set (scenario loading), bound pods become Running and Ready at once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use foldhash::{HashMap, HashSet};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP,
    Node, Pod, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Reconciler;
use super::changes::{Changes, Gate, due, earliest};
use super::pods::{annotation, fnv64, is_finished, is_ready, node_name, node_ready, phase, uid};
use super::quantity::parse_duration;
use crate::api::handlers::set_condition;
use crate::clock::add;
use crate::store::kinds::key_of;
use crate::store::{EventType, State};

pub const START_DELAY: &str = "kubesim.io/start-delay";
pub const READY_DELAY: &str = "kubesim.io/ready-delay";
pub const TERMINATION_DELAY: &str = "kubesim.io/termination-delay";

const DEFAULT_START: Duration = Duration::from_secs(2);
const DEFAULT_READY: Duration = Duration::from_secs(3);
const DEFAULT_TERMINATION: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Kubelet {
    gate: Gate,
    /// When which pod (namespace, name) needs another look.
    timers: BTreeSet<(Timestamp, String, String)>,
    /// The nodes whose Ready condition is True, as last seen: a node's change matters to its pods only
    /// when it changes this (a cordon, a label, a taint does not).
    live: HashMap<String, NodeView>,
    /// resourceVersions of the kubelet's own status writes: their events need no second look (what comes
    /// next for that pod is on a timer).
    own: HashSet<u64>,
}

impl Kubelet {
    pub fn new() -> Self {
        Self::default()
    }
}

fn delay(pod: &Pod, key: &str, default: Duration) -> Duration {
    annotation(&pod.metadata, key).and_then(parse_duration).unwrap_or(default)
}

/// What the kubelet knows of a Ready node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeView {
    host_ip: Option<String>,
}

/// The view of `node` when its Ready condition is True.
fn node_view(node: &Node) -> Option<NodeView> {
    let host_ip = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone());
    node_ready(node).then_some(NodeView { host_ip })
}

/// The state the kubelet drives a pod to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Sandbox created, containers being created.
    Starting,
    Running {
        ready: bool,
    },
    /// Deleted: Ready False, containers still running (or stuck).
    Stopping,
    /// Containers exited; the object waits for its finalizers.
    Stopped,
}

impl Reconciler for Kubelet {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let now = st.now;
        let seen = self.gate.seen();
        let pods = Changes::since(&st.pods, seen);
        let nodes = Changes::since(&st.nodes, seen);
        let timers_due = self.timers.first().is_some_and(|(t, ..)| due(now, *t));
        if !self.gate.open(st, pods.any() || nodes.any() || timers_due) {
            return self.timers.first().map(|t| t.0);
        }
        // A history gap: look at every pod. Otherwise the pods that changed, those whose timer came, and
        // those of nodes that became Ready, stopped being Ready or went.
        let full = pods.is_unknown() || nodes.is_unknown();
        let work: Vec<Arc<Pod>> = if full {
            self.timers.clear();
            self.own.clear();
            self.live = st.nodes.iter().filter_map(|n| Some((n.metadata.name.clone()?, node_view(n)?))).collect();
            st.pods.iter().cloned().collect()
        } else {
            let mut keys: BTreeSet<(String, String)> = BTreeSet::new();
            for e in pods.events() {
                if e.ty == EventType::Deleted {
                    st.timing.pods.remove(uid(&e.object.metadata));
                } else if !self.own.remove(&e.rv) {
                    keys.insert(key_of(e.object.as_ref()));
                }
            }
            for e in nodes.events() {
                let Some(name) = e.object.metadata.name.as_deref() else { continue };
                let view = if e.ty == EventType::Deleted { None } else { node_view(&e.object) };
                if self.live.get(name) == view.as_ref() {
                    continue;
                }
                match view {
                    Some(v) => self.live.insert(name.to_string(), v),
                    None => self.live.remove(name),
                };
                keys.extend(st.pods_on_node(name).map(|p| key_of(p.as_ref())));
            }
            while self.timers.first().is_some_and(|(t, ..)| due(now, *t)) {
                if let Some((_, ns, name)) = self.timers.pop_first() {
                    keys.insert((ns, name));
                }
            }
            keys.iter().filter_map(|(ns, n)| st.pods.get(ns, n).cloned()).collect()
        };
        let mut on_live_nodes = 0;
        for pod in &work {
            let Some(view) = node_name(pod).and_then(|n| self.live.get(n)).cloned() else { continue };
            on_live_nodes += 1;
            // Steady state: running, ready and not deleted; nothing to do.
            if pod.metadata.deletion_timestamp.is_none() && phase(pod) == "Running" && is_ready(pod) {
                continue;
            }
            if let Some(t) = self.sync_pod(st, pod, &view) {
                let (ns, name) = key_of(pod.as_ref());
                self.timers.insert((t, ns, name));
            }
        }
        // Forget pods that are gone or no longer on a live kubelet.
        if full && st.timing.pods.len() > on_live_nodes {
            let live: HashSet<&str> = work
                .iter()
                .filter(|p| node_name(p).is_some_and(|n| self.live.contains_key(n)))
                .map(|p| uid(&p.metadata))
                .collect();
            st.timing.pods.retain(|u, _| live.contains(u.as_str()));
        }
        let wrote = self.gate.close(st, None);
        earliest(wrote, self.timers.first().map(|t| t.0))
    }
}

impl Kubelet {
    /// Moves one pod along; returns when it next needs attention.
    fn sync_pod(&mut self, st: &mut State, pod: &Arc<Pod>, node: &NodeView) -> Option<Timestamp> {
        let now = st.now;
        let pod_uid = uid(&pod.metadata).to_string();
        let times = st.timing.pods.entry(pod_uid.clone()).or_default();
        let bound_at = *times.bound_at.get_or_insert(now);
        if pod.metadata.deletion_timestamp.is_some() {
            return self.sync_terminating(st, pod, node);
        }
        if is_finished(pod) {
            return None;
        }
        let never_ready = st.faults.pod_never_ready(pod);
        let instant = st.timing.instant_start;
        let times = st.timing.pods.entry(pod_uid).or_default();
        let (stage, timer) = if phase(pod) == "Running" {
            let running_at = *times.running_at.get_or_insert_with(|| started_at(pod).unwrap_or(now));
            let ready_at = add(running_at, delay(pod, READY_DELAY, DEFAULT_READY));
            if is_ready(pod) || instant || (!never_ready && due(now, ready_at)) {
                (Stage::Running { ready: !never_ready || is_ready(pod) }, None)
            } else {
                (Stage::Running { ready: false }, (!never_ready).then_some(ready_at))
            }
        } else {
            let start_at = add(bound_at, delay(pod, START_DELAY, DEFAULT_START));
            if instant || due(now, start_at) {
                times.running_at = Some(now);
                let ready_at = add(now, delay(pod, READY_DELAY, DEFAULT_READY));
                if !never_ready && (instant || due(now, ready_at)) {
                    (Stage::Running { ready: true }, None)
                } else {
                    (Stage::Running { ready: false }, (!never_ready).then_some(ready_at))
                }
            } else {
                (Stage::Starting, Some(start_at))
            }
        };
        if stage == (Stage::Running { ready: true }) {
            let times = st.timing.pods.entry(uid(&pod.metadata).to_string()).or_default();
            times.ready_at.get_or_insert(now);
        }
        self.write(st, pod, node, stage, bound_at);
        timer
    }

    fn sync_terminating(&mut self, st: &mut State, pod: &Arc<Pod>, node: &NodeView) -> Option<Timestamp> {
        let now = st.now;
        let deadline = pod.metadata.deletion_timestamp.as_ref().map_or(now, |t| t.0);
        let grace = Duration::from_secs(pod.metadata.deletion_grace_period_seconds.unwrap_or(0).max(0) as u64);
        let started =
            deadline.checked_sub(jiff::SignedDuration::try_from(grace).unwrap_or_default()).unwrap_or(deadline);
        let stop_at = add(started, grace.min(delay(pod, TERMINATION_DELAY, DEFAULT_TERMINATION)));
        let bound_at = st.timing.pods.get(uid(&pod.metadata)).and_then(|t| t.bound_at).unwrap_or(now);
        if !due(now, stop_at) {
            self.write(st, pod, node, Stage::Stopping, bound_at);
            return Some(stop_at);
        }
        if st.faults.pod_stuck_terminating(pod) {
            self.write(st, pod, node, Stage::Stopping, bound_at);
            return None;
        }
        if pod.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
            self.write(st, pod, node, Stage::Stopped, bound_at);
            return None;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        st.remove::<Pod>(&ns, &name);
        st.timing.pods.remove(uid(&pod.metadata));
        None
    }

    /// Renders the status for `stage` and writes it when it differs.
    fn write(&mut self, st: &mut State, pod: &Pod, node: &NodeView, stage: Stage, bound_at: Timestamp) {
        let mut status = pod.status.clone().unwrap_or_default();
        render(pod, &mut status, node, stage, bound_at, st.now, &mut st.timing.pod_ips);
        // The pod is copied only when its status changes (most looks change nothing).
        if pod.status.as_ref() != Some(&status) {
            let next = Pod { metadata: pod.metadata.clone(), spec: pod.spec.clone(), status: Some(status) };
            st.put(next, EventType::Modified);
            self.own.insert(st.resource_version());
        }
    }
}

/// A pod bound to `node` while the scenario loads (`timing.instant_start`), started at once as the kubelet
/// would: Running, and Ready unless a fault says it never is. A node that is not Ready starts nothing.
pub(crate) fn start_placed(st: &mut State, pod: &mut Pod, node: &Node) {
    let Some(view) = node_view(node) else { return };
    let now = st.now;
    let ready = !st.faults.pod_never_ready(pod);
    let times = st.timing.pods.entry(uid(&pod.metadata).to_string()).or_default();
    times.bound_at = Some(now);
    times.running_at = Some(now);
    if ready {
        times.ready_at = Some(now);
    }
    let mut status = pod.status.take().unwrap_or_default();
    render(pod, &mut status, &view, Stage::Running { ready }, now, now, &mut st.timing.pod_ips);
    pod.status = Some(status);
}

/// Renders into `status` (a copy of the pod's) the status of `stage`: sandbox, IPs, container statuses,
/// phase and conditions. `ips` counts the pod IPs handed out so far.
fn render(
    pod: &Pod,
    status: &mut PodStatus,
    node: &NodeView,
    stage: Stage,
    bound_at: Timestamp,
    now: Timestamp,
    ips: &mut u32,
) {
    let no_spec = k8s_openapi::api::core::v1::PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&no_spec);
    let pod_uid = uid(&pod.metadata).to_string();
    if status.pod_ip.is_none() {
        let ip = if spec.host_network == Some(true) { node.host_ip.clone() } else { Some(next_ip(ips)) };
        status.pod_ips = ip.clone().map(|ip| vec![PodIP { ip }]);
        status.pod_ip = ip;
    }
    if status.host_ip.is_none() {
        status.host_ip = node.host_ip.clone();
        status.host_ips = node.host_ip.clone().map(|ip| vec![HostIP { ip }]);
    }
    status.start_time.get_or_insert(Time(bound_at));
    let previous: Vec<ContainerStatus> = status.container_statuses.take().unwrap_or_default();
    let statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            let prev = previous.iter().find(|p| p.name == c.name);
            let started_at = prev
                .and_then(|p| p.state.as_ref())
                .and_then(|s| s.running.as_ref().and_then(|r| r.started_at.clone()))
                .or_else(|| {
                    prev.and_then(|p| p.state.as_ref())
                        .and_then(|s| s.terminated.as_ref().and_then(|t| t.started_at.clone()))
                });
            let image = c.image.clone().unwrap_or_default();
            let id = format!("containerd://{}", hex_id(&format!("{pod_uid}/{}", c.name)));
            let (state, ready, started) = match stage {
                Stage::Starting => (waiting(), false, false),
                Stage::Running { ready } => (
                    ContainerState {
                        running: Some(ContainerStateRunning { started_at: started_at.or(Some(Time(now))) }),
                        ..Default::default()
                    },
                    ready,
                    true,
                ),
                Stage::Stopping => match prev.and_then(|p| p.state.clone()) {
                    Some(s) => (s, false, prev.and_then(|p| p.started).unwrap_or(false)),
                    None => (waiting(), false, false),
                },
                Stage::Stopped => {
                    let finished = prev
                        .and_then(|p| p.state.as_ref())
                        .and_then(|s| s.terminated.as_ref())
                        .and_then(|t| t.finished_at.clone())
                        .unwrap_or(Time(now));
                    (
                        ContainerState {
                            terminated: Some(ContainerStateTerminated {
                                exit_code: 0,
                                reason: Some("Completed".into()),
                                started_at,
                                finished_at: Some(finished),
                                container_id: Some(id.clone()),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        false,
                        false,
                    )
                }
            };
            ContainerStatus {
                name: c.name.clone(),
                image: image.clone(),
                image_id: format!("{image}@sha256:{}", hex_id(&image)),
                container_id: (stage != Stage::Starting).then(|| id.clone()),
                ready,
                started: Some(started),
                restart_count: prev.map_or(0, |p| p.restart_count),
                state: Some(state),
                ..Default::default()
            }
        })
        .collect();
    status.container_statuses = Some(statuses);
    let ready = stage == (Stage::Running { ready: true });
    match stage {
        Stage::Starting => status.phase = Some("Pending".into()),
        Stage::Running { .. } => status.phase = Some("Running".into()),
        // The phase a deleted pod had is kept while it goes.
        Stage::Stopping | Stage::Stopped => {}
    }
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    let unready = format!("containers with unready status: [{}]", names.join(" "));
    let has_scheduled = status.conditions.as_ref().is_some_and(|c| c.iter().any(|c| c.type_ == "PodScheduled"));
    let sandbox = if stage == Stage::Stopped { "False" } else { "True" };
    set_condition(status, "PodReadyToStartContainers", sandbox, None, None, now);
    set_condition(status, "Initialized", "True", None, None, now);
    if ready {
        set_condition(status, "Ready", "True", None, None, now);
        set_condition(status, "ContainersReady", "True", None, None, now);
    } else {
        set_condition(status, "Ready", "False", Some("ContainersNotReady"), Some(&unready), now);
        set_condition(status, "ContainersReady", "False", Some("ContainersNotReady"), Some(&unready), now);
    }
    if !has_scheduled {
        set_condition(status, "PodScheduled", "True", None, None, now);
    }
}

fn next_ip(ips: &mut u32) -> String {
    *ips += 1;
    let n = *ips;
    format!("10.{}.{}.{}", 64 + ((n >> 16) & 63), (n >> 8) & 255, n & 255)
}

fn waiting() -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some("ContainerCreating".into()), message: None }),
        ..Default::default()
    }
}

/// When the containers started, from the status (a pod the kubelet has not seen start).
fn started_at(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref().map(|t| t.0))
        .or_else(|| status.start_time.as_ref().map(|t| t.0))
}

/// A 64-hex-digit identifier derived from `seed` (container IDs, image digests): FNV-1a of `seed` followed
/// by one byte 0..4, four times.
fn hex_id(seed: &str) -> String {
    use std::fmt::Write;
    let base = fnv64(seed.as_bytes());
    let mut out = String::with_capacity(64);
    for i in 0..4u64 {
        let _ = write!(out, "{:016x}", (base ^ i).wrapping_mul(0x0000_0100_0000_01b3));
    }
    out
}
