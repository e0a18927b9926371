//! Gates on the simulated cluster: the built-in checks pass a healthy run and block one whose replacements
//! stay Pending (with what is wrong, in the outcome and the checkpoint); an operator's command passes or
//! blocks by its exit code, sees the run's context in its environment, and is asked again on resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use poolshift::engine::Outcome;
use poolshift::gates::{CommandGate, GateCommand, HealthGate, HealthSettings};
use poolshift::model::checkpoint::{Phase, RunStatus};
use poolshift::model::identity::WorkloadKey;
use poolshift::model::stop::{StopKind, StopPoint};
use poolshift::ports::exec::CommandOutcome;
use poolshift::ports::fake::ScriptedCommands;
use poolshift::ports::gate::{GateInput, Gatekeeper, Verdict};
use poolshift::ports::report::Event;

use super::harness::{Rig, policy, rig, scenario};

fn cluster() -> String {
    scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 6, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        "",
    )
}

fn health(r: &Rig) -> Arc<HealthGate> {
    let settings = HealthSettings { pending_timeout: Duration::from_secs(60), ready_timeout: Duration::from_secs(300) };
    Arc::new(HealthGate::new(settings, r.clock.clone()))
}

fn passed_by(r: &Rig) -> Vec<(StopPoint, Vec<String>)> {
    r.reporter
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::StopPassed { at, by } => Some((at, by)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_built_in_checks_pass_a_healthy_run() {
    let r = rig(&cluster());
    let plan = r.plan(&policy()).await;
    let mut agent = r.session("agent-1");
    agent.engine.gatekeepers = vec![health(&r)];
    let out = agent.engine.start(plan).await.expect("engine runs");
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let by_checks: Vec<StopPoint> =
        passed_by(&r).into_iter().filter(|(_, by)| by == &["gate checks".to_string()]).map(|(at, _)| at).collect();
    assert_eq!(
        by_checks,
        vec![
            StopPoint::GreenReady,
            StopPoint::BeforeFirstBatch,
            StopPoint::AfterBatch { batch: 0, of: 2 },
            StopPoint::AfterBatch { batch: 1, of: 2 },
            StopPoint::BeforeBlueDeletion
        ],
        "asked at every point (and passing at once where it has nothing to check)"
    );
    r.assert_safe();
}

/// Scales `shop/web` to `replicas` the first time the run passes the first batch: more replicas than
/// green can hold leaves replacements Pending.
struct ScaleOnce {
    r: kube::Client,
    replicas: i32,
    done: AtomicBool,
}

#[async_trait]
impl Gatekeeper for ScaleOnce {
    fn name(&self) -> String {
        "test: scale web".into()
    }

    async fn check(&self, at: StopPoint, input: &GateInput) -> Verdict {
        if at == (StopPoint::AfterBatch { batch: 0, of: 2 }) && !self.done.swap(true, Ordering::SeqCst) {
            let api: kube::Api<Deployment> = kube::Api::namespaced(self.r.clone(), "shop");
            let patch = serde_json::json!({"spec": {"replicas": self.replicas}});
            api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("scale web");
            // The checks see the cluster through the watch-fed view: wait until it shows the new scale.
            let web = WorkloadKey::new("Deployment", "shop", "web");
            while input.live.scale(&web) != Some(self.replicas) {
                input.live.changed().await.expect("the view follows the cluster");
            }
        }
        Verdict::Pass
    }
}

#[tokio::test(start_paused = true)]
async fn replacements_pending_past_the_threshold_block_the_run_until_fixed() {
    let r = rig(&cluster());
    let plan = r.plan(&policy()).await;
    let mut agent = r.session("agent-1");
    // Green has 4 nodes of 4 CPUs; 200 pods of 100m cannot all fit.
    let scale = Arc::new(ScaleOnce { r: r.client.clone(), replicas: 200, done: AtomicBool::new(false) });
    agent.engine.gatekeepers = vec![scale.clone(), health(&r)];
    let out = agent.engine.start(plan).await.expect("engine runs");
    let Outcome::Blocked { reason, blockers } = out else { panic!("{out:?}") };
    assert!(
        reason.starts_with(
            "gate checks failed: a replacement stayed Pending for 1m0s: Deployment/shop/web: replacement shop/web-"
        ),
        "{reason}"
    );
    assert!(reason.contains("Insufficient cpu"), "the scheduler's message: {reason}");
    assert!(blockers.is_empty());
    let cp = r.checkpoint().await;
    assert_eq!(cp.status, RunStatus::Blocked(reason));
    assert_eq!(cp.phase, Phase::Draining { batch: 1, of: 2 }, "stopped before the second batch");
    assert!(
        cp.history.iter().any(|h| h.message.contains("gate checks: output:\n") && h.message.contains("replicas ready")),
        "every problem recorded: {:?}",
        cp.history
    );
    let failed = r.reporter.events().into_iter().find_map(|e| match e {
        Event::GateFailed { gate, output, .. } => Some((gate, output)),
        _ => None,
    });
    let (gate, output) = failed.expect("the failure is reported with its output");
    assert_eq!(gate, "gate checks");
    assert!(output.contains("Pending for"), "{output}");

    // The operator scales back; resume asks the checks again, which pass, and the run finishes.
    let api: kube::Api<Deployment> = kube::Api::namespaced(r.client.clone(), "shop");
    api.patch("web", &PatchParams::default(), &Patch::Merge(&serde_json::json!({"spec": {"replicas": 6}})))
        .await
        .expect("scale back");
    let mut agent = r.session("agent-2");
    agent.engine.gatekeepers = vec![scale, health(&r)];
    let out = agent.engine.resume().await.expect("engine resumes");
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    r.assert_safe();
}

fn smoke(at: Vec<StopKind>) -> GateCommand {
    GateCommand {
        name: "smoke".into(),
        argv: vec!["./smoke.sh".into(), "--quick".into()],
        timeout: Duration::from_secs(30),
        at,
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_command_blocks_with_its_output_and_passes_on_resume() {
    let r = rig(&cluster());
    let commands = Arc::new(
        ScriptedCommands::new()
            .answer(CommandOutcome::Finished {
                success: true,
                exit: "exited with status 0".into(),
                output: "ok".into(),
            })
            .answer(CommandOutcome::Finished {
                success: false,
                exit: "exited with status 3".into(),
                output: "checking https://shop.example/health\np99 latency 840ms > 500ms\n".into(),
            }),
    );
    let gate = Arc::new(CommandGate::new(smoke(vec![StopKind::GreenReady, StopKind::AfterBatch]), commands.clone()));
    let plan = r.plan(&policy()).await;
    let mut agent = r.session("agent-1");
    agent.engine.gatekeepers = vec![gate.clone()];
    let out = agent.engine.start(plan).await.expect("engine runs");
    let Outcome::Blocked { reason, .. } = out else { panic!("{out:?}") };
    assert_eq!(
        reason,
        "gate smoke failed after batch 1 of 2: ./smoke.sh exited with status 3: p99 latency 840ms > 500ms"
    );
    let cp = r.checkpoint().await;
    assert_eq!(cp.phase, Phase::Draining { batch: 1, of: 2 });
    assert!(
        cp.history.iter().any(|h| h
            .message
            .ends_with("gate smoke: output:\nchecking https://shop.example/health\np99 latency 840ms > 500ms\n")),
        "{:?}",
        cp.history
    );

    // The block is told once, by the gate's own event.
    let told: Vec<&str> = r
        .reporter
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::GateFailed { .. } => Some("gate failed"),
            Event::Blocked { .. } => Some("blocked pods"),
            Event::RunBlocked { .. } => Some("run blocked"),
            _ => None,
        })
        .collect();
    assert_eq!(told, ["gate failed"]);

    // What the command saw: argv as configured, the run's context in its environment.
    let ran = commands.ran();
    assert_eq!(ran.len(), 2, "after green is Ready, then after batch 1");
    assert_eq!(ran[1].argv, vec!["./smoke.sh".to_string(), "--quick".into()]);
    assert_eq!(ran[1].timeout, Duration::from_secs(30));
    let env = |i: usize, k: &str| ran[i].env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(env(0, "POOLSHIFT_STOP").as_deref(), Some("green_ready"));
    assert_eq!(env(0, "POOLSHIFT_BATCH"), None);
    assert_eq!(env(1, "POOLSHIFT_STOP").as_deref(), Some("after_batch"));
    assert_eq!(env(1, "POOLSHIFT_BATCH").as_deref(), Some("1"));
    assert_eq!(env(1, "POOLSHIFT_BATCHES").as_deref(), Some("2"));
    assert_eq!(env(1, "POOLSHIFT_BATCH_NODES").as_deref(), Some(cp.batch_nodes(0).join(" ").as_str()));
    assert_eq!(env(1, "POOLSHIFT_GATE").as_deref(), Some("smoke"));
    assert_eq!(env(1, "POOLSHIFT_CLUSTER").as_deref(), Some("test"));
    assert_eq!(env(1, "POOLSHIFT_POOL").as_deref(), Some("blue"));
    assert_eq!(env(1, "POOLSHIFT_GREEN_POOL"), Some(cp.green.name.clone()));
    assert_eq!(env(1, "POOLSHIFT_RUN_ID"), Some(cp.run_id.clone()));
    assert_eq!(env(1, "POOLSHIFT_PLAN_ID"), Some(cp.plan_id.clone()));
    assert_eq!(env(1, "POOLSHIFT_FROM_VERSION").as_deref(), Some("1.30.8"));
    assert_eq!(env(1, "POOLSHIFT_TO_VERSION").as_deref(), Some("1.31.4"));
    assert_eq!(env(1, "POOLSHIFT_PODS_MOVED"), Some(cp.moved.to_string()));

    // Resume: the gate runs again where it failed (and passes), then after the last batch.
    let mut agent = r.session("agent-2");
    agent.engine.gatekeepers = vec![gate];
    let out = agent.engine.resume().await.expect("engine resumes");
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let stops: Vec<Option<String>> = commands
        .ran()
        .iter()
        .map(|c| c.env.iter().find(|(k, _)| k == "POOLSHIFT_BATCH").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(stops, vec![None, Some("1".into()), Some("1".into()), Some("2".into())]);
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn a_command_that_times_out_or_cannot_start_blocks_and_points_elsewhere_pass() {
    let r = rig(&cluster());
    let commands =
        Arc::new(ScriptedCommands::new().answer(CommandOutcome::TimedOut { output: "waiting for rollout".into() }));
    let gate = Arc::new(CommandGate::new(smoke(vec![StopKind::BeforeBlueDeletion]), commands.clone()));
    let plan = r.plan(&policy()).await;
    let mut agent = r.session("agent-1");
    agent.engine.gatekeepers = vec![gate];
    let out = agent.engine.start(plan).await.expect("engine runs");
    let Outcome::Blocked { reason, .. } = out else { panic!("{out:?}") };
    assert_eq!(
        reason,
        "gate smoke failed before blue is deleted: ./smoke.sh did not finish within 30s: waiting for rollout"
    );
    assert_eq!(commands.ran().len(), 1, "only at the point it names");
    assert_eq!(r.checkpoint().await.phase, Phase::DeletingBlue);
    assert!(r.pools().contains(&"blue".to_string()), "blue is not deleted");

    let commands = Arc::new(ScriptedCommands::new().answer(CommandOutcome::NotStarted {
        message: "cannot start ./smoke.sh: No such file or directory (os error 2)".into(),
    }));
    let mut agent = r.session("agent-2");
    agent.engine.gatekeepers = vec![Arc::new(CommandGate::new(smoke(vec![StopKind::BeforeBlueDeletion]), commands))];
    let out = agent.engine.resume().await.expect("engine resumes");
    let Outcome::Blocked { reason, .. } = out else { panic!("{out:?}") };
    assert_eq!(
        reason,
        "gate smoke failed before blue is deleted: ./smoke.sh could not start: cannot start ./smoke.sh: No such file or directory (os error 2)"
    );
    r.assert_safe();
}
