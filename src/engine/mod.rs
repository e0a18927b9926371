//! The upgrade engine: executes an [`UpgradePlan`] phase by phase, re-checking each step against the live
//! cluster just before acting, and checkpointing after every step so that a run can be paused, resumed,
//! survive a crash, or be rolled back.
//!
//! Decisions that need no I/O live in [`tracker`] (batch drain bookkeeping) and [`steps`] (which phase
//! comes next); this module and [`drain`] perform them through the ports.

mod abort;
mod decide;
pub mod drain;
mod flow;
mod gates;
mod plan_check;
mod retry;
mod rollback;
pub mod scale_down;
pub mod steps;
pub mod stops;
pub mod tracker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use poolshift_provider_api::{Provider, ProviderError};

use crate::model::checkpoint::{Blocker, Checkpoint, Phase, Request, RunStatus};
use crate::model::plan::UpgradePlan;
use crate::ports::report::Event;
use crate::ports::{
    CheckpointStore, Clock, Cluster, ClusterError, Gatekeeper, LeaseHolder, Lock, LockError, Reporter, StoreError,
    Stored, lock,
};

pub use abort::{AbortReport, LeaseAfterAbort, LeftBehind};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("no run to {action} for pool {pool}: no checkpoint at {location}")]
    NoRun { action: String, pool: String, location: String },
    #[error(
        "a run for pool {pool} is already in progress (phase {phase}, status {status}): use `poolshift resume`, `rollback` or `abort`"
    )]
    InProgress { pool: String, phase: String, status: String },
    #[error("run {run} for pool {pool} is already finished ({status:?}): nothing to {action}")]
    Finished { run: String, pool: String, status: RunStatus, action: String },
    #[error("rollback is not possible any more: blue pool {pool} is being or has been deleted (phase {phase})")]
    TooLateToRollBack { pool: String, phase: String },
    /// A test hook stopped the engine here (simulated crash).
    #[error("engine stopped at {0} by a test hook")]
    Halted(String),
}

/// How a run (or this part of it) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done(Summary),
    /// Stopped on a pause request (exit 3).
    Paused(String),
    /// Waiting for an operator (exit 4).
    Blocked {
        reason: String,
        blockers: Vec<Blocker>,
    },
    RolledBack,
    Aborted,
    /// The green pool could not be made, or another failure the operator must look at (exit 1).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Summary {
    pub run_id: String,
    /// The plan that ran.
    pub plan_id: String,
    pub pool: String,
    pub green: String,
    pub batches: usize,
    pub moved: u64,
    pub quarantined: Vec<String>,
    pub seconds: f64,
}

/// Where a test hook may stop the engine: every phase boundary, and each accepted eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepPoint {
    /// Just after the checkpoint for this phase was saved.
    Saved(Phase),
    /// Just after an eviction was accepted (the checkpoint does not know about it yet).
    Evicted { pod: String },
    /// Just after the provider accepted (or already had) the green pool, before the checkpoint records it.
    GreenAccepted,
}

pub type StepHook = Arc<dyn Fn(&StepPoint) -> bool + Send + Sync>;

/// Everything the engine talks to.
#[derive(Clone)]
pub struct Engine {
    pub cluster: Arc<dyn Cluster>,
    pub provider: Arc<dyn Provider>,
    pub store: Arc<dyn CheckpointStore>,
    pub lock: Arc<dyn Lock>,
    pub clock: Arc<dyn Clock>,
    pub reporter: Arc<dyn Reporter>,
    /// Who we are in the lease and in requests (`host/pid`).
    pub holder: String,
    /// Set by Ctrl-C in guided mode: stop at the next safe point, as a pause request.
    pub interrupt: Arc<AtomicBool>,
    /// How often long waits re-check requests and renew the lease.
    pub tick: Duration,
    pub hook: Option<StepHook>,
    /// Asked in order at every stop point (maintenance windows, gates, the guided operator); none by default.
    pub gatekeepers: Vec<Arc<dyn Gatekeeper>>,
    /// Green nodes this process has marked scale-down-disabled (each is patched once, not at every batch).
    pub(crate) marked: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl Engine {
    pub fn new(
        cluster: Arc<dyn Cluster>,
        provider: Arc<dyn Provider>,
        store: Arc<dyn CheckpointStore>,
        lock: Arc<dyn Lock>,
        clock: Arc<dyn Clock>,
        reporter: Arc<dyn Reporter>,
        holder: impl Into<String>,
    ) -> Self {
        Self {
            cluster,
            provider,
            store,
            lock,
            clock,
            reporter,
            holder: holder.into(),
            interrupt: Arc::new(AtomicBool::new(false)),
            tick: Duration::from_secs(5),
            hook: None,
            gatekeepers: Vec::new(),
            marked: Arc::default(),
        }
    }

    fn now(&self) -> String {
        self.clock.now().to_string()
    }

    fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    /// Starts a new run of `plan`. Refuses while an unfinished run exists for the pool.
    pub async fn start(&self, plan: UpgradePlan) -> Result<Outcome, EngineError> {
        self.start_from(plan, None).await
    }

    /// Starts a new run of a reviewed plan read from `file`: before each batch, the batch is compared with the
    /// cluster, and material drift blocks the run.
    pub async fn start_reviewed(&self, plan: UpgradePlan, file: &str) -> Result<Outcome, EngineError> {
        self.start_from(plan, Some(file.to_string())).await
    }

    async fn start_from(&self, plan: UpgradePlan, reviewed: Option<String>) -> Result<Outcome, EngineError> {
        let previous = self.lock.acquire(&self.holder).await?;
        let result = self.start_locked(plan, reviewed, previous).await;
        self.release_unless_halted(&result).await;
        result
    }

    async fn start_locked(
        &self,
        plan: UpgradePlan,
        reviewed: Option<String>,
        previous: Option<LeaseHolder>,
    ) -> Result<Outcome, EngineError> {
        let existing = self.store.load().await?;
        if let Some(s) = &existing
            && !s.checkpoint.finished()
        {
            return Err(EngineError::InProgress {
                pool: s.checkpoint.pool.clone(),
                phase: s.checkpoint.phase.to_string(),
                status: format!("{:?}", s.checkpoint.status),
            });
        }
        let now = self.clock.now();
        let run_id = format!("{}-{}", plan.pool, now.strftime("%Y%m%dT%H%M%SZ"));
        let mut cp = Checkpoint::new(&run_id, plan, &now.to_string());
        cp.seq = existing.as_ref().map_or(0, |s| s.checkpoint.seq);
        let of = match &reviewed {
            Some(file) => format!("reviewed plan {} ({file})", cp.plan_id),
            None => format!("plan {}", cp.plan_id),
        };
        cp.reviewed = reviewed;
        cp.note(&self.now(), format!("run {run_id} of {of} started by {}", self.holder));
        self.took_over(&mut cp, previous.as_ref());
        let mut st = Stored { checkpoint: cp, version: String::new() };
        let expected = existing.map(|s| s.version);
        st.checkpoint.seq += 1;
        st.version = self.store.save(&st.checkpoint, expected.as_deref()).await?;
        self.report_started(&st.checkpoint, false);
        self.run(st).await
    }

    /// Continues the run from its checkpoint, re-planning the remaining blue nodes against the live cluster.
    pub async fn resume(&self) -> Result<Outcome, EngineError> {
        self.resume_with(&|_| {}).await
    }

    /// [`Engine::resume`], calling `announce` with the checkpoint once the lease is taken and the run is
    /// known to be resumable (and before anything else is reported), so that nothing claims to resume a run
    /// another agent still holds.
    pub async fn resume_with(&self, announce: &(dyn Fn(&Checkpoint) + Send + Sync)) -> Result<Outcome, EngineError> {
        let previous = self.lock.acquire(&self.holder).await?;
        let result = self.resume_locked(announce, previous).await;
        self.release_unless_halted(&result).await;
        result
    }

    async fn resume_locked(
        &self,
        announce: &(dyn Fn(&Checkpoint) + Send + Sync),
        previous: Option<LeaseHolder>,
    ) -> Result<Outcome, EngineError> {
        let mut st = self.load_required("resume").await?;
        let cp = &mut st.checkpoint;
        if cp.finished() {
            return Err(EngineError::Finished {
                run: cp.run_id.clone(),
                pool: cp.pool.clone(),
                status: cp.status.clone(),
                action: "resume".into(),
            });
        }
        announce(cp);
        self.report_started(cp, true);
        cp.requests.pause = None;
        cp.status = RunStatus::Running;
        let now = self.now();
        cp.note(&now, format!("resumed by {} at phase {}", self.holder, cp.phase));
        self.took_over(cp, previous.as_ref());
        self.save(&mut st).await?;
        self.run(st).await
    }

    fn report_started(&self, cp: &Checkpoint, resumed: bool) {
        self.reporter.event(&Event::RunStarted {
            run_id: cp.run_id.clone(),
            from: cp.plan.blue.version.clone(),
            to: cp.plan.target.version.to_string(),
            resumed,
        });
    }

    /// Rolls back now if no agent holds the pool, or asks the running agent to.
    pub async fn rollback(&self) -> Result<Outcome, EngineError> {
        match self.lock.acquire(&self.holder).await {
            Ok(previous) => {
                let result = self.rollback_locked(previous).await;
                self.release_unless_halted(&result).await;
                result
            }
            Err(LockError::Held { .. }) => {
                self.request(|cp, r| cp.requests.rollback = Some(r)).await?;
                Ok(Outcome::Paused(
                    "rollback requested: the running agent will roll back at its next safe point".into(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn rollback_locked(&self, previous: Option<LeaseHolder>) -> Result<Outcome, EngineError> {
        let mut st = self.load_required("roll back").await?;
        if st.checkpoint.finished() {
            return Err(EngineError::Finished {
                run: st.checkpoint.run_id.clone(),
                pool: st.checkpoint.pool.clone(),
                status: st.checkpoint.status.clone(),
                action: "roll back".into(),
            });
        }
        if !steps::can_roll_back(&st.checkpoint) {
            return Err(EngineError::TooLateToRollBack {
                pool: st.checkpoint.pool.clone(),
                phase: st.checkpoint.phase.to_string(),
            });
        }
        st.checkpoint.requests.rollback = Some(Request { by: self.holder.clone(), at: self.now() });
        st.checkpoint.requests.pause = None;
        st.checkpoint.status = RunStatus::Running;
        self.took_over(&mut st.checkpoint, previous.as_ref());
        self.save(&mut st).await?;
        self.run(st).await
    }

    /// Asks the running agent to stop at its next safe point (from any process).
    pub async fn request_pause(&self) -> Result<(), EngineError> {
        self.request(|cp, r| cp.requests.pause = Some(r)).await
    }

    async fn request(&self, set: impl Fn(&mut Checkpoint, Request) + Send + Sync) -> Result<(), EngineError> {
        let by = self.holder.clone();
        let at = self.now();
        self.update_from_outside(|cp| {
            if cp.finished() {
                return Err(EngineError::Finished {
                    run: cp.run_id.clone(),
                    pool: cp.pool.clone(),
                    status: cp.status.clone(),
                    action: "signal".into(),
                });
            }
            set(cp, Request { by: by.clone(), at: at.clone() });
            Ok(())
        })
        .await
    }

    /// A change by a process that does not run the pool (a pause or rollback request, an abort): read the
    /// checkpoint, apply `change`, write it back with compare-and-swap. When the running agent wrote in
    /// between, the change is applied again to what it wrote: the agent's progress is never replaced by the
    /// older copy this process read.
    pub(crate) async fn update_from_outside(
        &self,
        mut change: impl FnMut(&mut Checkpoint) -> Result<(), EngineError> + Send,
    ) -> Result<(), EngineError> {
        const ATTEMPTS: usize = 10;
        for _ in 0..ATTEMPTS {
            let mut st = self.load_required("update").await?;
            change(&mut st.checkpoint)?;
            st.checkpoint.seq += 1;
            st.checkpoint.updated_at = self.now();
            match self.store.save(&st.checkpoint, Some(&st.version)).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. } | StoreError::Stale { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict {
            location: self.store.location(),
            expected: format!("(changed by the running agent {ATTEMPTS} times in a row)"),
        }
        .into())
    }

    /// Records and reports that this agent took the pool over from `previous`, whose lease had expired.
    fn took_over(&self, cp: &mut Checkpoint, previous: Option<&LeaseHolder>) {
        let Some(p) = previous else { return };
        let event = Event::TookOver {
            previous: p.holder.clone(),
            since: p.since,
            renewed_at: p.renewed_at,
            expired_at: p.expires_at(),
        };
        let (expired, since) = (lock::expiry_text(p.expires_at()), lock::time_text(p.since));
        let now = self.now();
        cp.note(
            &now,
            format!(
                "{} took over from {}, whose lease expired at {expired} (held since {since})",
                self.holder, p.holder
            ),
        );
        self.reporter.event(&event);
    }

    async fn load_required(&self, action: &str) -> Result<Stored, EngineError> {
        self.store.load().await?.ok_or_else(|| EngineError::NoRun {
            action: action.into(),
            pool: String::new(),
            location: self.store.location(),
        })
    }

    /// A halted engine simulates a killed process: it leaves its lease to expire.
    async fn release_unless_halted(&self, result: &Result<Outcome, EngineError>) {
        if !matches!(result, Err(EngineError::Halted(_))) {
            self.release().await;
        }
    }

    async fn release(&self) {
        if let Err(e) = self.lock.release(&self.holder).await {
            tracing::warn!(error = %e, "releasing the lease failed; it expires by itself");
        }
    }

    /// Saves with compare-and-swap. On a conflict (another process wrote a request) the other writer's
    /// requests and abort are merged in and the save is retried.
    async fn save(&self, st: &mut Stored) -> Result<(), EngineError> {
        for _ in 0..5 {
            st.checkpoint.seq += 1;
            st.checkpoint.updated_at = self.now();
            match self.store.save(&st.checkpoint, Some(&st.version)).await {
                Ok(v) => {
                    st.version = v;
                    return Ok(());
                }
                // Another process wrote a request (or an abort) since: take it, keep this run's progress.
                Err(StoreError::Conflict { .. } | StoreError::Stale { .. }) => self.merge_remote(st).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { location: self.store.location(), expected: st.version.clone() }.into())
    }

    /// Takes what other processes may write (requests, abort) from the stored checkpoint.
    async fn merge_remote(&self, st: &mut Stored) -> Result<(), EngineError> {
        if self.store.version().await?.is_some_and(|v| v == st.version) {
            return Ok(());
        }
        if let Some(remote) = self.store.load().await? {
            if remote.version == st.version {
                return Ok(());
            }
            st.checkpoint.requests = remote.checkpoint.requests.clone();
            if remote.checkpoint.status == RunStatus::Aborted {
                st.checkpoint.status = RunStatus::Aborted;
            }
            st.checkpoint.seq = st.checkpoint.seq.max(remote.checkpoint.seq);
            st.version = remote.version;
        }
        Ok(())
    }

    /// Re-reads requests written by other processes (cheap when nothing changed: one read).
    async fn poll_requests(&self, st: &mut Stored) -> Result<(), EngineError> {
        self.merge_remote(st).await
    }

    fn hook(&self, point: StepPoint) -> Result<(), EngineError> {
        match &self.hook {
            Some(h) if !h(&point) => Err(EngineError::Halted(format!("{point:?}"))),
            _ => Ok(()),
        }
    }
}
