//! Builds a simulated cluster from an inline scenario and an engine session wired to it.

use std::sync::Arc;
use std::time::Duration;

use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift::engine::Outcome;
use poolshift::model::plan::UpgradePlan;
use poolshift::model::policy::{BatchSize, Policy};
use poolshift::plan::target::TargetPolicy;
use poolshift::ports::report::{Event, RecordingReporter};
use poolshift::session::{Session, StateLocation};
use poolshift::time::TokioClock;
use poolshift_provider_api::Provider;
use poolshift_provider_sim::SimProvider;

pub struct Rig {
    pub sim: Simulator,
    pub client: kube::Client,
    pub reporter: Arc<RecordingReporter>,
    pub clock: Arc<TokioClock>,
}

/// A scenario with one blue pool; `workloads` is the YAML list of workloads (indented by 2).
pub fn scenario(nodes: u32, workloads: &str, extra: &str) -> String {
    format!(
        "name: test
seed: 7
cluster:
  version: 1.31.4
timings:
  pool_provision: 30s
  node_ready: 10s
  pool_delete: 10s
  pod_start: 1s
  pod_ready: 2s
  pod_termination: 1s
pools:
  - name: blue
    version: 1.30.8
    size: {nodes}
    instance_type: m5.xlarge
    allocatable: {{cpu: \"4\", memory: 16Gi, pods: 110}}
    zones: [a, b]
    autoscaling: {{enabled: true, min: {nodes}, max: 20}}
workloads:
{workloads}
{extra}"
    )
}

pub fn rig(yaml: &str) -> Rig {
    let sc = Scenario::parse(yaml, "<test scenario>").expect("scenario parses");
    let sim = Simulator::from_scenario(&sc, SimOptions { seed: sc.seed, speed: 1.0 }).expect("scenario loads");
    let client = sim.client();
    let clock = Arc::new(TokioClock::starting_at(sim.store().clock().now(), 1.0));
    Rig { sim, client, reporter: Arc::new(RecordingReporter::new()), clock }
}

pub fn policy() -> Policy {
    Policy {
        batch: BatchSize::Percent(50),
        batch_soak: Duration::from_secs(10),
        pool_soak: Duration::from_secs(30),
        drain_timeout: Duration::from_secs(600),
        ..Default::default()
    }
}

impl Rig {
    /// A session (an agent process) named `holder`, checkpointing in a ConfigMap.
    pub fn session(&self, holder: &str) -> Session {
        self.session_with(holder, Arc::new(SimProvider::new(self.client.clone())))
    }

    /// [`Rig::session`] with another provider (a wrapper that fails chosen calls).
    pub fn session_with(&self, holder: &str, provider: Arc<dyn Provider>) -> Session {
        let mut s = Session::new(
            self.client.clone(),
            provider,
            "test",
            "blue",
            StateLocation::ConfigMap,
            self.clock.clone(),
            self.reporter.clone(),
            holder,
        );
        s.engine.tick = Duration::from_secs(2);
        s
    }

    pub async fn plan(&self, policy: &Policy) -> UpgradePlan {
        self.session("planner").plan(&TargetPolicy::Exact("1.31.4".parse().unwrap()), policy).await.expect("plan")
    }

    pub async fn upgrade(&self, policy: &Policy) -> Outcome {
        let plan = self.plan(policy).await;
        self.session("agent").engine.start(plan).await.expect("engine runs")
    }

    /// Waits (in virtual time) until the reporter has an event matching `what`.
    pub async fn wait_for_event(&self, what: impl Fn(&poolshift::ports::report::Event) -> bool) {
        for _ in 0..10_000 {
            if !self.reporter.matching(&what).is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("event never reported");
    }

    pub fn recorder(&self) -> kubesim::recorder::Summary {
        self.sim.store().lock().recorder.summary()
    }

    /// The invariants every test checks.
    pub fn assert_safe(&self) {
        self.assert_safe_evicting_from(&["blue"]);
    }

    /// The invariants, with evictions allowed from `pools` (a rollback drains green too).
    pub fn assert_safe_evicting_from(&self, pools: &[&str]) {
        let r = self.recorder();
        assert_eq!(r.pdb_violations, 0, "PDB violations: {r:?}");
        assert_eq!(r.lost_pods, 0, "lost pods: {r:?}");
        assert_eq!(r.nodes_deleted_with_pods, 0, "nodes deleted with pods: {r:?}");
        let outside: u64 =
            r.evictions_by_pool.iter().filter(|(p, _)| !pools.contains(&p.as_str())).map(|(_, n)| n).sum();
        assert_eq!(outside, 0, "evictions outside {pools:?}: {r:?}");
    }

    pub fn pools(&self) -> Vec<String> {
        let st = self.sim.store().lock();
        st.cloud.pools().into_iter().map(|p| p.name).collect()
    }

    /// Pods (namespace/name) on nodes of `pool` that are workloads (not DaemonSet, not finished).
    pub fn workload_pods_on(&self, pool: &str) -> Vec<String> {
        let st = self.sim.store().lock();
        let nodes: Vec<String> = st
            .nodes
            .iter()
            .filter(|n| {
                n.metadata.labels.as_ref().and_then(|l| l.get("kubesim.io/pool")).map(String::as_str) == Some(pool)
            })
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        st.pods
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| nodes.contains(n)))
            .filter(|p| kubesim::store::kinds::is_workload_pod(p))
            .map(|p| {
                format!(
                    "{}/{}",
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Nodes cordoned now (`spec.unschedulable`), by name.
    pub fn cordoned(&self) -> Vec<String> {
        let st = self.sim.store().lock();
        st.nodes
            .iter()
            .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false))
            .filter_map(|n| n.metadata.name.clone())
            .collect()
    }

    /// The run's checkpoint as stored now.
    pub async fn checkpoint(&self) -> poolshift::model::checkpoint::Checkpoint {
        self.session("reader").engine.store.load().await.expect("load").expect("a checkpoint").checkpoint
    }

    pub fn evicted_events(&self) -> usize {
        self.reporter.matching(|e| matches!(e, Event::PodEvicted { .. })).len()
    }
}
