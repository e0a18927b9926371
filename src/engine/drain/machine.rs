//! The decisions of one drain, as a state machine with no I/O: given the live view (an in-memory cache) and
//! the time, [`Drain::step`] returns what to do now (evict these pods, keep the ledger, renew the lease and
//! read requests, report, finish); [`Drain::answered`] takes an eviction's answer. The executor in
//! [`super`] performs the commands through the ports and feeds the results back.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use super::super::tracker::{Ledger, PdbsByNs, PodState, Stuck, Tracked, Tracker, find_pdb, landed_back_reason};
use crate::model::identity::{PodKey, Subject, WorkloadKey};
use crate::model::policy::Policy;
use crate::model::snapshot::PodInfo;
use crate::ports::report::Event;
use crate::ports::{ClusterError, EvictOutcome, LiveView, PodRef, Replicas};

/// A replacement Pending as unschedulable for this long stops the batch (instead of burning the timeout).
pub const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub enum DrainEnd {
    /// Every pod that had to move is gone and its workload is Ready again.
    Done,
    /// A pause (or rollback/abort) request arrived: in-flight evictions finished, no new one was started.
    Interrupted,
    /// Pods that cannot move now, with why. `timed_out` when the drain timeout expired.
    Stuck { stuck: Vec<Stuck>, timed_out: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrainResult {
    pub end: DrainEnd,
    /// Pods the drain moved, earlier passes of the same batch included (see [`Ledger`]).
    pub moved: usize,
    pub evicted: usize,
}

/// What the executor does for the drain.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Tell the operator (and the test hooks: a `PodEvicted` is a step point).
    Report(Event),
    /// Write the ledger into the batch's checkpoint entry and save it.
    KeepLedger(Ledger),
    /// Renew the lease and read the checkpoint's requests, then call [`Drain::housekept`] and step again.
    Housekeep,
    /// Send this eviction (the answer goes to [`Drain::answered`] with the pod's key).
    Evict(PodRef),
    /// The drain is over.
    Finish(DrainResult),
}

/// What a drain works on.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The nodes to empty (cordoned).
    pub nodes: Vec<String>,
    /// The other cordoned nodes of the pool being drained: a workload pod that appears on one after the
    /// drain started is a replacement that landed back.
    pub others: Vec<String>,
}

/// The state of one drain.
#[derive(Debug)]
pub struct Drain {
    scope: Scope,
    policy: Policy,
    /// How often the lease is renewed and requests are read.
    tick: Duration,
    deadline: Duration,
    tracker: Tracker,
    ledger: Ledger,
    first: bool,
    baseline_elsewhere: HashSet<String>,
    landed_elsewhere: BTreeMap<String, Stuck>,
    limit: usize,
    in_flight: usize,
    dispatched_rv: HashMap<PodKey, String>,
    reported: HashMap<PodKey, String>,
    unschedulable_since: HashMap<PodKey, Duration>,
    evicted: usize,
    last_poll: Duration,
    stopping: bool,
    finished: bool,
}

impl Drain {
    /// A drain of `scope` starting at `now` under `policy`; `ledger` is what an earlier pass of the same batch
    /// recorded (empty for a new batch).
    pub fn new(scope: Scope, policy: &Policy, tick: Duration, ledger: Ledger, now: Duration) -> Self {
        Self {
            scope,
            deadline: now + policy.drain_timeout,
            limit: policy.max_in_flight.max(1),
            policy: policy.clone(),
            tick,
            tracker: Tracker::default(),
            ledger,
            first: true,
            baseline_elsewhere: HashSet::new(),
            landed_elsewhere: BTreeMap::new(),
            in_flight: 0,
            dispatched_rv: HashMap::new(),
            reported: HashMap::new(),
            unschedulable_since: HashMap::new(),
            evicted: 0,
            last_poll: now,
            stopping: false,
            finished: false,
        }
    }

    /// Evictions sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The current in-flight limit (halved on throttling, grown back on success).
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// After a [`Command::Housekeep`]: whether a pause, rollback, abort or Ctrl-C asks the drain to stop (no
    /// new eviction; it finishes once the in-flight ones are answered).
    pub fn housekept(&mut self, stop: bool) {
        self.stopping |= stop;
    }

    /// What to do now. Called after every change: an answer, a change of the live view, a timer.
    pub fn step(&mut self, live: &dyn LiveView, now: Duration) -> Vec<Command> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        // A pass repeats (with the same view) when it learnt something that changes its own conclusion.
        loop {
            match self.pass(live, now, &mut out) {
                Pass::Again => continue,
                Pass::Over => return out,
            }
        }
    }

    fn pass(&mut self, live: &dyn LiveView, now: Duration, out: &mut Vec<Command>) -> Pass {
        let pods: Vec<Arc<PodInfo>> = self.scope.nodes.iter().flat_map(|n| live.pods_on(n)).collect();
        let namespaces: BTreeSet<&str> = pods.iter().map(|p| p.namespace.as_str()).collect();
        let pdbs_by_ns: PdbsByNs = namespaces.iter().map(|ns| (ns.to_string(), live.pdbs(ns))).collect();
        self.tracker.observe(&pods, &pdbs_by_ns, &self.policy.allow, now);
        let mut ledger_changed = false;
        if self.first {
            // Before the first eviction: what must move is recorded (with the batch's entry, which may be
            // new: Draining, started), and what the other cordoned nodes hold now is what landing back is
            // measured against.
            self.first = false;
            self.ledger.record(self.tracker.movable_uids());
            ledger_changed = true;
            self.baseline_elsewhere =
                self.scope.others.iter().flat_map(|n| live.pods_on(n)).map(|p| p.uid.clone()).collect();
        }
        for key in self.tracker.take_landed() {
            if let Some(t) = self.tracker.pods.get(&key) {
                ledger_changed |= self.ledger.landed(&t.pod.uid);
                out.push(Command::Report(Event::Note { message: format!("{key}: {}", landed_reason(t)) }));
            }
        }
        if ledger_changed {
            out.push(Command::KeepLedger(self.ledger.clone()));
        }
        for (key, t) in &self.tracker.pods {
            if t.state == PodState::Gone && t.movable && self.reported.get(key).map(String::as_str) != Some("moved") {
                self.reported.insert(key.clone(), "moved".into());
                out.push(Command::Report(Event::PodMoved { pod: key.to_string() }));
            }
        }

        if self.stopping && self.in_flight == 0 {
            return self.finish(out, DrainEnd::Interrupted, &pods);
        }

        // Readiness gate and unschedulable replacements.
        let mut unsettled: Vec<WorkloadKey> = Vec::new();
        let mut unschedulable = Vec::new();
        let mut still_unschedulable: HashMap<PodKey, Duration> = HashMap::new();
        let recount: Vec<WorkloadKey> = self.tracker.touched.difference(&self.tracker.settled).cloned().collect();
        for w in recount {
            let Some(replicas) = short_of_replicas(live, &w) else {
                self.tracker.settled.insert(w);
                continue;
            };
            unsettled.push(w);
            for (pod, msg) in replicas.unschedulable {
                let since = self.unschedulable_since.get(&pod).copied().unwrap_or(now);
                if now.saturating_sub(since) >= UNSCHEDULABLE_GRACE {
                    unschedulable.push(Stuck {
                        pod: Subject::Pod(pod.clone()),
                        node: String::new(),
                        pdb: None,
                        reason: format!("replacement cannot be scheduled: {msg}"),
                        landed_back: false,
                    });
                }
                still_unschedulable.insert(pod, since);
            }
        }
        self.unschedulable_since = still_unschedulable;
        if !unschedulable.is_empty() && self.in_flight == 0 {
            let mut stuck = unschedulable;
            stuck.extend(self.tracker.stuck(true));
            stuck.extend(self.landed_elsewhere.values().cloned());
            return self.finish(out, DrainEnd::Stuck { stuck, timed_out: false }, &pods);
        }
        if self.tracker.all_moved() && self.in_flight == 0 && unsettled.is_empty() {
            // Before ending, every touched workload once more: one settled earlier may have lost a pod.
            let lost: Vec<WorkloadKey> =
                self.tracker.touched.iter().filter(|w| short_of_replicas(live, w).is_some()).cloned().collect();
            if !lost.is_empty() {
                for w in &lost {
                    self.tracker.settled.remove(w);
                }
                return Pass::Again;
            }
            // And the other cordoned nodes once more: a replacement may have landed back there.
            if self.scan_elsewhere(live, out) {
                return Pass::Again;
            }
            let mut blocked = self.tracker.stuck(false);
            blocked.extend(self.landed_elsewhere.values().cloned());
            let end =
                if blocked.is_empty() { DrainEnd::Done } else { DrainEnd::Stuck { stuck: blocked, timed_out: false } };
            return self.finish(out, end, &pods);
        }
        if now >= self.deadline && self.in_flight == 0 {
            let mut stuck = self.tracker.stuck(true);
            for w in &unsettled {
                stuck.push(Stuck {
                    pod: Subject::Workload(w.clone()),
                    node: String::new(),
                    pdb: None,
                    reason: "replacements not Ready before the drain timeout".into(),
                    landed_back: false,
                });
            }
            stuck.extend(self.landed_elsewhere.values().cloned());
            return self.finish(out, DrainEnd::Stuck { stuck, timed_out: true }, &pods);
        }

        if !self.stopping && now.saturating_sub(self.last_poll) >= self.tick {
            self.last_poll = now;
            self.scan_elsewhere(live, out);
            out.push(Command::Housekeep);
            // The executor answers with `housekept`, then steps again: no eviction before it knows whether
            // to stop.
            return Pass::Over;
        }

        if !self.stopping && now < self.deadline {
            let unavailable = |w: &WorkloadKey| {
                let scale = live.scale(w)?;
                Some((scale, (scale - live.replicas(w).ready).max(0)))
            };
            for key in self.tracker.ready_to_evict(now, self.limit, &pdbs_by_ns, &unavailable) {
                let Some(t) = self.tracker.pods.get(&key) else { continue };
                if let Some(rv) =
                    t.pdb.as_ref().and_then(|p| find_pdb(&pdbs_by_ns, p)).map(|p| p.resource_version.clone())
                {
                    self.dispatched_rv.insert(key.clone(), rv);
                }
                let pod = t.pod.clone();
                self.tracker.mark_in_flight(&key);
                self.in_flight += 1;
                out.push(Command::Evict(pod));
            }
        }
        Pass::Over
    }

    /// When the next pass is due if nothing else happens (an answer or a change of the live view wakes the
    /// executor earlier).
    pub fn wake_at(&self, now: Duration) -> Duration {
        let mut wake = self.deadline.max(now + Duration::from_millis(1));
        if let Some(r) = self.tracker.next_retry().filter(|r| *r > now) {
            wake = wake.min(r);
        }
        wake = wake.min(self.last_poll + self.tick);
        if let Some(s) = self.unschedulable_since.values().min() {
            wake = wake.min((*s + UNSCHEDULABLE_GRACE).max(now + Duration::from_millis(1)));
        }
        wake.max(now + Duration::from_millis(1))
    }

    /// Takes the answer to the eviction of `key`.
    pub fn answered(&mut self, key: &PodKey, res: Result<EvictOutcome, ClusterError>, now: Duration) -> Vec<Command> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let mut out = Vec::new();
        let tracker = &mut self.tracker;
        let attempts = tracker.attempts(key);
        let node = tracker.pods.get(key).map(|t| t.node.clone()).unwrap_or_default();
        let pdb = tracker.pods.get(key).and_then(|t| t.pdb.clone());
        match res {
            Ok(EvictOutcome::Evicted) => {
                let rv = self.dispatched_rv.remove(key);
                tracker.evicted(key, now, rv.as_deref());
                self.evicted += 1;
                self.limit = (self.limit + 1).min(self.policy.max_in_flight.max(1));
                out.push(Command::Report(Event::PodEvicted { pod: key.to_string(), node }));
            }
            Ok(EvictOutcome::Gone) => tracker.gone(key),
            Ok(EvictOutcome::NamespaceTerminating) => tracker.evicted(key, now, None),
            Ok(EvictOutcome::Budget { message, retry_after }) => {
                let wait = retry_after.unwrap_or_default().max(backoff(attempts.min(4)));
                if self.reported.get(key) != Some(&message) {
                    self.reported.insert(key.clone(), message.clone());
                    let pdb = pdb.map(|p| p.to_string());
                    out.push(Command::Report(Event::Waiting { pod: key.to_string(), pdb, message: message.clone() }));
                }
                tracker.retry(key, now + wait, message);
            }
            Ok(EvictOutcome::Throttled { retry_after }) => {
                self.limit = (self.limit / 2).max(1);
                let wait = retry_after.unwrap_or_else(|| backoff(attempts));
                tracker.retry(key, now + wait, "API server throttling (429)".into());
            }
            Ok(EvictOutcome::Transient { message, retry_after }) => {
                let wait = retry_after.unwrap_or_else(|| backoff(attempts));
                tracker.retry(key, now + wait, format!("transient API error: {message}"));
            }
            Ok(EvictOutcome::Refused { code, message }) => {
                tracker.block(key, format!("the API server refused the eviction ({code}): {message}"));
            }
            Err(e) => {
                tracker.retry(key, now + backoff(attempts), e.to_string());
            }
        }
        out
    }

    fn finish(&mut self, out: &mut Vec<Command>, end: DrainEnd, pods: &[Arc<PodInfo>]) -> Pass {
        self.finished = true;
        let present: HashSet<&str> = pods.iter().map(|p| p.uid.as_str()).collect();
        let moved = self.ledger.moved(|u| present.contains(u));
        out.push(Command::Finish(DrainResult { end, moved, evicted: self.evicted }));
        Pass::Over
    }

    /// Looks for workload pods that appeared on the other cordoned nodes since the drain started
    /// (replacements that landed back): records them, stops evicting their workloads' pods. Whether it found
    /// any new one.
    fn scan_elsewhere(&mut self, live: &dyn LiveView, out: &mut Vec<Command>) -> bool {
        let mut new = false;
        for node in &self.scope.others {
            for p in live.pods_on(node) {
                let skip = p.mirror || p.finished() || p.owner_kind() == Some("DaemonSet");
                if skip || self.baseline_elsewhere.contains(&p.uid) || self.landed_elsewhere.contains_key(&p.uid) {
                    continue;
                }
                let reason = landed_back_reason(&p, node);
                out.push(Command::Report(Event::Note { message: format!("{}: {reason}", p.key()) }));
                if let Some(w) = p.workload_key() {
                    self.tracker.hold_back(&w);
                }
                self.ledger.landed(&p.uid);
                self.landed_elsewhere.insert(
                    p.uid.clone(),
                    Stuck {
                        pod: Subject::Pod(p.pod_key()),
                        node: node.to_string(),
                        pdb: None,
                        reason,
                        landed_back: true,
                    },
                );
                new = true;
            }
        }
        if new {
            out.push(Command::KeepLedger(self.ledger.clone()));
        }
        new
    }
}

enum Pass {
    /// Run the pass again with the same view.
    Again,
    Over,
}

fn backoff(attempt: u32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt as usize)
        .unwrap_or(Duration::from_secs(30))
}

/// The reason recorded for a tracked pod that landed back.
fn landed_reason(t: &Tracked) -> &str {
    match &t.state {
        PodState::LandedBack { reason } => reason,
        _ => "landed back on a cordoned node",
    }
}

/// A workload's replica counts while it has fewer Ready pods than it wants; `None` once it is settled (or
/// has no scale to compare with).
fn short_of_replicas(live: &dyn LiveView, w: &WorkloadKey) -> Option<Replicas> {
    let scale = live.scale(w)?;
    let replicas = live.replicas(w);
    (replicas.ready < scale).then_some(replicas)
}
