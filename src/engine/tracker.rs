//! The pure bookkeeping of one batch drain: which pods must go, what state each is in, which may be
//! evicted now (in-flight limit, PDB budgets, self-limit for workloads without a PDB), and whether the batch
//! is finished. No I/O: the drain loop feeds it the live view and eviction results.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::model::plan::{Disposition, SkipReason};
use crate::model::policy::Allow;
use crate::model::snapshot::{PdbInfo, PodInfo};
use crate::plan::classify::classify;
use crate::ports::PodRef;

/// The PodDisruptionBudgets of each namespace, as the live view gives them.
pub type PdbsByNs = HashMap<String, Vec<Arc<PdbInfo>>>;

/// Where a pod of the batch is.
#[derive(Debug, Clone, PartialEq)]
pub enum PodState {
    /// To be evicted, not before `not_before` (elapsed time of the run's clock).
    Waiting { not_before: Duration, attempts: u32, last: Option<String> },
    /// Eviction request sent, no answer yet.
    InFlight { attempts: u32 },
    /// Accepted (or already terminating): waiting for it to disappear.
    Evicted { at: Duration },
    /// Gone (NotFound or a new UID under the same name).
    Gone,
    /// Will not be evicted: reason for the report.
    Blocked { reason: String, pdb: Option<String> },
    /// Appeared on a cordoned node after the drain started (a replacement scheduled back onto it): never
    /// evicted in this drain, never counted as moved, reported as a blocker.
    LandedBack { reason: String },
    /// Not evicted: its workload's replacements land back on cordoned nodes.
    HeldBack { reason: String },
}

#[derive(Debug, Clone)]
pub struct Tracked {
    pub pod: PodRef,
    pub node: String,
    pub workload: Option<String>,
    pub pdb: Option<String>,
    /// Ready when last observed (an unready pod may be evictable without budget).
    pub ready: bool,
    pub state: PodState,
    /// Part of the pods that must move (Evict disposition); blocked pods are tracked for the report only.
    pub movable: bool,
}

/// The decision state of one batch.
#[derive(Debug, Default)]
pub struct Tracker {
    pub pods: BTreeMap<String, Tracked>,
    /// Workloads whose pods this batch evicted: the batch waits for them to be fully Ready again.
    pub touched: BTreeSet<String>,
    /// Touched workloads seen with all their replicas Ready since their last eviction (the drain loop
    /// re-counts only the others, and all of them once more before it ends).
    pub settled: BTreeSet<String>,
    /// Evictions accepted per PDB since the cached PDB had this resourceVersion: while the cache still shows
    /// that version, its `disruptionsAllowed` does not include them.
    pending_by_pdb: HashMap<String, (String, u32)>,
    /// Set after the first observation: from then on a new pod on the drained (cordoned) nodes is a
    /// replacement that landed back, not a pod to move.
    baseline_taken: bool,
    /// Pods (keys) found landed back since the drain loop last took them with [`Tracker::take_landed`].
    landed: Vec<String>,
}

/// Why the batch cannot go on by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub pod: String,
    pub node: String,
    pub pdb: Option<String>,
    pub reason: String,
    /// A replacement that landed back on a cordoned node (or a pod held back because its workload's do):
    /// deleting it does not help, its replacement lands back again.
    pub landed_back: bool,
}

/// Why a pod that appeared on cordoned node `node` after the drain started is not moved.
pub fn landed_back_reason(pod: &PodInfo, node: &str) -> String {
    let why = if pod.tolerates_all {
        "it tolerates every taint, node.kubernetes.io/unschedulable included, so the scheduler places its replacements on cordoned nodes"
    } else {
        "it tolerates the unschedulable taint (or its controller sets nodeName), so its replacements land on cordoned nodes"
    };
    format!(
        "landed back on cordoned blue node {node} after the drain started: {why}; not counted as moved. Remove that toleration (or keep the workload off this pool), then resume"
    )
}

/// The reason given to the pods of a workload whose replacements land back on cordoned nodes.
fn held_back_reason(workload: &str) -> String {
    format!(
        "not evicted: replacements of {workload} land back on cordoned blue nodes (it tolerates the unschedulable taint), so evicting moves nothing"
    )
}

/// What a drain has moved, counted so that it survives a crash: the pods that had to move (by UID),
/// recorded before the first eviction, and the replacements that landed back on cordoned nodes (by UID).
/// A pod that had to move and is no longer on the drained nodes has moved, unless a replacement of it landed
/// back: each landed-back replacement takes one off the count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub to_move: BTreeSet<String>,
    pub landed_back: BTreeSet<String>,
}

impl Ledger {
    /// Adds pods that must move; whether any was new.
    pub fn record<'a>(&mut self, uids: impl IntoIterator<Item = &'a str>) -> bool {
        let before = self.to_move.len();
        self.to_move.extend(uids.into_iter().map(str::to_string));
        self.to_move.len() != before
    }

    /// Records a replacement that landed back; whether it was new.
    pub fn landed(&mut self, uid: &str) -> bool {
        self.landed_back.insert(uid.to_string())
    }

    /// Pods moved, given which UIDs are still on the drained nodes.
    pub fn moved(&self, present: impl Fn(&str) -> bool) -> usize {
        let gone = self.to_move.iter().filter(|u| !present(u.as_str())).count();
        gone.saturating_sub(self.landed_back.len())
    }
}

impl Tracker {
    /// Brings the tracker up to date with the pods now on the batch's nodes. New pods (a replacement that
    /// landed back on a blue node, a pod created before the cordon) are classified and added; pods that
    /// disappeared or changed UID are marked gone.
    pub fn observe(&mut self, live_pods: &[Arc<PodInfo>], pdbs_by_ns: &PdbsByNs, allow: &Allow, now: Duration) {
        // By (namespace, name): no key is formatted for the pods already tracked.
        let present: HashMap<(&str, &str), &PodInfo> =
            live_pods.iter().map(|p| ((p.namespace.as_str(), p.name.as_str()), &**p)).collect();
        let mut known: HashSet<(&str, &str)> = HashSet::with_capacity(self.pods.len());
        for t in self.pods.values_mut() {
            let id = (t.pod.namespace.as_str(), t.pod.name.as_str());
            let still = present.get(&id).filter(|p| p.uid == t.pod.uid);
            if still.is_some() {
                known.insert(id);
            }
            match (still, &t.state) {
                (None, PodState::Gone) => {}
                (None, _) => t.state = PodState::Gone,
                (Some(p), PodState::Waiting { .. } | PodState::Blocked { .. }) if p.terminating => {
                    t.state = PodState::Evicted { at: now };
                }
                _ => {}
            }
            if let Some(p) = still {
                t.ready = p.ready;
            }
        }
        let new: Vec<&Arc<PodInfo>> =
            live_pods.iter().filter(|p| !known.contains(&(p.namespace.as_str(), p.name.as_str()))).collect();
        drop(known);
        let mut held_back: BTreeSet<String> = BTreeSet::new();
        for p in new {
            let key = p.key();
            let pdbs: Vec<&PdbInfo> =
                pdbs_by_ns.get(&p.namespace).into_iter().flatten().map(|d| &**d).filter(|d| d.selects(p)).collect();
            let disposition = classify(p, &pdbs, allow);
            let (state, movable) = match &disposition {
                Disposition::Skip(SkipReason::DaemonSet | SkipReason::Mirror | SkipReason::Finished) => continue,
                // Scheduled onto a cordoned node of the drain after it started: a replacement that landed back.
                _ if self.baseline_taken => {
                    let node = p.node.clone().unwrap_or_default();
                    self.landed.push(key.clone());
                    if let Some(w) = &p.workload {
                        held_back.insert(qualify(w, &p.namespace));
                    }
                    (PodState::LandedBack { reason: landed_back_reason(p, &node) }, false)
                }
                // Already going (evicted before a restart, force-deleted, deleted by someone): wait until it is gone.
                _ if p.terminating => (PodState::Evicted { at: now }, true),
                Disposition::Evict => (PodState::Waiting { not_before: Duration::ZERO, attempts: 0, last: None }, true),
                Disposition::Blocked(r) => {
                    (PodState::Blocked { reason: r.to_string(), pdb: pdbs.first().map(|d| d.key()) }, false)
                }
                Disposition::WaitForCompletion => {
                    (PodState::Blocked { reason: "Job pod: waiting for it to complete".into(), pdb: None }, false)
                }
            };
            self.pods.insert(
                key,
                Tracked {
                    pod: PodRef { namespace: p.namespace.clone(), name: p.name.clone(), uid: p.uid.clone() },
                    node: p.node.clone().unwrap_or_default(),
                    workload: p.workload.clone().map(|w| qualify(&w, &p.namespace)),
                    pdb: pdbs.first().map(|d| d.key()),
                    ready: p.ready,
                    state,
                    movable,
                },
            );
        }
        // Job pods that finished and blocked pods that went away resolve themselves above (Gone).
        for w in held_back {
            self.hold_back(&w);
        }
        self.baseline_taken = true;
    }

    /// Stops evicting the pods of `workload` (qualified key) still waiting: its replacements land back on
    /// cordoned nodes, so evicting them would move nothing and could go on for ever.
    pub fn hold_back(&mut self, workload: &str) {
        for t in self.pods.values_mut() {
            if t.workload.as_deref() == Some(workload) && matches!(t.state, PodState::Waiting { .. }) {
                t.state = PodState::HeldBack { reason: held_back_reason(workload) };
                t.movable = false;
            }
        }
    }

    /// Keys of the pods found landed back since the last call.
    pub fn take_landed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.landed)
    }

    /// UIDs of the pods that must move (for the [`Ledger`]).
    pub fn movable_uids(&self) -> impl Iterator<Item = &str> {
        self.pods.values().filter(|t| t.movable).map(|t| t.pod.uid.as_str())
    }

    /// Pods to evict now, in a stable order, honouring the in-flight limit, the cached PDB budgets minus
    /// evictions not yet reflected, and a self-limit for workloads without a PDB (scenario 25).
    pub fn ready_to_evict(
        &self,
        now: Duration,
        in_flight_limit: usize,
        pdbs_by_ns: &PdbsByNs,
        workload_unavailable: &dyn Fn(&str) -> Option<(i32, i32)>,
    ) -> Vec<String> {
        let in_flight = self.pods.values().filter(|t| matches!(t.state, PodState::InFlight { .. })).count();
        let mut room = in_flight_limit.saturating_sub(in_flight);
        let mut budget_used: HashMap<String, i64> = HashMap::new();
        let mut workload_used: HashMap<String, i32> = HashMap::new();
        for t in self.pods.values().filter(|t| matches!(t.state, PodState::InFlight { .. })) {
            if let Some(p) = &t.pdb {
                *budget_used.entry(p.clone()).or_default() += 1;
            }
            if let Some(w) = &t.workload {
                *workload_used.entry(w.clone()).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        for (key, t) in &self.pods {
            if room == 0 {
                break;
            }
            let PodState::Waiting { not_before, .. } = &t.state else { continue };
            if *not_before > now {
                continue;
            }
            match &t.pdb {
                Some(pdb_key) => {
                    let pdb = find_pdb(pdbs_by_ns, pdb_key);
                    // An unready pod passes without budget under AlwaysAllow, or under IfHealthyBudget while the
                    // app is not disrupted (semantics §2.4): no budget is used.
                    let free = !t.ready
                        && pdb.is_some_and(|p| {
                            p.unhealthy_pod_eviction_policy.as_deref() == Some("AlwaysAllow")
                                || (p.current_healthy >= p.desired_healthy && p.desired_healthy > 0)
                        });
                    if !free {
                        let allowed = pdb.map(|p| i64::from(p.disruptions_allowed)).unwrap_or(0);
                        let pending = match (self.pending_by_pdb.get(pdb_key), pdb) {
                            (Some((rv, n)), Some(p)) if *rv == p.resource_version => i64::from(*n),
                            _ => 0,
                        };
                        let used = budget_used.get(pdb_key).copied().unwrap_or(0) + pending;
                        if allowed - used <= 0 {
                            continue;
                        }
                        *budget_used.entry(pdb_key.clone()).or_default() += 1;
                    }
                }
                None => {
                    if let Some(w) = &t.workload
                        && let Some((replicas, unavailable)) = workload_unavailable(w)
                    {
                        let limit = (replicas / 4).max(1);
                        let used = workload_used.get(w).copied().unwrap_or(0);
                        if unavailable + used >= limit {
                            continue;
                        }
                        *workload_used.entry(w.clone()).or_default() += 1;
                    }
                }
            }
            out.push(key.clone());
            room -= 1;
        }
        out
    }

    pub fn mark_in_flight(&mut self, key: &str) {
        if let Some(t) = self.pods.get_mut(key)
            && let PodState::Waiting { attempts, .. } = t.state
        {
            t.state = PodState::InFlight { attempts: attempts + 1 };
        }
    }

    /// The eviction was accepted. `pdb_rv` is the resourceVersion of the pod's PDB in the cache when the
    /// eviction was sent.
    pub fn evicted(&mut self, key: &str, now: Duration, pdb_rv: Option<&str>) {
        if let Some(t) = self.pods.get_mut(key) {
            t.state = PodState::Evicted { at: now };
            if let Some(w) = &t.workload {
                self.touched.insert(w.clone());
                self.settled.remove(w);
            }
            if let (Some(p), Some(rv)) = (&t.pdb, pdb_rv) {
                let e = self.pending_by_pdb.entry(p.clone()).or_insert_with(|| (rv.to_string(), 0));
                if e.0 != rv {
                    *e = (rv.to_string(), 0);
                }
                e.1 += 1;
            }
        }
    }

    pub fn gone(&mut self, key: &str) {
        if let Some(t) = self.pods.get_mut(key) {
            t.state = PodState::Gone;
        }
    }

    /// Try again later (429, transient error).
    pub fn retry(&mut self, key: &str, not_before: Duration, message: String) {
        if let Some(t) = self.pods.get_mut(key) {
            let attempts = match t.state {
                PodState::InFlight { attempts } | PodState::Waiting { attempts, .. } => attempts,
                _ => 0,
            };
            t.state = PodState::Waiting { not_before, attempts, last: Some(message) };
        }
    }

    pub fn block(&mut self, key: &str, reason: String) {
        if let Some(t) = self.pods.get_mut(key) {
            t.state = PodState::Blocked { reason, pdb: t.pdb.clone() };
            t.movable = false;
        }
    }

    pub fn attempts(&self, key: &str) -> u32 {
        match self.pods.get(key).map(|t| &t.state) {
            Some(PodState::InFlight { attempts } | PodState::Waiting { attempts, .. }) => *attempts,
            _ => 0,
        }
    }

    /// Every pod that must move is gone.
    pub fn all_moved(&self) -> bool {
        self.pods.values().filter(|t| t.movable).all(|t| t.state == PodState::Gone)
    }

    /// Earliest time a waiting pod may be retried.
    pub fn next_retry(&self) -> Option<Duration> {
        self.pods
            .values()
            .filter_map(|t| match &t.state {
                PodState::Waiting { not_before, .. } => Some(*not_before),
                _ => None,
            })
            .min()
    }

    /// Pods that hold the batch: blocked ones, and (at timeout) those still waiting or terminating.
    pub fn stuck(&self, include_unfinished: bool) -> Vec<Stuck> {
        self.pods
            .iter()
            .filter_map(|(key, t)| {
                let landed_back = matches!(t.state, PodState::LandedBack { .. } | PodState::HeldBack { .. });
                let reason = match &t.state {
                    PodState::Blocked { reason, .. }
                    | PodState::LandedBack { reason }
                    | PodState::HeldBack { reason } => reason.clone(),
                    PodState::Waiting { last, .. } if include_unfinished => {
                        last.clone().unwrap_or_else(|| "not evicted before the drain timeout".into())
                    }
                    PodState::InFlight { .. } if include_unfinished => "eviction request unanswered".into(),
                    PodState::Evicted { .. } if include_unfinished => {
                        "evicted but still terminating (finalizer, long grace period, or an unresponsive node)".into()
                    }
                    _ => return None,
                };
                Some(Stuck { pod: key.clone(), node: t.node.clone(), pdb: t.pdb.clone(), reason, landed_back })
            })
            .collect()
    }

    /// Nodes that still hold pods that are not gone.
    pub fn occupied_nodes(&self) -> BTreeSet<String> {
        self.pods.values().filter(|t| t.state != PodState::Gone).map(|t| t.node.clone()).collect()
    }
}

/// `Deployment/web` in namespace `shop` -> `Deployment/shop/web` (the live view's workload key).
pub fn qualify(workload: &str, namespace: &str) -> String {
    match workload.split_once('/') {
        Some((kind, name)) if !name.contains('/') => format!("{kind}/{namespace}/{name}"),
        _ => workload.to_string(),
    }
}

pub fn find_pdb<'a>(pdbs_by_ns: &'a PdbsByNs, key: &str) -> Option<&'a PdbInfo> {
    let (ns, name) = key.split_once('/')?;
    pdbs_by_ns.get(ns)?.iter().map(|p| &**p).find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(to_move: &[&str], landed_back: &[&str]) -> Ledger {
        Ledger {
            to_move: to_move.iter().map(|s| s.to_string()).collect(),
            landed_back: landed_back.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn moved_counts_pods_gone_from_the_drained_nodes_less_replacements_that_landed_back() {
        // a and b had to move; a is gone, b still there.
        assert_eq!(ledger(&["a", "b"], &[]).moved(|u| u == "b"), 1);
        // a's replacement a2 landed back on a cordoned node: a moved nowhere.
        assert_eq!(ledger(&["a", "b"], &["a2"]).moved(|u| u == "b" || u == "a2"), 0);
        // Resumed: a2, found on the batch's node, had to move too and is gone now; one pod moved in all.
        assert_eq!(ledger(&["a", "a2", "b"], &["a2"]).moved(|u| u == "b"), 1);
    }

    #[test]
    fn recording_twice_changes_nothing() {
        let mut l = Ledger::default();
        assert!(l.record(["a", "b"]));
        assert!(!l.record(["b", "a"]));
        assert!(l.landed("x"));
        assert!(!l.landed("x"));
    }
}
