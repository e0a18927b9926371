//! Performs a drain: the decisions are [`machine::Drain`]'s (which pods to evict now, when the batch is
//! done or stuck); this executor sends the evictions (in parallel, up to the in-flight limit the machine
//! keeps), renews the lease, reads requests, keeps the ledger in the checkpoint and reports, then feeds
//! the answers and the live view's changes back.

pub mod machine;
#[cfg(test)]
mod tests;

use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;

pub use machine::{Command, Drain, DrainEnd, DrainResult};

use super::tracker::Ledger;
use super::{Engine, EngineError, StepPoint};
use crate::model::identity::PodKey;
use crate::model::policy::Policy;
use crate::ports::report::Event;
use crate::ports::{ClusterError, EvictOutcome, Stored};

/// The shortest time between two passes over the batch's pods (see the wait at the end of the loop).
const OBSERVE_EVERY: Duration = Duration::from_millis(100);

type Pending = BoxFuture<'static, (PodKey, Result<EvictOutcome, ClusterError>)>;

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
    /// Drains `scope.nodes` (already cordoned). Requests (pause, rollback, abort) are read every tick.
    pub(crate) async fn drain_nodes(
        &self,
        st: &mut Stored,
        scope: &Scope<'_>,
        policy: &Policy,
    ) -> Result<DrainResult, EngineError> {
        let live = self.cluster.live().await?;
        let ledger = scope
            .batch
            .and_then(|i| st.checkpoint.batches.get(i))
            .map(|b| Ledger {
                to_move: b.to_move.iter().cloned().collect(),
                landed_back: b.landed_back.iter().cloned().collect(),
            })
            .unwrap_or_default();
        let machine_scope = machine::Scope {
            nodes: scope.nodes.to_vec(),
            others: scope.cordoned.iter().filter(|n| !scope.nodes.contains(n)).cloned().collect(),
        };
        let mut drain = Drain::new(machine_scope, policy, self.tick, ledger, self.clock.elapsed());
        let mut pending: FuturesUnordered<Pending> = FuturesUnordered::new();
        loop {
            let now = self.clock.elapsed();
            let mut commands = drain.step(live.as_ref(), now);
            while let Some(Command::Housekeep) = commands.last() {
                commands.pop();
                if let Some(result) = self.perform(st, scope, &mut commands, &mut pending).await? {
                    return Ok(result);
                }
                self.lock.renew(&self.holder).await?;
                self.poll_requests(st).await?;
                drain.housekept(self.stop_requested(st));
                commands = drain.step(live.as_ref(), self.clock.elapsed());
            }
            if let Some(result) = self.perform(st, scope, &mut commands, &mut pending).await? {
                return Ok(result);
            }

            // Wait for an answer, a change in the cluster, or the next timer.
            let sleep_for = drain.wake_at(now).saturating_sub(now).max(Duration::from_millis(1));
            let mut answer = tokio::select! {
                Some(answer) = pending.next(), if !pending.is_empty() => Some(answer),
                changed = live.changed() => {
                    changed?;
                    None
                }
                _ = self.clock.sleep(sleep_for) => None,
            };
            // Coalesce: the next pass comes no sooner than OBSERVE_EVERY after this one, whatever the cluster
            // does meanwhile (a large cluster's watches change the cache many times a second); eviction
            // answers are taken as they come.
            let next_pass = now + OBSERVE_EVERY;
            loop {
                if let Some((key, res)) = answer.take() {
                    let mut commands = drain.answered(&key, res, self.clock.elapsed());
                    if let Some(result) = self.perform(st, scope, &mut commands, &mut pending).await? {
                        return Ok(result);
                    }
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

    /// Performs `commands` in order (all but [`Command::Housekeep`], which the loop does); the drain's
    /// result once it finished.
    async fn perform(
        &self,
        st: &mut Stored,
        scope: &Scope<'_>,
        commands: &mut Vec<Command>,
        pending: &mut FuturesUnordered<Pending>,
    ) -> Result<Option<DrainResult>, EngineError> {
        for command in commands.drain(..) {
            match command {
                Command::Report(event) => {
                    self.reporter.event(&event);
                    if let Event::PodEvicted { pod, .. } = event {
                        self.hook(StepPoint::Evicted { pod })?;
                    }
                }
                Command::KeepLedger(ledger) => self.keep_ledger(st, scope.batch, &ledger).await?,
                Command::Evict(pod) => {
                    let cluster = self.cluster.clone();
                    pending.push(Box::pin(async move { (pod.key(), cluster.evict(&pod, false).await) }));
                }
                Command::Finish(result) => return Ok(Some(result)),
                Command::Housekeep => {}
            }
        }
        Ok(None)
    }

    /// Writes the ledger into batch `batch`'s checkpoint entry and saves (nothing for a drain without one).
    async fn keep_ledger(&self, st: &mut Stored, batch: Option<usize>, ledger: &Ledger) -> Result<(), EngineError> {
        let Some(b) = batch.and_then(|i| st.checkpoint.batches.get_mut(i)) else { return Ok(()) };
        b.to_move = ledger.to_move.iter().cloned().collect();
        b.landed_back = ledger.landed_back.iter().cloned().collect();
        self.save(st).await
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
