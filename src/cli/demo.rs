//! `poolshift demo`: the first command a new user runs. It starts the simulated demo cluster in-process
//! (accelerated clock), plans the upgrade of its blue pool to the next minor version, runs it with live
//! progress through the real engine and the `sim` provider, and ends with a summary: duration, pods moved,
//! PDB violations and lost pods from the simulator's invariant recorder, API requests.
//!
//! The demo cluster has one single-replica Deployment whose PDB (minAvailable 1) blocks every eviction.
//! poolshift reports it and stops rather than break the budget; the demo then plays the operator: it
//! applies the usual fix (a second replica, so the budget has room) and resumes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kubesim::{SimOptions, Simulator};
use poolshift_provider_sim::SimProvider;

use super::args::DemoArgs;
use super::error::CliError;
use super::progress::TerminalProgress;
use crate::engine::{Outcome, Summary};
use crate::exit::Exit;
use crate::model::checkpoint::Blocker;
use crate::model::policy::{BatchSize, Policy};
use crate::plan::target::{DEFAULT_MATURITY, TargetPolicy};
use crate::ports::Clock;
use crate::session::{Session, StateLocation, holder_identity};
use crate::time::TokioClock;

/// Simulated seconds per real second: provisioning and kubelet delays of minutes pass in seconds.
const DEMO_SPEED: f64 = 40.0;
/// The pool the demo upgrades.
const DEMO_POOL: &str = "blue";

fn demo_policy() -> Policy {
    Policy {
        batch: BatchSize::Percent(20),
        batch_soak: Duration::from_secs(15),
        pool_soak: Duration::from_secs(30),
        drain_timeout: Duration::from_secs(600),
        max_in_flight: 25,
        ..Default::default()
    }
}

pub async fn run(args: &DemoArgs) -> Result<Exit, CliError> {
    // The demo cluster is built into the binary, so an installed poolshift (or the container) runs it anywhere.
    let scenario = match &args.scenario {
        Some(p) => super::scenario::load(p)?,
        None => kubesim::scenario::Scenario::builtin("demo")?,
    };
    let sim = Simulator::from_scenario(&scenario, SimOptions { seed: scenario.seed, speed: DEMO_SPEED })?;
    let client = sim.client();
    let wall = Instant::now();
    let clock = Arc::new(TokioClock::starting_at(sim.store().clock().now(), DEMO_SPEED));
    let progress = Arc::new(TerminalProgress::new(clock.clone(), false));
    let provider = Arc::new(SimProvider::new(client.clone()));
    let session = Session::new(
        client.clone(),
        provider,
        &scenario.name,
        DEMO_POOL,
        StateLocation::ConfigMap,
        clock.clone(),
        progress,
        &holder_identity(),
    );
    let view = crate::cluster_view::ClusterView::fetch(&client, &scenario.name).await?;
    super::write_stdout(format!("{}\n", view.render()).as_bytes())?;
    let policy = demo_policy();
    let plan = session.plan(&TargetPolicy::NextMinor { maturity: DEFAULT_MATURITY }, &policy).await?;
    let mut out = String::new();
    out.push_str(&format!(
        "poolshift demo on simulated cluster {:?} (clock x{DEMO_SPEED})\n\nplan: pool {} {} -> {} ({}); green pool {}\n",
        scenario.name, plan.pool, plan.blue.version, plan.target.version, plan.target.reason, plan.green.name
    ));
    out.push_str(&format!(
        "      {} blue nodes in {} batches, {} pods to move, {} blocked\n",
        plan.blue_nodes.len(),
        plan.batches.len(),
        plan.to_evict(),
        plan.blocked().count()
    ));
    for f in plan.findings.iter().filter(|f| f.severity == crate::model::plan::Severity::Blocker) {
        out.push_str(&format!("      blocker: {} [{}]\n", f.message, f.objects.join(", ")));
    }
    out.push('\n');
    super::write_stdout(out.as_bytes())?;
    if !args.yes && !super::prompt::confirm("Run the upgrade on the simulated cluster?")? {
        super::write_stdout(b"Nothing changed.\n")?;
        return Ok(Exit::Done);
    }

    let interrupt = session.engine.interrupt.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut outcome = session.engine.start(plan).await?;
    if let Outcome::Blocked { blockers, .. } = &outcome {
        let fixed = give_budgets_room(&client, blockers).await?;
        if !fixed.is_empty() {
            let msg = format!(
                "\noperator (played by the demo): scaling {} to 2 replicas so its PDB allows one disruption, then `poolshift resume`\n\n",
                fixed.join(", ")
            );
            super::write_stdout(msg.as_bytes())?;
            // As an operator would (`kubectl rollout status`, then a look at the PDB): resume once the budget
            // allows the disruption, not while the new replica is still starting.
            wait_for_room(&client, blockers, clock.as_ref()).await?;
            outcome = session.engine.resume().await?;
        }
    }
    let recorder = sim.store().lock().recorder.summary();
    let simulated = session.engine.clock.elapsed();
    let summary = match &outcome {
        Outcome::Done(s) => Some(s.clone()),
        _ => None,
    };
    super::write_stdout(render_summary(&outcome, summary.as_ref(), &recorder, simulated, wall.elapsed()).as_bytes())?;
    Ok(match outcome {
        Outcome::Done(_) | Outcome::RolledBack | Outcome::Aborted => Exit::Done,
        Outcome::Paused(_) => Exit::Paused,
        Outcome::Blocked { .. } => Exit::Blocked,
        Outcome::Failed(_) => Exit::Failed,
    })
}

/// Waits (on the simulated clock, at most ten simulated minutes) until every blocker's PDB allows a
/// disruption.
async fn wait_for_room(client: &kube::Client, blockers: &[Blocker], clock: &dyn Clock) -> Result<(), CliError> {
    let deadline = clock.elapsed() + Duration::from_secs(600);
    for pdb in blockers.iter().filter_map(|b| b.pdb.as_ref()) {
        let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &pdb.namespace);
        loop {
            let allowed = api
                .get_opt(&pdb.name)
                .await?
                .and_then(|p| p.status)
                .is_some_and(|s| s.disruptions_allowed.unwrap_or(0) > 0);
            if allowed || clock.elapsed() >= deadline {
                break;
            }
            clock.sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(())
}

/// For blocked single-replica Deployments, the usual remedy: a second replica. Returns what was scaled.
async fn give_budgets_room(client: &kube::Client, blockers: &[Blocker]) -> Result<Vec<String>, CliError> {
    let mut scaled = Vec::new();
    for b in blockers {
        let Some(key) = b.pod.pod() else { continue };
        let ns = key.namespace.as_str();
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let Some(pod) = pods.get_opt(&key.name).await? else { continue };
        let Some(rs_ref) = pod.metadata.owner_references.iter().flatten().find(|r| r.kind == "ReplicaSet") else {
            continue;
        };
        let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
        let Some(rs) = rss.get_opt(&rs_ref.name).await? else { continue };
        let Some(d_ref) = rs.metadata.owner_references.iter().flatten().find(|r| r.kind == "Deployment") else {
            continue;
        };
        let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let Some(d) = deploys.get_opt(&d_ref.name).await? else { continue };
        if d.spec.replicas == Some(1) {
            let patch = serde_json::json!({"spec": {"replicas": 2}});
            deploys.patch(&d_ref.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
            scaled.push(format!("deployment {ns}/{}", d_ref.name));
        }
    }
    Ok(scaled)
}

fn render_summary(
    outcome: &Outcome,
    summary: Option<&Summary>,
    rec: &kubesim::recorder::Summary,
    simulated: Duration,
    wall: Duration,
) -> String {
    let mut s = String::from("\n== summary ==\n");
    let result = match outcome {
        Outcome::Done(_) => "done".to_string(),
        Outcome::Paused(r) => format!("paused: {r}"),
        Outcome::Blocked { reason, .. } => format!("blocked: {reason}"),
        Outcome::RolledBack => "rolled back".into(),
        Outcome::Aborted => "aborted".into(),
        Outcome::Failed(r) => format!("failed: {r}"),
    };
    s.push_str(&format!("result:                    {result}\n"));
    s.push_str(&format!(
        "duration:                  {} simulated ({:.1}s wall clock)\n",
        crate::text_table::duration(simulated),
        wall.as_secs_f64()
    ));
    if let Some(sum) = summary {
        s.push_str(&format!("pods moved:                {} in {} batches\n", sum.moved, sum.batches));
        s.push_str(&format!("green pool:                {}\n", sum.green));
        if sum.moved > 0 {
            s.push_str(&format!("API requests per pod:      {:.2}\n", rec.total_requests as f64 / sum.moved as f64));
        }
    }
    s.push_str(&format!("{rec}\n"));
    s
}
