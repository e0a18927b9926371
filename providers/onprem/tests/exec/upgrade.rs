//! Whole upgrades through the real engine (`poolshift::session::Session`, as `poolshift upgrade --yes`
//! builds it) with the on-prem providers instead of the sim provider: Done, and the simulator's invariant
//! recorder saw no PDB violation and no lost pod.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift::engine::Outcome;
use poolshift::model::policy::{BatchSize, Policy};
use poolshift::plan::target::TargetPolicy;
use poolshift::ports::report::{Event, RecordingReporter};
use poolshift::session::{Session, StateLocation};
use poolshift::time::TokioClock;
use poolshift_provider_api::Provider;
use poolshift_provider_onprem::{PreProvisioned, PreProvisionedSettings};
use serde_json::json;

use super::support::{SPEED, TcpSim, join_nodes, kubesim_provider, sim_request};

fn policy() -> Policy {
    Policy {
        batch: BatchSize::Percent(20),
        batch_soak: Duration::from_secs(15),
        pool_soak: Duration::from_secs(30),
        drain_timeout: Duration::from_secs(600),
        max_in_flight: 25,
        ..Default::default()
    }
}

fn session(
    client: kube::Client,
    provider: Arc<dyn Provider>,
    clock: Arc<TokioClock>,
    r: Arc<RecordingReporter>,
) -> Session {
    let mut s = Session::new(client, provider, "onprem", "blue", StateLocation::ConfigMap, clock, r, "agent");
    s.engine.tick = Duration::from_secs(2);
    s
}

fn assert_safe(sim: &Simulator) {
    let r = sim.store().lock().recorder.summary();
    assert_eq!(r.pdb_violations, 0, "PDB violations: {r:?}");
    assert_eq!(r.lost_pods, 0, "lost pods: {r:?}");
    assert_eq!(r.nodes_deleted_with_pods, 0, "nodes deleted with pods: {r:?}");
}

/// The demo cluster (10 blue nodes, 156 pods, PDBs of every kind) without its deliberately blocking
/// single-replica budget, upgraded through the reference kubesim plugin: the plugin creates the green
/// pool's nodes over TCP, the engine drains blue in-process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_upgrade_through_the_exec_plugin() {
    let mut scenario = Scenario::builtin("demo").unwrap();
    scenario.workloads.retain(|w| w.name != "legacy-reporting");
    let sim = TcpSim::start(&scenario).await;
    let client = sim.sim.client();
    let clock = Arc::new(TokioClock::starting_at(sim.sim.store().clock().now(), SPEED));
    let reporter = Arc::new(RecordingReporter::new());
    let provider: Arc<dyn Provider> = Arc::new(kubesim_provider(&sim.url));
    let s = session(client.clone(), provider, clock, reporter.clone());

    let plan = s.plan(&TargetPolicy::Exact("1.31.4".parse().unwrap()), &policy()).await.unwrap();
    assert_eq!(plan.green.name, "blue-v1-31-4");
    assert_eq!(plan.blocked().count(), 0, "{:?}", plan.findings);
    let out = s.engine.start(plan).await.unwrap();
    let Outcome::Done(summary) = out else { panic!("expected Done, got {out:?}") };
    assert!(summary.moved > 100, "{summary:?}");
    assert_safe(&sim.sim);

    // The plugin created green and deleted blue in the simulated cloud.
    let pools = sim.pools().await;
    let names: Vec<&str> = pools["items"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, vec!["blue-v1-31-4"]);
    let green = sim_request(&client, "GET", "/sim/v1/pools/blue-v1-31-4", None).await;
    assert_eq!(green["spec"]["version"], "1.31.4");
    assert_eq!(green["spec"]["size"], 10);
    assert_eq!(reporter.matching(|e| matches!(e, Event::BlueDeleted { .. })).len(), 1);
}

/// Pre-provisioned: the operator's automation joins the green nodes a while after poolshift asks for
/// them; at the end the blue nodes are handed back (cordoned, empty), not deleted.
#[tokio::test(start_paused = true)]
async fn full_upgrade_with_pre_provisioned_nodes() {
    let yaml = "name: racks
seed: 7
cluster:
  version: 1.31.4
timings: {pool_provision: 30s, node_ready: 10s, pool_delete: 10s, pod_start: 1s, pod_ready: 2s, pod_termination: 1s}
pools:
  - {name: blue, version: 1.30.8, size: 4, zones: [rack-a, rack-b]}
workloads:
  - {kind: Deployment, name: web, namespace: shop, replicas: 8, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 2}}
  - {kind: Deployment, name: api, namespace: shop, replicas: 6, requests: {cpu: 100m, memory: 64Mi}, pdb: {min_available: \"50%\"}}
  - {kind: StatefulSet, name: db, namespace: data, replicas: 3, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}
  - {kind: DaemonSet, name: agent, namespace: kube-system, requests: {cpu: 10m, memory: 16Mi}}
";
    let scenario = Scenario::parse(yaml, "<racks>").unwrap();
    let sim = Simulator::from_scenario(&scenario, SimOptions { seed: 7, speed: 1.0 }).unwrap();
    let client = sim.client();
    let settings = PreProvisionedSettings {
        label: "example.com/generation=g2".into(),
        blue_label: "kubesim.io/pool=blue".into(),
        expected_nodes: 4,
        retire_command: None,
        retire_timeout: Duration::from_secs(60),
    };
    let provider: Arc<dyn Provider> = Arc::new(PreProvisioned::new(client.clone(), settings).unwrap());
    let clock = Arc::new(TokioClock::starting_at(sim.store().clock().now(), 1.0));
    let reporter = Arc::new(RecordingReporter::new());
    let s = session(client.clone(), provider, clock, reporter.clone());
    let plan = s.plan(&TargetPolicy::Exact("1.31.4".parse().unwrap()), &policy()).await.unwrap();
    assert_eq!(plan.green.name, "g2");

    // The automation: four machines reinstalled at 1.31.4 join a minute later.
    let automation = client.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        join_nodes(&automation, "rack-c", "1.31.4", 4, json!({"example.com/generation": "g2"})).await;
    });
    let out = s.engine.start(plan).await.unwrap();
    let Outcome::Done(summary) = out else { panic!("expected Done, got {out:?}") };
    assert_eq!(summary.moved, 17, "{summary:?}");
    assert_safe(&sim);

    // Blue's machines are still there for the operator, cordoned and without workloads.
    let nodes: Api<Node> = Api::all(client.clone());
    let blue = nodes.list(&ListParams::default().labels("kubesim.io/pool=blue")).await.unwrap().items;
    assert_eq!(blue.len(), 4);
    assert!(blue.iter().all(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)));
    let by_pool = sim.store().lock().recorder.summary().evictions_by_pool;
    assert_eq!(by_pool.keys().collect::<Vec<_>>(), vec!["blue"], "evictions only from blue: {by_pool:?}");
}
