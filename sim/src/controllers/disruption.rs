//! The disruption controller (`pkg/controller/disruption`, semantics.md §3): keeps every
//! PodDisruptionBudget's status (expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed,
//! disruptedPods, observedGeneration, the `DisruptionAllowed` condition) in step with its pods, fails safe
//! (no disruption allowed, `SyncFailed`) when the scale of a pod's controller cannot be known, and resets
//! stale `DisruptionTarget` pod conditions.
//!
//! Like an informer-driven controller it only re-syncs what changed: it follows the store's watch streams
//! for pods, budgets and scalable controllers, re-syncs the budgets a change can affect (all pods of a
//! namespace are listed once per pass however many of its budgets are dirty), and asks the manager to wake
//! it when a `disruptedPods` entry expires, a delayed sync is due, or a `DisruptionTarget` goes stale.
//!
//! `Timing::pdb_sync_delay` makes the controller lag: a budget whose spec changed (generation ahead of
//! observedGeneration) is synced only that long after it was first seen, which is how a test reproduces the
//! eviction API's "still being processed" answer.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

use super::Reconciler;
use crate::clock;
use crate::policy::budget::{self, Computed};
use crate::policy::{
    DISRUPTION_ALLOWED, DISRUPTION_TARGET, STALE_DISRUPTION_TIMEOUT, SYNC_FAILED, conditions_up_to_date, is_terminal,
    ns_name, selector_of, set_condition, update_disruption_allowed_condition,
};
use crate::store::kinds::key_of;
use crate::store::objects::Part;
use crate::store::selector::Selector;
use crate::store::{EventType, Key, Kind, State, Table, WatchEvent};

/// The component.
#[derive(Default)]
pub struct Disruption {
    watches: Option<Watches>,
    /// Budget -> when it must be synced again (disruptedPods expiry, delayed sync).
    rechecks: HashMap<Key, Timestamp>,
    /// Budget -> (generation, first seen with observedGeneration behind it), for the sync delay.
    behind: HashMap<Key, (Option<i64>, Timestamp)>,
    /// Pod -> when its DisruptionTarget condition becomes stale.
    stale: HashMap<Key, Timestamp>,
    /// Warning/Normal events already sent for a budget (UID, reason), not repeated while the cause lasts.
    emitted: HashSet<(String, &'static str)>,
    /// resourceVersions of our own status writes, skipped when they come back on the watch.
    own_writes: HashSet<u64>,
    event_seq: u64,
}

struct Watches {
    pods: Receiver<WatchEvent<Pod>>,
    pdbs: Receiver<WatchEvent<PodDisruptionBudget>>,
    deployments: Receiver<WatchEvent<Deployment>>,
    replicasets: Receiver<WatchEvent<ReplicaSet>>,
    statefulsets: Receiver<WatchEvent<StatefulSet>>,
}

/// What a pass must re-sync.
#[derive(Default)]
struct Dirty {
    all: bool,
    namespaces: BTreeSet<String>,
    pdbs: BTreeSet<Key>,
    /// Pods whose events must be examined for stale DisruptionTarget conditions: all of them.
    rescan_pods: bool,
}

impl Disruption {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Reconciler for Disruption {
    fn name(&self) -> &'static str {
        "disruption"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let now = st.now;
        let mut dirty = Dirty::default();
        match self.watches.as_mut() {
            None => {
                self.watches = Some(Watches {
                    pods: st.pods.subscribe(),
                    pdbs: st.pdbs.subscribe(),
                    deployments: st.deployments.subscribe(),
                    replicasets: st.replicasets.subscribe(),
                    statefulsets: st.statefulsets.subscribe(),
                });
                dirty.all = true;
                dirty.rescan_pods = true;
            }
            Some(_) => self.drain(st, &mut dirty),
        }
        if dirty.rescan_pods {
            self.stale.clear();
            let found: Vec<(Key, Timestamp)> =
                st.pods.iter().filter_map(|p| stale_due(p, now).map(|d| (key_of(p.as_ref()), d))).collect();
            self.stale.extend(found);
        }
        let due: Vec<Key> = self.rechecks.iter().filter(|(_, t)| **t <= now).map(|(k, _)| k.clone()).collect();
        for k in due {
            self.rechecks.remove(&k);
            dirty.pdbs.insert(k);
        }
        self.sync_dirty(st, &dirty);
        self.reset_stale_conditions(st);
        self.rechecks.values().chain(self.stale.values()).min().copied()
    }
}

impl Disruption {
    /// Reads what changed since the last pass from the watch streams.
    fn drain(&mut self, st: &State, dirty: &mut Dirty) {
        let Some(w) = self.watches.as_mut() else { return };
        let now = st.now;
        let stale = &mut self.stale;
        let mut selectors: HashMap<String, Vec<(Key, Selector)>> = HashMap::new();
        drain(&mut w.pods, &st.pods, dirty, |ev, dirty| {
            let key = key_of(ev.object.as_ref());
            match (ev.ty, stale_due(&ev.object, now)) {
                (EventType::Deleted, _) | (_, None) => stale.remove(&key),
                (_, Some(due)) => stale.insert(key, due),
            };
            let ns = ev.object.metadata.namespace.clone().unwrap_or_default();
            // The namespace's budget selectors, parsed once per pass.
            let budgets = selectors.entry(ns).or_insert_with_key(|ns| {
                st.pdbs
                    .in_namespace(ns)
                    .filter_map(|pdb| selector_of(pdb).ok().map(|s| (key_of(pdb.as_ref()), s)))
                    .collect()
            });
            let matches = |p: &Pod, s: &Selector| s.matches(p.metadata.labels.as_ref());
            for (key, sel) in budgets.iter() {
                if matches(&ev.object, sel) || ev.prev.as_ref().is_some_and(|p| matches(p, sel)) {
                    dirty.pdbs.insert(key.clone());
                }
            }
        });
        if dirty.all {
            dirty.rescan_pods = true;
        }
        let own = &mut self.own_writes;
        let rechecks = &mut self.rechecks;
        let behind = &mut self.behind;
        let emitted = &mut self.emitted;
        drain(&mut w.pdbs, &st.pdbs, dirty, |ev, dirty| {
            if own.remove(&ev.rv) {
                return;
            }
            let key = key_of(ev.object.as_ref());
            if ev.ty == EventType::Deleted {
                rechecks.remove(&key);
                behind.remove(&key);
                let uid = ev.object.metadata.uid.clone().unwrap_or_default();
                emitted.retain(|(u, _)| *u != uid);
            } else {
                dirty.pdbs.insert(key);
            }
        });
        drain(&mut w.deployments, &st.deployments, dirty, |ev, dirty| scale_event(ev, |d| d.spec.replicas, dirty));
        drain(&mut w.replicasets, &st.replicasets, dirty, |ev, dirty| scale_event(ev, |r| r.spec.replicas, dirty));
        drain(&mut w.statefulsets, &st.statefulsets, dirty, |ev, dirty| scale_event(ev, |s| s.spec.replicas, dirty));
    }

    fn sync_dirty(&mut self, st: &mut State, dirty: &Dirty) {
        let mut by_ns: BTreeMap<String, Vec<Arc<PodDisruptionBudget>>> = BTreeMap::new();
        if dirty.all {
            for pdb in st.pdbs.iter() {
                by_ns.entry(pdb.metadata.namespace.clone().unwrap_or_default()).or_default().push(pdb.clone());
            }
        } else {
            for ns in &dirty.namespaces {
                by_ns.entry(ns.clone()).or_default().extend(st.pdbs.in_namespace(ns).cloned());
            }
            for (ns, name) in &dirty.pdbs {
                if dirty.namespaces.contains(ns) {
                    continue;
                }
                if let Some(pdb) = st.pdbs.get(ns, name) {
                    by_ns.entry(ns.clone()).or_default().push(pdb.clone());
                }
            }
        }
        for (ns, pdbs) in by_ns {
            for pdb in pdbs {
                // An earlier sync in this pass may have written it: work on the stored version.
                let Some(pdb) = st.pdbs.get(&ns, pdb.metadata.name.as_deref().unwrap_or("")).cloned() else {
                    continue;
                };
                self.sync(st, &pdb);
            }
        }
    }

    /// `sync` + `trySync` + `failSafe` for one budget.
    fn sync(&mut self, st: &mut State, pdb: &Arc<PodDisruptionBudget>) {
        let now = st.now;
        let key = key_of(pdb.as_ref());
        self.rechecks.remove(&key);
        let generation = pdb.metadata.generation;
        let observed = pdb.status.as_ref().and_then(|s| s.observed_generation);
        // While a scenario loads, the cluster settles as if it had been running for a while: no lag.
        let delay = if st.timing.instant_start { std::time::Duration::ZERO } else { st.timing.pdb_sync_delay };
        if observed < generation && !delay.is_zero() {
            let since = match self.behind.get(&key) {
                Some((g, t)) if *g == generation => *t,
                _ => {
                    self.behind.insert(key.clone(), (generation, now));
                    now
                }
            };
            let due = clock::add(since, delay);
            if now < due {
                self.rechecks.insert(key, due);
                return;
            }
        } else {
            self.behind.remove(&key);
        }

        let selector = match selector_of(pdb) {
            Ok(s) => s,
            Err(e) => {
                self.fail_safe(st, pdb, &e);
                return;
            }
        };
        let selected: Vec<Arc<Pod>> = st.pods_matching(pdb.metadata.namespace.as_deref().unwrap_or(""), &selector);
        if selected.is_empty() {
            self.event_once(st, pdb, "Normal", "NoPods", "No matching pods found".to_string());
        } else {
            self.forget(pdb, "NoPods");
        }
        match budget::compute(st, pdb, &selected, now) {
            Err(e) => {
                let msg = format!("Failed to calculate the number of expected pods: {e}");
                self.event_once(st, pdb, "Warning", "CalculateExpectedPodCountFailed", msg);
                self.fail_safe(st, pdb, &e);
            }
            Ok(c) => {
                self.forget(pdb, "CalculateExpectedPodCountFailed");
                if c.unmanaged.is_empty() {
                    self.forget(pdb, "UnmanagedPods");
                } else {
                    let msg = format!(
                        "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                        selector_text(pdb)
                    );
                    self.event_once(st, pdb, "Warning", "UnmanagedPods", msg);
                }
                for name in &c.not_deleted {
                    if let Some(pod) = selected.iter().find(|p| p.metadata.name.as_deref() == Some(name)) {
                        let msg = format!(
                            "Pod was expected by PDB {} to be deleted but it wasn't",
                            ns_name(pdb.metadata.namespace.as_deref(), pdb.metadata.name.as_deref())
                        );
                        self.emit(st, reference(pod.as_ref()), "Warning", "NotDeleted", msg);
                    }
                }
                let pdb_key = ns_name(pdb.metadata.namespace.as_deref(), pdb.metadata.name.as_deref());
                st.recorder.pdb_observed(&pdb_key, c.current, c.desired, now);
                self.write_status(st, pdb, &c);
                if let Some(t) = c.recheck {
                    self.rechecks.insert(key, t);
                }
            }
        }
    }

    /// `updatePdbStatus`: writes only when something differs.
    fn write_status(&mut self, st: &mut State, pdb: &Arc<PodDisruptionBudget>, c: &Computed) {
        let old = pdb.status.clone().unwrap_or_default();
        let same = old.current_healthy.unwrap_or(0) == c.current
            && old.desired_healthy.unwrap_or(0) == c.desired
            && old.expected_pods.unwrap_or(0) == c.expected
            && old.disruptions_allowed.unwrap_or(0) == c.allowed
            && old.disrupted_pods.clone().unwrap_or_default() == c.disrupted
            && old.observed_generation == pdb.metadata.generation
            && conditions_up_to_date(pdb);
        if same {
            return;
        }
        let mut next = (**pdb).clone();
        let status = next.status.get_or_insert_with(Default::default);
        status.current_healthy = Some(c.current);
        status.desired_healthy = Some(c.desired);
        status.expected_pods = Some(c.expected);
        status.disruptions_allowed = Some(c.allowed);
        status.disrupted_pods = (!c.disrupted.is_empty()).then(|| c.disrupted.clone());
        status.observed_generation = pdb.metadata.generation;
        update_disruption_allowed_condition(&mut next, st.now);
        self.put_status(st, next);
    }

    /// `failSafe`: no disruption allowed, condition `SyncFailed` with the error (observedGeneration untouched).
    fn fail_safe(&mut self, st: &mut State, pdb: &Arc<PodDisruptionBudget>, err: &str) {
        tracing::debug!(pdb = ?pdb.metadata.name, err, "PodDisruptionBudget sync failed");
        let mut next = (**pdb).clone();
        let status = next.status.get_or_insert_with(Default::default);
        status.disruptions_allowed = Some(0);
        let observed = status.observed_generation;
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        set_condition(conditions, DISRUPTION_ALLOWED, "False", SYNC_FAILED, err, observed, st.now);
        if next.status != pdb.status {
            self.put_status(st, next);
        }
    }

    fn put_status(&mut self, st: &mut State, pdb: PodDisruptionBudget) {
        match st.update(pdb, Part::Status, false) {
            Ok(written) => {
                if let Some(rv) = written.metadata.resource_version.as_deref().and_then(|r| r.parse().ok()) {
                    self.own_writes.insert(rv);
                }
            }
            Err(e) => tracing::warn!(error = %e, "writing PodDisruptionBudget status"),
        }
    }

    /// `syncStalePodDisruption`: a `DisruptionTarget=True` without deletion after 2 minutes is reset to False.
    fn reset_stale_conditions(&mut self, st: &mut State) {
        let now = st.now;
        let due: Vec<Key> = self.stale.iter().filter(|(_, t)| **t <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            self.stale.remove(&key);
            let Some(pod) = st.get::<Pod>(&key.0, &key.1) else { continue };
            match stale_due(&pod, now) {
                Some(t) if t > now => {
                    self.stale.insert(key, t);
                }
                Some(_) => {
                    let mut next = (*pod).clone();
                    crate::api::handlers::set_pod_condition(&mut next, DISRUPTION_TARGET, "False", None, None, now);
                    if let Err(e) = st.update(next, Part::Status, false) {
                        tracing::warn!(error = %e, pod = ?key, "resetting a stale DisruptionTarget condition");
                    }
                }
                None => {}
            }
        }
    }

    fn event_once(
        &mut self,
        st: &mut State,
        pdb: &Arc<PodDisruptionBudget>,
        ty: &str,
        reason: &'static str,
        message: String,
    ) {
        let uid = pdb.metadata.uid.clone().unwrap_or_default();
        if self.emitted.insert((uid, reason)) {
            self.emit(st, reference(pdb.as_ref()), ty, reason, message);
        }
    }

    fn forget(&mut self, pdb: &PodDisruptionBudget, reason: &'static str) {
        let uid = pdb.metadata.uid.clone().unwrap_or_default();
        self.emitted.remove(&(uid, reason));
    }

    fn emit(&mut self, st: &mut State, involved: ObjectReference, ty: &str, reason: &str, message: String) {
        self.event_seq += 1;
        let ns = involved.namespace.clone().unwrap_or_default();
        let name = format!(
            "{}.{:x}",
            involved.name.as_deref().unwrap_or("event"),
            st.now.as_nanosecond() + i128::from(self.event_seq)
        );
        let now = Time(st.now);
        let ev = Event {
            metadata: ObjectMeta { name: Some(name), namespace: Some(ns.clone()), ..Default::default() },
            involved_object: involved,
            reason: Some(reason.to_string()),
            message: Some(message),
            type_: Some(ty.to_string()),
            source: Some(EventSource { component: Some("controllermanager".into()), host: None }),
            reporting_component: Some("controllermanager".into()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Default::default()
        };
        if let Err(e) = st.create(ev, Some(&ns), false) {
            tracing::debug!(error = %e, "recording an event");
        }
    }
}

/// Drains one watch stream; a stream that fell behind is re-subscribed and everything is re-synced.
fn drain<K: Kind>(
    rx: &mut Receiver<WatchEvent<K>>,
    table: &Table<K>,
    dirty: &mut Dirty,
    mut f: impl FnMut(&WatchEvent<K>, &mut Dirty),
) {
    loop {
        match rx.try_recv() {
            Ok(ev) => f(&ev, dirty),
            Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            Err(TryRecvError::Lagged(_)) => {
                *rx = table.subscribe();
                dirty.all = true;
                return;
            }
        }
    }
}

/// A scalable controller changed: the budgets of its namespace are re-synced when its scale, identity or
/// ownership may have changed.
fn scale_event<K: Kind>(ev: &WatchEvent<K>, replicas: impl Fn(&K) -> Option<i32>, dirty: &mut Dirty) {
    let relevant = match (&ev.ty, &ev.prev) {
        (EventType::Modified, Some(prev)) => {
            replicas(prev) != replicas(&ev.object)
                || prev.metadata().owner_references != ev.object.metadata().owner_references
                || prev.metadata().deletion_timestamp != ev.object.metadata().deletion_timestamp
        }
        _ => true,
    };
    if relevant {
        dirty.namespaces.insert(ev.object.metadata().namespace.clone().unwrap_or_default());
    }
}

/// When the pod's `DisruptionTarget=True` condition becomes stale, if it can.
fn stale_due(pod: &Pod, now: Timestamp) -> Option<Timestamp> {
    if pod.metadata.deletion_timestamp.is_some() || is_terminal(pod) {
        return None;
    }
    let cond = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == DISRUPTION_TARGET)?;
    if cond.status != "True" || cond.reason.as_deref() == Some("TerminationByKubelet") {
        return None;
    }
    let since = cond.last_transition_time.as_ref().map_or(now, |t| t.0);
    Some(clock::add(since, STALE_DISRUPTION_TIMEOUT))
}

fn reference<K: Kind>(obj: &K) -> ObjectReference {
    let m = obj.metadata();
    ObjectReference {
        api_version: Some(K::API_VERSION.to_string()),
        kind: Some(K::KIND.to_string()),
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        uid: m.uid.clone(),
        resource_version: m.resource_version.clone(),
        field_path: None,
    }
}

/// The budget's selector as `matchLabels`/`matchExpressions` text, for the UnmanagedPods event.
fn selector_text(pdb: &PodDisruptionBudget) -> String {
    let Some(sel) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else { return "nil".to_string() };
    let mut parts: Vec<String> = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(format!("{} {} ({values})", e.key, e.operator));
    }
    if parts.is_empty() { "{}".to_string() } else { parts.join(",") }
}
