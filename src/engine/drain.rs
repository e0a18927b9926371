//! Drains a set of cordoned nodes: evictions in parallel across the nodes, bounded by the in-flight limit
//! and by what the PDBs allow, completion by watch (NotFound or a new UID), then the readiness gate
//! (replacements Ready). Performs the I/O; the decisions are in [`super::tracker`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;

use super::tracker::{Ledger, PdbsByNs, PodState, Stuck, Tracked, Tracker, find_pdb, landed_back_reason, qualify};
use super::{Engine, EngineError, StepPoint};
use crate::model::policy::Policy;
use crate::model::snapshot::PodInfo;
use crate::ports::report::Event;
use crate::ports::{ClusterError, EvictOutcome, LiveView, Replicas, Stored};

/// A replacement Pending as unschedulable for this long stops the batch (instead of burning the timeout).
const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(30);
/// The shortest time between two passes over the batch's pods (see the wait at the end of the loop).
const OBSERVE_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq)]
pub enum DrainEnd {
    /// Every pod that had to move is gone and its workload is Ready again.
    Done,
    /// A pause (or rollback/abort) request arrived: in-flight evictions finished, no new one was started.
    Interrupted,
    /// Pods that cannot move now, with why. `timed_out` when the drain timeout expired.
    Stuck { stuck: Vec<Stuck>, timed_out: bool },
}

#[derive(Debug, Clone)]
pub struct DrainResult {
    pub end: DrainEnd,
    /// Pods the drain moved, earlier passes of the same batch included (see [`Ledger`]).
    pub moved: usize,
    pub evicted: usize,
}

type Pending = BoxFuture<'static, (String, Result<EvictOutcome, ClusterError>)>;

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

/// What a drain works on.
pub(crate) struct Scope<'a> {
    /// The nodes to empty (cordoned).
    pub nodes: &'a [String],
    /// Every cordoned node of the pool being drained (`nodes` among them): a workload pod that appears on
    /// one after the drain started is a replacement that landed back.
    pub cordoned: &'a [String],
    /// The batch whose checkpoint entry keeps the [`Ledger`] (`None`: kept in memory only).
    pub batch: Option<usize>,
}

impl Engine {
    /// Drains `scope.nodes` (already cordoned). Requests (pause, rollback, abort) are polled every tick.
    pub(crate) async fn drain_nodes(
        &self,
        st: &mut Stored,
        scope: &Scope<'_>,
        policy: &Policy,
    ) -> Result<DrainResult, EngineError> {
        let nodes = scope.nodes;
        let live = self.cluster.live().await?;
        let started = self.clock.elapsed();
        let deadline = started + policy.drain_timeout;
        let mut tracker = Tracker::default();
        let mut ledger = scope
            .batch
            .and_then(|i| st.checkpoint.batches.get(i))
            .map(|b| Ledger {
                to_move: b.to_move.iter().cloned().collect(),
                landed_back: b.landed_back.iter().cloned().collect(),
            })
            .unwrap_or_default();
        let others: Vec<&String> = scope.cordoned.iter().filter(|n| !nodes.contains(n)).collect();
        let mut baseline_elsewhere: HashSet<String> = HashSet::new();
        let mut landed_elsewhere: BTreeMap<String, Stuck> = BTreeMap::new();
        let mut first = true;
        let mut pending: FuturesUnordered<Pending> = FuturesUnordered::new();
        let mut limit = policy.max_in_flight.max(1);
        let mut dispatched_rv: HashMap<String, String> = HashMap::new();
        let mut reported: HashMap<String, String> = HashMap::new();
        let mut unschedulable_since: HashMap<String, Duration> = HashMap::new();
        let mut evicted = 0usize;
        let mut last_poll = started;
        let mut stopping = false;

        loop {
            let now = self.clock.elapsed();
            let pods: Vec<_> = nodes.iter().flat_map(|n| live.pods_on(n)).collect();
            let namespaces: BTreeSet<&str> = pods.iter().map(|p| p.namespace.as_str()).collect();
            let pdbs_by_ns: PdbsByNs = namespaces.iter().map(|ns| (ns.to_string(), live.pdbs(ns))).collect();
            tracker.observe(&pods, &pdbs_by_ns, &policy.allow, now);
            let mut ledger_changed = false;
            if first {
                // Before the first eviction: what must move is recorded (with the batch's entry, which may be
                // new: Draining, started), and what the other cordoned nodes hold now is what landing back is
                // measured against.
                first = false;
                ledger_changed = ledger.record(tracker.movable_uids()) || scope.batch.is_some();
                baseline_elsewhere = others.iter().flat_map(|n| live.pods_on(n)).map(|p| p.uid.clone()).collect();
            }
            for key in tracker.take_landed() {
                if let Some(t) = tracker.pods.get(&key) {
                    ledger_changed |= ledger.landed(&t.pod.uid);
                    self.reporter.event(&Event::Note { message: format!("{key}: {}", landed_reason(t)) });
                }
            }
            if ledger_changed {
                self.keep_ledger(st, scope.batch, &ledger).await?;
            }
            for (key, t) in &tracker.pods {
                if t.state == PodState::Gone && t.movable && reported.get(key).map(String::as_str) != Some("moved") {
                    reported.insert(key.clone(), "moved".into());
                    self.reporter.event(&Event::PodMoved { pod: key.clone() });
                }
            }

            if stopping && pending.is_empty() {
                return Ok(DrainResult { end: DrainEnd::Interrupted, moved: moved(&pods, &ledger), evicted });
            }

            // Readiness gate and unschedulable replacements.
            let mut unsettled: Vec<String> = Vec::new();
            let mut unschedulable = Vec::new();
            let mut still_unschedulable: HashMap<String, Duration> = HashMap::new();
            let recount: Vec<String> = tracker.touched.difference(&tracker.settled).cloned().collect();
            for w in recount {
                let Some(replicas) = short_of_replicas(live.as_ref(), &w) else {
                    tracker.settled.insert(w);
                    continue;
                };
                unsettled.push(w);
                for (pod, msg) in replicas.unschedulable {
                    let since = unschedulable_since.get(&pod).copied().unwrap_or(now);
                    if now.saturating_sub(since) >= UNSCHEDULABLE_GRACE {
                        unschedulable.push(Stuck {
                            pod: pod.clone(),
                            node: String::new(),
                            pdb: None,
                            reason: format!("replacement cannot be scheduled: {msg}"),
                            landed_back: false,
                        });
                    }
                    still_unschedulable.insert(pod, since);
                }
            }
            unschedulable_since = still_unschedulable;
            if !unschedulable.is_empty() && pending.is_empty() {
                let mut stuck = unschedulable;
                stuck.extend(tracker.stuck(true));
                stuck.extend(landed_elsewhere.values().cloned());
                return Ok(DrainResult {
                    end: DrainEnd::Stuck { stuck, timed_out: false },
                    moved: moved(&pods, &ledger),
                    evicted,
                });
            }
            if tracker.all_moved() && pending.is_empty() && unsettled.is_empty() {
                // Before ending, every touched workload once more: one settled earlier may have lost a pod.
                let lost: Vec<String> =
                    tracker.touched.iter().filter(|w| short_of_replicas(live.as_ref(), w).is_some()).cloned().collect();
                if !lost.is_empty() {
                    for w in &lost {
                        tracker.settled.remove(w);
                    }
                    continue;
                }
                // And the other cordoned nodes once more: a replacement may have landed back there.
                if self
                    .scan_elsewhere(
                        st,
                        scope,
                        &live,
                        &others,
                        &baseline_elsewhere,
                        &mut landed_elsewhere,
                        &mut tracker,
                        &mut ledger,
                    )
                    .await?
                {
                    continue;
                }
                let mut blocked = tracker.stuck(false);
                blocked.extend(landed_elsewhere.values().cloned());
                let end = if blocked.is_empty() {
                    DrainEnd::Done
                } else {
                    DrainEnd::Stuck { stuck: blocked, timed_out: false }
                };
                return Ok(DrainResult { end, moved: moved(&pods, &ledger), evicted });
            }
            if now >= deadline && pending.is_empty() {
                let mut stuck = tracker.stuck(true);
                for w in &unsettled {
                    stuck.push(Stuck {
                        pod: w.clone(),
                        node: String::new(),
                        pdb: None,
                        reason: "replacements not Ready before the drain timeout".into(),
                        landed_back: false,
                    });
                }
                stuck.extend(landed_elsewhere.values().cloned());
                return Ok(DrainResult {
                    end: DrainEnd::Stuck { stuck, timed_out: true },
                    moved: moved(&pods, &ledger),
                    evicted,
                });
            }

            if !stopping && now.saturating_sub(last_poll) >= self.tick {
                last_poll = now;
                self.lock.renew(&self.holder).await?;
                self.scan_elsewhere(
                    st,
                    scope,
                    &live,
                    &others,
                    &baseline_elsewhere,
                    &mut landed_elsewhere,
                    &mut tracker,
                    &mut ledger,
                )
                .await?;
                self.poll_requests(st).await?;
                if self.stop_requested(st) {
                    stopping = true;
                    continue;
                }
            }

            if !stopping && now < deadline {
                let unavailable = |w: &str| {
                    let scale = live.scale(w)?;
                    Some((scale, (scale - live.replicas(w).ready).max(0)))
                };
                for key in tracker.ready_to_evict(now, limit, &pdbs_by_ns, &unavailable) {
                    let Some(t) = tracker.pods.get(&key) else { continue };
                    if let Some(rv) =
                        t.pdb.as_deref().and_then(|p| find_pdb(&pdbs_by_ns, p)).map(|p| p.resource_version.clone())
                    {
                        dispatched_rv.insert(key.clone(), rv);
                    }
                    let pod = t.pod.clone();
                    let cluster = self.cluster.clone();
                    tracker.mark_in_flight(&key);
                    let k = key.clone();
                    pending.push(Box::pin(async move { (k, cluster.evict(&pod, false).await) }));
                }
            }

            // Wait for an answer, a change in the cluster, or the next timer.
            let mut wake = deadline.max(now + Duration::from_millis(1));
            if let Some(r) = tracker.next_retry().filter(|r| *r > now) {
                wake = wake.min(r);
            }
            wake = wake.min(last_poll + self.tick);
            if let Some(s) = unschedulable_since.values().min() {
                wake = wake.min((*s + UNSCHEDULABLE_GRACE).max(now + Duration::from_millis(1)));
            }
            let sleep_for = wake.saturating_sub(now).max(Duration::from_millis(1));
            let mut answer = tokio::select! {
                Some(answer) = pending.next(), if !pending.is_empty() => Some(answer),
                _ = live.changed() => None,
                _ = self.clock.sleep(sleep_for) => None,
            };
            // Coalesce: the next pass comes no sooner than OBSERVE_EVERY after this one, whatever the cluster
            // does meanwhile (a large cluster's watches change the cache many times a second); eviction
            // answers are taken as they come.
            let next_pass = now + OBSERVE_EVERY;
            loop {
                if let Some((key, res)) = answer.take() {
                    let t = self.clock.elapsed();
                    self.handle_eviction(
                        &mut tracker,
                        &key,
                        res,
                        t,
                        &mut limit,
                        policy,
                        &mut dispatched_rv,
                        &mut reported,
                        &mut evicted,
                    )?;
                }
                let t = self.clock.elapsed();
                if t >= next_pass {
                    break;
                }
                answer = tokio::select! {
                    Some(answer) = pending.next(), if !pending.is_empty() => Some(answer),
                    _ = self.clock.sleep(next_pass - t) => break,
                };
            }
        }
    }

    /// Writes the ledger into batch `batch`'s checkpoint entry and saves (nothing for a drain without one).
    async fn keep_ledger(&self, st: &mut Stored, batch: Option<usize>, ledger: &Ledger) -> Result<(), EngineError> {
        let Some(b) = batch.and_then(|i| st.checkpoint.batches.get_mut(i)) else { return Ok(()) };
        b.to_move = ledger.to_move.iter().cloned().collect();
        b.landed_back = ledger.landed_back.iter().cloned().collect();
        self.save(st).await
    }

    /// Looks for workload pods that appeared on the other cordoned nodes since the drain started
    /// (replacements that landed back): records them, stops evicting their workloads' pods. Whether it found
    /// any new one.
    #[allow(clippy::too_many_arguments)]
    async fn scan_elsewhere(
        &self,
        st: &mut Stored,
        scope: &Scope<'_>,
        live: &Arc<dyn LiveView>,
        others: &[&String],
        baseline: &HashSet<String>,
        found: &mut BTreeMap<String, Stuck>,
        tracker: &mut Tracker,
        ledger: &mut Ledger,
    ) -> Result<bool, EngineError> {
        let mut new = false;
        for node in others {
            for p in live.pods_on(node) {
                let skip = p.mirror || p.finished() || p.owner_kind() == Some("DaemonSet");
                if skip || baseline.contains(&p.uid) || found.contains_key(&p.uid) {
                    continue;
                }
                let reason = landed_back_reason(&p, node);
                self.reporter.event(&Event::Note { message: format!("{}: {reason}", p.key()) });
                if let Some(w) = &p.workload {
                    tracker.hold_back(&qualify(w, &p.namespace));
                }
                ledger.landed(&p.uid);
                found.insert(
                    p.uid.clone(),
                    Stuck { pod: p.key(), node: node.to_string(), pdb: None, reason, landed_back: true },
                );
                new = true;
            }
        }
        if new {
            self.keep_ledger(st, scope.batch, ledger).await?;
        }
        Ok(new)
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_eviction(
        &self,
        tracker: &mut Tracker,
        key: &str,
        res: Result<EvictOutcome, ClusterError>,
        now: Duration,
        limit: &mut usize,
        policy: &Policy,
        dispatched_rv: &mut HashMap<String, String>,
        reported: &mut HashMap<String, String>,
        evicted: &mut usize,
    ) -> Result<(), EngineError> {
        let attempts = tracker.attempts(key);
        let node = tracker.pods.get(key).map(|t| t.node.clone()).unwrap_or_default();
        let pdb = tracker.pods.get(key).and_then(|t| t.pdb.clone());
        match res {
            Ok(EvictOutcome::Evicted) => {
                let rv = dispatched_rv.remove(key);
                tracker.evicted(key, now, rv.as_deref());
                *evicted += 1;
                *limit = (*limit + 1).min(policy.max_in_flight.max(1));
                self.reporter.event(&Event::PodEvicted { pod: key.to_string(), node });
                self.hook(StepPoint::Evicted { pod: key.to_string() })?;
            }
            Ok(EvictOutcome::Gone) => tracker.gone(key),
            Ok(EvictOutcome::NamespaceTerminating) => tracker.evicted(key, now, None),
            Ok(EvictOutcome::Budget { message, retry_after }) => {
                let wait = retry_after.unwrap_or_default().max(backoff(attempts.min(4)));
                if reported.get(key) != Some(&message) {
                    reported.insert(key.to_string(), message.clone());
                    self.reporter.event(&Event::Waiting { pod: key.to_string(), pdb, message: message.clone() });
                }
                tracker.retry(key, now + wait, message);
            }
            Ok(EvictOutcome::Throttled { retry_after }) => {
                *limit = (*limit / 2).max(1);
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
        Ok(())
    }

    /// A pause, a rollback request, Ctrl-C or an abort: stop at the next safe point.
    pub(crate) fn stop_requested(&self, st: &Stored) -> bool {
        let cp = &st.checkpoint;
        self.interrupted()
            || cp.requests.pause.is_some()
            || (cp.requests.rollback.is_some()
                && !matches!(cp.phase, crate::model::checkpoint::Phase::RollingBack { .. }))
            || cp.status == crate::model::checkpoint::RunStatus::Aborted
    }
}

/// What `ledger` counts as moved while `pods` are on the drained nodes.
fn moved(pods: &[Arc<PodInfo>], ledger: &Ledger) -> usize {
    let present: HashSet<&str> = pods.iter().map(|p| p.uid.as_str()).collect();
    ledger.moved(|u| present.contains(u))
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
fn short_of_replicas(live: &dyn LiveView, w: &str) -> Option<Replicas> {
    let scale = live.scale(w)?;
    let replicas = live.replicas(w);
    (replicas.ready < scale).then_some(replicas)
}
