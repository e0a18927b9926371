//! The forward flow: Planned -> CreatingGreen -> WaitingGreenReady -> Validating -> CordoningBlue ->
//! Draining{i/n} -> PoolSoaking -> DeletingBlue -> Done. Each step is idempotent: a resumed run never
//! creates a second green pool, never re-drains a finished batch, never deletes blue while a workload
//! pod runs on it.

use std::time::Duration;

use poolshift_provider_api::{ErrorKind, PoolState, PoolStatus, ProviderError};

use super::decide::{self, Action, Escalate, Gate};
use super::drain::{DrainEnd, Scope};
use super::{Engine, EngineError, Outcome, StepPoint, Summary, steps};
use crate::model::checkpoint::{BatchState, Blocker, Phase, RollbackStep, RunStatus};
use crate::model::identity::Subject;
use crate::model::plan::Disposition;
use crate::model::version::Version;
use crate::ports::report::{Event, RunEnd};
use crate::ports::{LockError, Stored};

/// Once green's nodes are all Ready, how soon the provider is asked again whether the pool is Ready.
const GREEN_REPOLL: Duration = Duration::from_secs(1);

impl Engine {
    /// Runs from the checkpoint's phase until the run ends, pauses or blocks. A run that stops on an error
    /// is recorded as failed, with the error as its reason (best effort: the error may be the store's).
    pub(crate) async fn run(&self, mut st: Stored) -> Result<Outcome, EngineError> {
        let result = self.run_phases(&mut st).await;
        if let Err(e) = &result {
            self.record_failure(&mut st, e).await;
        }
        let end = match &result {
            Ok(Outcome::Done(_)) => Some(RunEnd::Done),
            Ok(Outcome::Paused(reason)) => Some(RunEnd::Paused(reason.clone())),
            Ok(Outcome::Blocked { reason, .. }) => Some(RunEnd::Blocked(reason.clone())),
            Ok(Outcome::RolledBack) => Some(RunEnd::RolledBack),
            Ok(Outcome::Aborted) => Some(RunEnd::Aborted),
            Ok(Outcome::Failed(reason)) => Some(RunEnd::Failed(reason.clone())),
            // A halted process (a simulated crash, a lost lease) says nothing: another agent goes on.
            Err(EngineError::Halted(_) | EngineError::Lock(LockError::Lost { .. })) => None,
            Err(e) => Some(RunEnd::Failed(e.to_string())),
        };
        if let Some(end) = end {
            self.reporter.event(&Event::RunEnded { run_id: st.checkpoint.run_id.clone(), end });
        }
        result
    }

    /// Marks the run failed after `e`, unless `e` means this process may no longer write the checkpoint (a
    /// simulated crash, a lease another agent took) or the run already ended otherwise.
    async fn record_failure(&self, st: &mut Stored, e: &EngineError) {
        if matches!(e, EngineError::Halted(_) | EngineError::Lock(LockError::Lost { .. })) || st.checkpoint.finished() {
            return;
        }
        let reason = e.to_string();
        st.checkpoint.status = RunStatus::Failed(reason.clone());
        let now = self.now();
        st.checkpoint.note(&now, format!("failed: {reason}"));
        if let Err(save) = self.save(st).await {
            tracing::error!(error = %save, run_error = %reason, "recording the run as failed failed too");
        }
    }

    async fn run_phases(&self, st: &mut Stored) -> Result<Outcome, EngineError> {
        loop {
            self.lock.renew(&self.holder).await?;
            self.poll_requests(st).await?;
            match decide::gate(&st.checkpoint, self.interrupted()) {
                Gate::Aborted => return Ok(Outcome::Aborted),
                Gate::StartRollback => {
                    st.checkpoint.phase = Phase::RollingBack { step: RollbackStep::UncordonBlue };
                    st.checkpoint.requests.pause = None;
                    let now = self.now();
                    st.checkpoint.note(&now, "rollback started");
                    self.save(st).await?;
                    continue;
                }
                Gate::IgnoreRollback => {
                    st.checkpoint.requests.rollback = None;
                    let now = self.now();
                    st.checkpoint.note(&now, "rollback request ignored: blue deletion already started");
                    self.save(st).await?;
                    continue;
                }
                Gate::Pause(reason) => {
                    st.checkpoint.status = RunStatus::Paused(reason.clone());
                    let now = self.now();
                    st.checkpoint.note(&now, reason.clone());
                    self.save(st).await?;
                    self.reporter.event(&Event::Paused { reason: reason.clone() });
                    return Ok(Outcome::Paused(reason));
                }
                Gate::Proceed => {}
            }
            if let Some(at) = super::stops::pending(&st.checkpoint) {
                match self.stop_at(st, at).await? {
                    Ok(()) => {}
                    Err(Some(outcome)) => return Ok(outcome),
                    Err(None) => continue, // a rollback was asked for: the gate above starts it
                }
            }
            let next = match decide::action(&st.checkpoint) {
                Action::Advance(next) => Some(next),
                Action::CreateGreen { then } => match self.create_green(st).await? {
                    Ok(()) => Some(then),
                    Err(outcome) => return Ok(outcome),
                },
                Action::WaitGreenReady { then } => match self.wait_green_ready(st).await? {
                    Ok(true) => Some(then),
                    Ok(false) => continue, // a request arrived: handled at the top of the loop
                    Err(outcome) => return Ok(outcome),
                },
                Action::ValidateGreen { then } => match self.validate_green(st).await? {
                    Ok(()) => Some(then),
                    Err(outcome) => return Ok(outcome),
                },
                Action::CordonBlue => {
                    self.cordon_blue(st).await?;
                    Some(steps::after_batch(&st.checkpoint, None))
                }
                Action::DrainBatch { batch } => match self.drain_batch(st, batch).await? {
                    Ok(Some(next)) => Some(next),
                    Ok(None) => continue,
                    Err(outcome) => return Ok(outcome),
                },
                Action::Soak { what, duration, then } => {
                    if self.soak(st, duration, what).await? {
                        Some(then)
                    } else {
                        continue;
                    }
                }
                Action::DeleteBlue { then } => match self.delete_blue(st).await? {
                    Ok(()) => Some(then),
                    Err(outcome) => return Ok(outcome),
                },
                Action::Finish(RunStatus::RolledBack) => {
                    st.checkpoint.status = RunStatus::RolledBack;
                    st.checkpoint.requests.rollback = None;
                    self.save(st).await?;
                    return Ok(Outcome::RolledBack);
                }
                Action::Finish(status) => {
                    st.checkpoint.status = status;
                    self.save(st).await?;
                    return Ok(Outcome::Done(self.summary(st)));
                }
                Action::Rollback(step) => match self.rollback_step(st, step).await? {
                    Ok(next) => next,
                    Err(outcome) => return Ok(outcome),
                },
            };
            if let Some(next) = next {
                st.checkpoint.phase = next.clone();
                let now = self.now();
                st.checkpoint.note(&now, format!("entering {next}"));
                self.save(st).await?;
                self.reporter.event(&Event::Phase { phase: next.clone() });
                self.hook(StepPoint::Saved(next))?;
            }
        }
    }

    pub(crate) fn summary(&self, st: &Stored) -> Summary {
        let cp = &st.checkpoint;
        let started: Option<jiff::Timestamp> = cp.started_at.parse().ok();
        let seconds = started.map_or(0.0, |s| self.clock.now().duration_since(s).as_secs_f64());
        Summary {
            run_id: cp.run_id.clone(),
            plan_id: cp.plan_id.clone(),
            pool: cp.pool.clone(),
            green: cp.green.name.clone(),
            batches: cp.batches.len(),
            moved: cp.moved,
            quarantined: cp.quarantined.clone(),
            seconds,
        }
    }

    /// Stops the run for an operator, with the reason and blockers recorded.
    pub(crate) async fn block(
        &self,
        st: &mut Stored,
        reason: String,
        blockers: Vec<Blocker>,
    ) -> Result<Outcome, EngineError> {
        let told = if blockers.is_empty() {
            Event::RunBlocked { reason: reason.clone() }
        } else {
            Event::Blocked { blockers: blockers.clone() }
        };
        self.block_told(st, reason, blockers, &told).await
    }

    /// [`Engine::block`], telling `told` (each block is told once: its stuck pods, its failed gate, or why).
    pub(crate) async fn block_told(
        &self,
        st: &mut Stored,
        reason: String,
        blockers: Vec<Blocker>,
        told: &Event,
    ) -> Result<Outcome, EngineError> {
        st.checkpoint.status = RunStatus::Blocked(reason.clone());
        let now = self.now();
        st.checkpoint.note(&now, reason.clone());
        self.save(st).await?;
        self.reporter.event(told);
        Ok(Outcome::Blocked { reason, blockers })
    }

    /// Calls the provider, retrying transient errors (see [`super::retry`]).
    pub(crate) async fn provider_call<T, F, Fut>(&self, f: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut + Send,
        Fut: std::future::Future<Output = Result<T, ProviderError>> + Send,
        T: Send,
    {
        super::retry::provider(self.clock.clone(), f).await
    }

    /// The provider's status of pool `name` (`None`: it does not exist), with retries.
    pub(crate) async fn pool_status(&self, name: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let provider = self.provider.clone();
        let name = name.to_string();
        self.provider_call(|| {
            let p = provider.clone();
            let n = name.clone();
            async move { p.pool_status(&n).await }
        })
        .await
    }

    async fn create_green(&self, st: &mut Stored) -> Result<Result<(), Outcome>, EngineError> {
        let spec = st.checkpoint.plan.green.clone();
        let provider = self.provider.clone();
        let name = spec.name.clone();
        // Idempotent: an existing pool of this name (from an interrupted earlier attempt) is adopted.
        let existing = self
            .provider_call(|| {
                let p = provider.clone();
                let n = name.clone();
                async move { p.pool_status(&n).await }
            })
            .await?;
        let adopted = existing.is_some();
        let status = match existing {
            // Adopt our own pool from an interrupted attempt, but never a same-named pool at another version.
            Some(s) if s.version.parse::<Version>().ok() != spec.version.parse::<Version>().ok() => {
                let reason = format!(
                    "a pool named {name} already exists at version {}, not {}: delete or rename it, then `poolshift resume`",
                    s.version, spec.version
                );
                return Ok(Err(self.block(st, reason, Vec::new()).await?));
            }
            Some(s) => s,
            None => {
                // A new attempt: its token is sent by every retry of this call, and by nothing else.
                st.checkpoint.green.attempt += 1;
                let token =
                    poolshift_provider_api::CreateToken::new(&st.checkpoint.run_id, st.checkpoint.green.attempt);
                let s = spec.clone();
                match self
                    .provider_call(|| {
                        let p = provider.clone();
                        let s = s.clone();
                        let t = token.clone();
                        async move { p.create_pool(&s, &t).await }
                    })
                    .await
                {
                    Ok(s) => s,
                    Err(e)
                        if matches!(
                            e.kind,
                            ErrorKind::Quota
                                | ErrorKind::Capacity
                                | ErrorKind::Permission
                                | ErrorKind::Invalid
                                | ErrorKind::Conflict
                        ) =>
                    {
                        return Ok(Err(self
                            .block(st, format!("creating green pool {name} failed: {e}"), Vec::new())
                            .await?));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        self.hook(StepPoint::GreenAccepted)?;
        st.checkpoint.green.created = true;
        let now = self.now();
        if adopted {
            st.checkpoint
                .note(&now, format!("adopted green pool {name}, already there (provider state {:?})", status.state));
            self.reporter.event(&Event::GreenAdopted { pool: name, state: status.state });
        } else {
            st.checkpoint.note(&now, format!("green pool {name} created (provider state {:?})", status.state));
            self.reporter.event(&Event::GreenCreated { pool: name });
        }
        Ok(Ok(()))
    }

    /// Waits for the provider to report green Ready and its nodes to be Ready in Kubernetes.
    /// `Ok(Ok(false))` when interrupted by a request.
    async fn wait_green_ready(&self, st: &mut Stored) -> Result<Result<bool, Outcome>, EngineError> {
        let name = st.checkpoint.green.name.clone();
        let want = st.checkpoint.plan.green.size.desired.max(1) as usize;
        let matcher = self.provider.node_matcher(&name);
        let live = self.cluster.live().await?;
        let deadline = self.clock.elapsed() + st.checkpoint.plan.policy.green_ready_timeout;
        // The provider, the Lease and the checkpoint are read once per tick (or sooner when every node is
        // Ready and only the provider's word is missing), not on every change the watches bring.
        let mut last_poll: Option<Duration> = None;
        let mut status: Option<PoolStatus> = None;
        loop {
            let now = self.clock.elapsed();
            let ready = live.nodes().iter().filter(|n| matcher.matches(&n.labels) && n.ready).count();
            let provider_ready = matches!(status.as_ref().map(|s| &s.state), Some(PoolState::Ready));
            let poll_due = last_poll.is_none_or(|t| {
                let since = now.saturating_sub(t);
                since >= self.tick || (ready >= want && !provider_ready && since >= GREEN_REPOLL)
            });
            if poll_due {
                last_poll = Some(now);
                let provider = self.provider.clone();
                let n = name.clone();
                status = self
                    .provider_call(|| {
                        let p = provider.clone();
                        let n = n.clone();
                        async move { p.pool_status(&n).await }
                    })
                    .await?;
                let gone = match status.as_ref().map(|s| &s.state) {
                    Some(PoolState::Failed { reason }) => {
                        Some(format!("green pool {name} failed: {reason}; run `poolshift rollback` to remove it"))
                    }
                    None => Some(format!("green pool {name} disappeared while waiting for it to be Ready")),
                    _ => None,
                };
                if let Some(reason) = gone {
                    return Ok(Err(self.block(st, reason, Vec::new()).await?));
                }
                self.lock.renew(&self.holder).await?;
                self.poll_requests(st).await?;
                if self.stop_requested(st) {
                    return Ok(Ok(false));
                }
            }
            if matches!(status.as_ref().map(|s| &s.state), Some(PoolState::Ready)) && ready >= want {
                self.reporter.event(&Event::GreenReady { pool: name.clone(), nodes: ready });
                self.mark_green(st, true).await?;
                return Ok(Ok(true));
            }
            if now >= deadline {
                return Ok(Err(self
                    .block(
                        st,
                        format!("green pool {name}: {ready} of {want} nodes Ready after the green ready timeout"),
                        Vec::new(),
                    )
                    .await?));
            }
            let since = now.saturating_sub(last_poll.unwrap_or(now));
            let next = if ready >= want { GREEN_REPOLL } else { self.tick };
            let sleep_for = next.saturating_sub(since).min(deadline.saturating_sub(now)).max(Duration::from_millis(1));
            tokio::select! {
                changed = live.changed() => changed?,
                _ = self.clock.sleep(sleep_for) => {}
            }
        }
    }

    async fn validate_green(&self, st: &mut Stored) -> Result<Result<(), Outcome>, EngineError> {
        let name = st.checkpoint.green.name.clone();
        let target = st.checkpoint.plan.target.version;
        let matcher = self.provider.node_matcher(&name);
        let live = self.cluster.live().await?;
        let wrong: Vec<String> = live
            .nodes()
            .iter()
            .filter(|n| matcher.matches(&n.labels))
            .filter(|n| n.kubelet_version.parse::<Version>().ok() != Some(target))
            .map(|n| format!("{} runs {}", n.name, n.kubelet_version))
            .collect();
        if !wrong.is_empty() {
            return Ok(Err(self
                .block(st, format!("green pool {name} is not at the target {target}: {}", wrong.join(", ")), Vec::new())
                .await?));
        }
        Ok(Ok(()))
    }

    /// Records blue's autoscaling settings, freezes autoscaling, then cordons every blue node (including
    /// nodes that appeared since planning, which join a last batch).
    async fn cordon_blue(&self, st: &mut Stored) -> Result<(), EngineError> {
        let pool = st.checkpoint.pool.clone();
        if st.checkpoint.autoscaling_prior.is_none() {
            let provider = self.provider.clone();
            let p = pool.clone();
            let desc = self
                .provider_call(|| {
                    let pr = provider.clone();
                    let p = p.clone();
                    async move { pr.describe_pool(&p).await }
                })
                .await?;
            st.checkpoint.autoscaling_prior = Some(desc.autoscaling);
            self.save(st).await?;
        }
        let provider = self.provider.clone();
        let p = pool.clone();
        self.provider_call(|| {
            let pr = provider.clone();
            let p = p.clone();
            async move { pr.freeze_autoscaling(&p).await }
        })
        .await?;

        let matcher = self.provider.node_matcher(&pool);
        let live = self.cluster.live().await?;
        let mut blue: Vec<String> =
            live.nodes().iter().filter(|n| matcher.matches(&n.labels)).map(|n| n.name.clone()).collect();
        blue.sort();
        let planned: std::collections::BTreeSet<&String> = st.checkpoint.all_batch_nodes().collect();
        let extra: Vec<String> = blue.iter().filter(|n| !planned.contains(n)).cloned().collect();
        if !extra.is_empty() {
            let index = st.checkpoint.add_batch(extra.clone());
            let now = self.now();
            st.checkpoint
                .note(&now, format!("blue nodes added since planning join batch {}: {}", index + 1, extra.join(", ")));
        }
        let run_id = st.checkpoint.run_id.clone();
        for node in &blue {
            self.cluster.set_cordon(node, true, &run_id).await?;
            self.reporter.event(&Event::NodeCordoned { node: node.clone() });
        }
        self.reporter.event(&Event::Cordoned { nodes: blue.len() });
        Ok(())
    }

    /// Drains batch `i`. `Ok(Ok(Some(next)))` to move on, `Ok(Ok(None))` when interrupted by a request.
    async fn drain_batch(&self, st: &mut Stored, i: usize) -> Result<Result<Option<Phase>, Outcome>, EngineError> {
        let of = st.checkpoint.batches.len();
        let Some(batch) = st.checkpoint.batches.get(i).cloned() else {
            return Ok(Ok(Some(steps::after_batch(&st.checkpoint, Some(i)))));
        };
        if matches!(batch.state, BatchState::Done | BatchState::Quarantined) {
            return Ok(Ok(Some(steps::after_batch(&st.checkpoint, Some(i)))));
        }
        let policy = st.checkpoint.plan.policy.clone();
        if batch.state != BatchState::Soaking {
            if batch.state == BatchState::Pending
                && let Some(drift) = self.reviewed_batch_drift(st, i).await?
            {
                let now = self.now();
                for c in &drift.benign {
                    st.checkpoint.note(&now, format!("batch {}: differs from the reviewed plan: {c}", i + 1));
                    self.reporter.event(&Event::Note { message: format!("batch {}: {c}", i + 1) });
                }
                if drift.is_material() {
                    let changes: Vec<String> = drift.material.iter().map(ToString::to_string).collect();
                    let reason = format!(
                        "batch {} of {of}: the cluster no longer matches reviewed plan {}: {}; put it back and `poolshift resume`, or `poolshift rollback`",
                        i + 1,
                        st.checkpoint.plan_id,
                        changes.join("; ")
                    );
                    return Ok(Err(self.block(st, reason, Vec::new()).await?));
                }
            }
            if batch.state == BatchState::Pending {
                // Saved with the pods to move, by the drain before its first eviction.
                let now = self.now();
                let b = &mut st.checkpoint.batches[i];
                b.state = BatchState::Draining;
                b.started_at = Some(now);
            }
            // The pods the plan moves, counted as the plan summary counts them (DaemonSet, mirror, finished and
            // blocked pods stay).
            let planned = st
                .checkpoint
                .plan
                .batches
                .get(i)
                .map_or(0, |b| b.pods.iter().filter(|p| p.disposition == Disposition::Evict).count());
            let nodes = st.checkpoint.batch_nodes(i).to_vec();
            self.reporter.event(&Event::BatchStarted { batch: i, of, nodes: nodes.clone(), pods: planned });
            // Green nodes that joined since (an autoscaled green) get the mark too.
            self.mark_green(st, true).await?;
            let started = self.clock.elapsed();
            // Every blue node is cordoned by now: a workload pod appearing on one during the drain landed back.
            let blue: Vec<String> = st.checkpoint.all_batch_nodes().cloned().collect();
            let scope = Scope { nodes: &nodes, cordoned: &blue, batch: Some(i) };
            let result = self.drain_nodes(st, &scope, &policy).await?;
            // The batch's count covers its earlier passes too (a crash, a pause): replace it in the total.
            let b = &mut st.checkpoint.batches[i];
            let before = std::mem::replace(&mut b.moved, result.moved as u64);
            b.evicted += result.evicted as u64;
            st.checkpoint.moved = st.checkpoint.moved.saturating_sub(before) + result.moved as u64;
            match result.end {
                DrainEnd::Done => {
                    let b = &mut st.checkpoint.batches[i];
                    b.state = BatchState::Soaking;
                    b.blockers.clear();
                    b.to_move.clear();
                    b.landed_back.clear();
                    self.save(st).await?;
                    let secs = (self.clock.elapsed() - started).as_secs_f64();
                    self.reporter.event(&Event::BatchDone { batch: i, of, moved: result.moved, seconds: secs });
                }
                DrainEnd::Interrupted => {
                    self.save(st).await?;
                    return Ok(Ok(None));
                }
                DrainEnd::Stuck { stuck, timed_out } => {
                    let blockers: Vec<Blocker> = stuck
                        .iter()
                        .map(|s| Blocker {
                            pod: s.pod.clone(),
                            node: s.node.clone(),
                            pdb: s.pdb.clone(),
                            reason: s.reason.clone(),
                        })
                        .collect();
                    st.checkpoint.batches[i].blockers = blockers.clone();
                    match decide::escalate(&policy, i, of, &stuck, timed_out) {
                        Escalate::Quarantine { nodes } => {
                            for n in &nodes {
                                if !st.checkpoint.quarantined.contains(n) {
                                    st.checkpoint.quarantined.push(n.clone());
                                }
                            }
                            let b = &mut st.checkpoint.batches[i];
                            b.state = BatchState::Quarantined;
                            b.to_move.clear();
                            b.landed_back.clear();
                            let now = self.now();
                            let why = if timed_out { "drain timeout reached" } else { "pods cannot be moved" };
                            st.checkpoint
                                .note(&now, format!("batch {}: {why}; quarantined {}", i + 1, nodes.join(", ")));
                            self.reporter.event(&Event::Blocked { blockers });
                            self.reporter.event(&Event::Quarantined { nodes });
                            return Ok(Ok(Some(steps::after_batch(&st.checkpoint, Some(i)))));
                        }
                        Escalate::Force { pods } => {
                            let live = self.cluster.live().await?;
                            for s in stuck.iter() {
                                let Some(key) = s.pod.pod().filter(|k| pods.contains(k)) else { continue };
                                if let Some(p) = live.pod(key) {
                                    let r = crate::ports::PodRef {
                                        namespace: p.namespace.clone(),
                                        name: p.name.clone(),
                                        uid: p.uid.clone(),
                                    };
                                    self.cluster.delete_pod(&r).await?;
                                    let now = self.now();
                                    st.checkpoint.note(&now, format!("force-deleted {} ({})", s.pod, s.reason));
                                }
                            }
                            self.save(st).await?;
                            return Ok(Ok(None)); // drain the batch again: what is left now moves or goes
                        }
                        Escalate::Block { reason } => return Ok(Err(self.block(st, reason, blockers).await?)),
                    }
                }
            }
        }
        if !self.soak(st, policy.batch_soak, &format!("batch {} soak", i + 1)).await? {
            return Ok(Ok(None));
        }
        let now = self.now();
        let b = &mut st.checkpoint.batches[i];
        b.state = BatchState::Done;
        b.finished_at = Some(now);
        Ok(Ok(Some(steps::after_batch(&st.checkpoint, Some(i)))))
    }

    /// Waits `d`, checking requests every tick. `false` when a request interrupted it.
    pub(crate) async fn soak(&self, st: &mut Stored, d: Duration, what: &str) -> Result<bool, EngineError> {
        if d.is_zero() {
            return Ok(true);
        }
        self.reporter.event(&Event::Soaking { what: what.to_string(), seconds: d.as_secs_f64() });
        let end = self.clock.elapsed() + d;
        loop {
            let now = self.clock.elapsed();
            if now >= end {
                return Ok(true);
            }
            self.clock.sleep((end - now).min(self.tick)).await;
            self.lock.renew(&self.holder).await?;
            self.poll_requests(st).await?;
            if self.stop_requested(st) {
                return Ok(false);
            }
        }
    }

    /// Deletes blue once no workload pod runs on it.
    async fn delete_blue(&self, st: &mut Stored) -> Result<Result<(), Outcome>, EngineError> {
        let pool = st.checkpoint.pool.clone();
        let matcher = self.provider.node_matcher(&pool);
        let live = self.cluster.live().await?;
        let mut holding = Vec::new();
        for n in live.nodes().iter().filter(|n| matcher.matches(&n.labels)) {
            for p in live.pods_on(&n.name) {
                let skip = p.mirror || p.finished() || p.owner_kind() == Some("DaemonSet");
                if !skip {
                    holding.push(Blocker {
                        pod: Subject::Pod(p.pod_key()),
                        node: n.name.clone(),
                        pdb: None,
                        reason: "still running on blue".into(),
                    });
                }
            }
        }
        if !holding.is_empty() {
            let reason = format!(
                "blue pool {pool} is not deleted: {} workload pod(s) still run on it (quarantined nodes: {}); move or delete them, then `poolshift resume`",
                holding.len(),
                if st.checkpoint.quarantined.is_empty() {
                    "none".to_string()
                } else {
                    st.checkpoint.quarantined.join(", ")
                }
            );
            return Ok(Err(self.block(st, reason, holding).await?));
        }
        let provider = self.provider.clone();
        let p = pool.clone();
        self.provider_call(|| {
            let pr = provider.clone();
            let p = p.clone();
            async move { pr.delete_pool(&p).await }
        })
        .await?;
        loop {
            let provider = self.provider.clone();
            let p = pool.clone();
            let status = self
                .provider_call(|| {
                    let pr = provider.clone();
                    let p = p.clone();
                    async move { pr.pool_status(&p).await }
                })
                .await?;
            match status {
                None => break,
                Some(s) if matches!(s.state, PoolState::Failed { .. }) => {
                    return Ok(Err(self
                        .block(st, format!("deleting blue pool {pool} failed: {:?}", s.state), Vec::new())
                        .await?));
                }
                Some(_) => {
                    self.clock.sleep(self.tick).await;
                    self.lock.renew(&self.holder).await?;
                }
            }
        }
        self.reporter.event(&Event::BlueDeleted { pool });
        self.mark_green(st, false).await?;
        Ok(Ok(()))
    }
}
