//! `plan --rehearse`: the plan run by the upgrade engine itself on an in-process kubesim seeded from the
//! snapshot, in virtual time, with the `sim` provider, exactly as `upgrade` runs it on a real cluster. The
//! result is the report's timeline: phases, batches, where budgets made evictions wait, the total.

pub mod seed;
pub mod timeline;

use std::sync::Arc;
use std::time::Duration;

use kubesim::scenario::{Dur, Timings};
use kubesim::{SimOptions, Simulator};
use poolshift_provider_api::NodeMatcher;
use poolshift_provider_sim::SimProvider;

use crate::engine::Outcome;
use crate::model::plan::UpgradePlan;
use crate::model::review::Rehearsal;
use crate::model::snapshot::{Listed, Snapshot};
use crate::plan::target::TargetPolicy;
use crate::ports::Clock;
use crate::session::{Session, StateLocation};
use crate::time::TokioClock;
use timeline::TimedReporter;

#[derive(Debug, thiserror::Error)]
pub enum RehearsalError {
    #[error("rehearsal: cannot copy the cluster into the simulator: {0}")]
    Seed(String),
    #[error("rehearsal: {0}")]
    Scenario(#[from] kubesim::scenario::ScenarioError),
    #[error("rehearsal: planning on the simulated copy: {0}")]
    Plan(#[from] crate::session::SessionError),
    #[error("rehearsal: the engine failed on the simulated copy: {0}")]
    Engine(#[from] crate::engine::EngineError),
    #[error("rehearsal: cannot start its runtime: {0}")]
    Runtime(std::io::Error),
    #[error("rehearsal: its thread panicked")]
    Panicked,
}

/// How the simulated copy behaves where the snapshot cannot tell.
#[derive(Debug, Clone)]
pub struct Options {
    pub pod_start: Duration,
    pub pod_ready: Duration,
    pub pod_termination: Duration,
    pub pool_provision: Duration,
    pub node_ready: Duration,
    pub pool_delete: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self::from(&Timings::default())
    }
}

/// A scenario's timings (the simulator's defaults, or a scenario file's `timings`).
impl From<&Timings> for Options {
    fn from(t: &Timings) -> Self {
        Self {
            pod_start: t.pod_start.0,
            pod_ready: t.pod_ready.0,
            pod_termination: t.pod_termination.0,
            pool_provision: t.pool_provision.0,
            node_ready: t.node_ready.0,
            pool_delete: t.pool_delete.0,
        }
    }
}

impl Options {
    fn timings(&self) -> Timings {
        Timings {
            pod_start: Dur(self.pod_start),
            pod_ready: Dur(self.pod_ready),
            pod_termination: Dur(self.pod_termination),
            pool_provision: Dur(self.pool_provision),
            node_ready: Dur(self.node_ready),
            pool_delete: Dur(self.pool_delete),
            ..Timings::default()
        }
    }
}

fn secs(d: Duration) -> String {
    crate::report::facts::seconds(d.as_secs_f64())
}

/// Rehearses `plan` on a copy of `snapshot`. Must run on a tokio runtime with paused time (virtual time):
/// see [`rehearse_blocking`].
pub async fn rehearse(
    snapshot: &Snapshot,
    plan: &UpgradePlan,
    matcher: &NodeMatcher,
    options: &Options,
) -> Result<Rehearsal, RehearsalError> {
    let seeded = seed::scenario(snapshot, plan, matcher, &options.timings()).map_err(RehearsalError::Seed)?;
    let sim = Simulator::from_scenario(&seeded.scenario, SimOptions { seed: 1, speed: 1.0 })?;
    let client = sim.client();
    let clock = Arc::new(TokioClock::starting_at(sim.store().clock().now(), 1.0));
    let reporter = Arc::new(TimedReporter::new(clock.clone() as Arc<dyn Clock>));
    let provider = Arc::new(SimProvider::new(client.clone()));
    // The checkpoint goes to a scratch file: a large plan does not fit a ConfigMap, and nothing of the
    // rehearsal is kept.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let state = std::env::temp_dir().join(format!("poolshift-rehearsal-{}-{nanos}.json", std::process::id()));
    let session = Session::new(
        client,
        provider,
        &plan.cluster,
        &seeded.blue,
        StateLocation::File(state.clone()),
        clock,
        reporter.clone(),
        "rehearsal",
    );
    let mut policy = plan.policy.clone();
    policy.force_allowed = false;
    // Planned as `upgrade` plans (same planner, same provider calls), from the copy's objects as its store
    // holds them: the same objects a LIST returns, without encoding a large cluster to JSON and back.
    let copy = session.plan_from(&snapshot_of(&sim), &TargetPolicy::Exact(plan.target.version), &policy).await?;
    let outcome = session.engine.start(copy).await;
    let _ = std::fs::remove_file(&state);
    let outcome = outcome?;
    let total = reporter.now();
    let outcome = match outcome {
        Outcome::Done(_) => "done".to_string(),
        Outcome::Blocked { reason, .. } => format!("stopped for an operator: {reason}"),
        Outcome::Paused(r) => format!("paused: {r}"),
        Outcome::Failed(r) => format!("failed: {r}"),
        Outcome::RolledBack => "rolled back".into(),
        Outcome::Aborted => "aborted".into(),
    };
    let (phases, batches) = timeline::build(&reporter.events(), total);
    let mut assumptions = vec![
        format!(
            "pods start {} after being bound, are Ready {} later and terminate in {} (--pod-start, --pod-ready, \
             --pod-termination)",
            secs(options.pod_start),
            secs(options.pod_ready),
            secs(options.pod_termination)
        ),
        format!(
            "green's nodes appear {} after it is created and are Ready {} later; a pool is deleted in {} \
             (--pool-provision, --node-ready, --pool-delete)",
            secs(options.pool_provision),
            secs(options.node_ready),
            secs(options.pool_delete)
        ),
    ];
    assumptions.extend(seeded.notes);
    assumptions.push(
        "evictions refused by a budget are retried with the engine's jittered backoff: waits vary a little from \
         run to run"
            .into(),
    );
    Ok(Rehearsal { outcome, total_seconds: total, phases, batches, assumptions })
}

/// The snapshot of a simulated cluster, from its store (what `KubeCluster::snapshot` would list from it).
pub fn snapshot_of(sim: &Simulator) -> Snapshot {
    let st = sim.store().lock();
    Snapshot::from_listed(Listed {
        server_version: format!("v{}", st.version),
        nodes: st.nodes.iter().map(AsRef::as_ref).collect(),
        pods: st.pods.iter().map(AsRef::as_ref).collect(),
        pdbs: st.pdbs.iter().map(AsRef::as_ref).collect(),
        deployments: st.deployments.iter().map(AsRef::as_ref).collect(),
        statefulsets: st.statefulsets.iter().map(AsRef::as_ref).collect(),
        replicasets: st.replicasets.iter().map(AsRef::as_ref).collect(),
        volumes: None,
    })
}

/// Runs [`rehearse`] on its own thread with a current-thread runtime in paused (virtual) time, so that
/// hours of simulated upgrade take seconds, whatever runtime the caller is on.
pub fn rehearse_blocking(
    snapshot: &Snapshot,
    plan: &UpgradePlan,
    matcher: &NodeMatcher,
    options: &Options,
) -> Result<Rehearsal, RehearsalError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .map_err(RehearsalError::Runtime)?;
            let result = rt.block_on(rehearse(snapshot, plan, matcher, options));
            // The runtime's tasks still hold the simulated cluster (for a large snapshot, gigabytes in
            // millions of allocations): it is freed on a thread of its own while the caller goes on.
            std::thread::spawn(move || drop(rt));
            result
        })
        .join()
        .unwrap_or(Err(RehearsalError::Panicked))
    })
}
