//! The reference benchmark R50 (issue 3): 50 blue nodes, about 1,500 pods, mixed PDBs.
//!
//! Run with: `cargo bench --bench r50`
//!
//! Runs twice on the same simulated cluster (in virtual time, so simulated seconds cost no wall time):
//! 1. poolshift: plan + engine, all blue nodes in one batch and no soaks (the lower bound has no batch
//!    structure and soaks are operator policy, not mechanics); then again with batches of 20 %, for reference;
//! 2. a node-by-node baseline that behaves like `kubectl drain <every blue node>`: cordon all, then one node at a
//!    time, all its pods evicted at once, a 5 s sleep after a 429, 1 s polling until each pod is gone.
//!
//! It prints, measured in this run: the makespan (start until every pod moved and its replacement is Ready),
//! the lower bound (green provisioning + the slowest PDB group: ceil(pods / allowed) x the time a replacement
//! takes to become Ready), their ratio (target <= 1.10), API requests per migrated pod (target <= 3), the
//! baseline's makespan and the speed-up (target >= 5x), and both runs' PDB violations (must be 0).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::ListParams;
use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift::engine::Outcome;
use poolshift::kube::cluster::KubeCluster;
use poolshift::model::checkpoint::Phase;
use poolshift::model::policy::{BatchSize, Policy};
use poolshift::plan::target::TargetPolicy;
use poolshift::ports::report::Event;
use poolshift::ports::{Clock, Cluster, EvictOutcome, PodRef, Reporter};
use poolshift::session::{Session, StateLocation};
use poolshift::time::TokioClock;
use poolshift_provider_api::{CreateToken, PoolSpec, PoolState, Provider};
use poolshift_provider_sim::SimProvider;

const TARGET: &str = "1.31.4";

struct Timeline {
    clock: Arc<TokioClock>,
    phases: Mutex<Vec<(Duration, Phase)>>,
}

impl Reporter for Timeline {
    fn event(&self, e: &Event) {
        if let Event::Phase { phase } = e {
            self.phases
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((self.clock.elapsed(), phase.clone()));
        }
    }
}

fn annotation_secs(p: &Pod, key: &str) -> f64 {
    p.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| {
            let v = v.trim();
            if let Some(ms) = v.strip_suffix("ms") {
                ms.parse::<f64>().ok().map(|x| x / 1000.0)
            } else if let Some(m) = v.strip_suffix('m') {
                m.parse::<f64>().ok().map(|x| x * 60.0)
            } else {
                v.trim_end_matches('s').parse::<f64>().ok()
            }
        })
        .unwrap_or(0.0)
}

/// Green provisioning + max over PDB groups of ceil(pods / allowed) x replacement-ready time.
fn lower_bound(sc: &Scenario, sim: &Simulator) -> (f64, String) {
    let st = sim.store().lock();
    let green = sc.timings.pool_provision.0.as_secs_f64() + sc.timings.node_ready.0.as_secs_f64();
    let mut worst = (0.0, String::new());
    for pdb in st.pdbs.iter() {
        let ns = pdb.metadata.namespace.clone().unwrap_or_default();
        let sel = kubesim::store::selector::Selector::from_label_selector(
            pdb.spec.as_ref().and_then(|s| s.selector.as_ref()),
        )
        .unwrap_or(kubesim::store::selector::Selector::Nothing);
        let pods: Vec<_> = st
            .pods
            .in_namespace(&ns)
            .filter(|p| sel.matches(p.metadata.labels.as_ref()))
            .filter(|p| kubesim::store::kinds::is_workload_pod(p))
            .collect();
        let allowed = pdb.status.as_ref().and_then(|s| s.disruptions_allowed).unwrap_or(0).max(1) as f64;
        let ready = pods
            .iter()
            .map(|p| {
                let sts = p.metadata.owner_references.iter().flatten().any(|r| r.kind == "StatefulSet");
                let term = if sts { annotation_secs(p, "kubesim.io/termination-delay") } else { 0.0 };
                annotation_secs(p, "kubesim.io/start-delay") + annotation_secs(p, "kubesim.io/ready-delay") + term
            })
            .fold(0.0, f64::max);
        let t = (pods.len() as f64 / allowed).ceil() * ready;
        if t > worst.0 {
            worst = (
                t,
                format!(
                    "{ns}/{} ({} pods, {allowed} allowed, {ready:.0}s each)",
                    pdb.metadata.name.clone().unwrap_or_default(),
                    pods.len()
                ),
            );
        }
    }
    (green + worst.0, format!("{green:.0}s green + {:.0}s for {}", worst.0, worst.1))
}

struct RunResult {
    makespan: f64,
    drain: f64,
    moved: u64,
    requests: u64,
    violations: u64,
    lost: u64,
}

async fn poolshift_run(sc: &Scenario, batch: BatchSize) -> (RunResult, f64, String) {
    let sim = Simulator::from_scenario(sc, SimOptions { seed: sc.seed, speed: 1.0 }).expect("R50 loads");
    let (bound, why) = lower_bound(sc, &sim);
    let client = sim.client();
    let clock = Arc::new(TokioClock::starting_at(sim.store().clock().now(), 1.0));
    let timeline = Arc::new(Timeline { clock: clock.clone(), phases: Mutex::new(Vec::new()) });
    let provider = Arc::new(SimProvider::new(client.clone()));
    let session = Session::new(
        client,
        provider,
        "r50",
        "blue",
        StateLocation::ConfigMap,
        clock.clone(),
        timeline.clone(),
        "bench",
    );
    let policy = Policy { batch, batch_soak: Duration::ZERO, pool_soak: Duration::ZERO, ..Default::default() };
    let before = sim.store().lock().recorder.summary().total_requests;
    let start = clock.elapsed();
    let plan = session.plan(&TargetPolicy::Exact(TARGET.parse().expect("version")), &policy).await.expect("plan");
    let out = session.engine.start(plan).await.expect("engine");
    let Outcome::Done(summary) = out else { panic!("R50 did not finish: {out:?}") };
    let phases = timeline.phases.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let at = |want: fn(&Phase) -> bool| {
        phases.iter().find(|(_, p)| want(p)).map(|(t, _)| (*t - start).as_secs_f64()).unwrap_or(0.0)
    };
    let drained = at(|p| matches!(p, Phase::PoolSoaking));
    let cordoned = at(|p| matches!(p, Phase::CordoningBlue));
    let rec = sim.store().lock().recorder.summary();
    (
        RunResult {
            makespan: drained,
            drain: drained - cordoned,
            moved: summary.moved,
            requests: rec.total_requests - before,
            violations: rec.pdb_violations,
            lost: rec.lost_pods,
        },
        bound,
        why,
    )
}

/// `kubectl drain` of every blue node, as the command does it.
async fn baseline_run(sc: &Scenario) -> RunResult {
    let sim = Simulator::from_scenario(sc, SimOptions { seed: sc.seed, speed: 1.0 }).expect("R50 loads");
    let client = sim.client();
    let before = sim.store().lock().recorder.summary().total_requests;
    let t0 = tokio::time::Instant::now();
    // The same green pool, waited for with 1 s polling.
    let provider = SimProvider::new(client.clone());
    let blue = provider.describe_pool("blue").await.expect("describe");
    let name = provider.green_name("blue", TARGET);
    provider
        .create_pool(&PoolSpec::derive(&blue, &name, TARGET), &CreateToken::new("bench", 1))
        .await
        .expect("create green");
    loop {
        if let Ok(Some(s)) = provider.pool_status(&name).await
            && s.state == PoolState::Ready
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let cordoned = t0.elapsed();
    let nodes: Api<Node> = Api::all(client.clone());
    let mut blue_nodes: Vec<String> = nodes
        .list(&ListParams::default().labels("kubesim.io/pool=blue"))
        .await
        .expect("nodes")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    blue_nodes.sort();
    let cluster = Arc::new(KubeCluster::new(client.clone()));
    for n in &blue_nodes {
        cluster.set_cordon(n, true, "baseline").await.expect("cordon");
    }
    let pods: Api<Pod> = Api::all(client.clone());
    let mut moved = 0u64;
    for n in &blue_nodes {
        let on_node =
            pods.list(&ListParams::default().fields(&format!("spec.nodeName={n}"))).await.expect("pods").items;
        let targets: Vec<PodRef> = on_node
            .iter()
            .filter(|p| kubesim::store::kinds::is_workload_pod(p))
            .map(|p| PodRef {
                namespace: p.metadata.namespace.clone().unwrap_or_default(),
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
            })
            .collect();
        moved += targets.len() as u64;
        let mut tasks = Vec::new();
        for pod in targets {
            let cluster = cluster.clone();
            let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
            tasks.push(tokio::spawn(async move {
                loop {
                    match cluster.evict(&pod, false).await {
                        Ok(EvictOutcome::Evicted | EvictOutcome::Gone | EvictOutcome::NamespaceTerminating) => break,
                        _ => tokio::time::sleep(Duration::from_secs(5)).await,
                    }
                }
                loop {
                    match api.get_opt(&pod.name).await {
                        Ok(Some(p)) if p.metadata.uid.as_deref() == Some(pod.uid.as_str()) => {}
                        _ => break,
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("drain task");
        }
    }
    // kubectl does not wait for replacements; for a fair makespan, wait until every workload is Ready again.
    loop {
        let all = pods.list(&ListParams::default()).await.expect("pods").items;
        let unready = all.iter().filter(|p| kubesim::store::kinds::is_workload_pod(p)).any(|p| {
            !p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        if !unready {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let end = t0.elapsed();
    let rec = sim.store().lock().recorder.summary();
    RunResult {
        makespan: end.as_secs_f64(),
        drain: (end - cordoned).as_secs_f64(),
        moved,
        requests: rec.total_requests - before,
        violations: rec.pdb_violations,
        lost: rec.lost_pods,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime");
    let sc = Scenario::builtin("r50").expect("builtin r50");
    let wall = std::time::Instant::now();
    let (ours, bound, why) = rt.block_on(poolshift_run(&sc, BatchSize::Percent(100)));
    let ours_wall = wall.elapsed();
    let (batched, _, _) = rt.block_on(poolshift_run(&sc, BatchSize::Percent(20)));
    let base = rt.block_on(baseline_run(&sc));
    println!(
        "R50: {} (simulated time; {:.1}s wall for the poolshift run)",
        sc.description.clone().unwrap_or_default(),
        ours_wall.as_secs_f64()
    );
    println!("lower bound:            {bound:.0}s = {why}");
    println!(
        "poolshift makespan:     {:.0}s (drain {:.0}s), ratio to the bound {:.3} (target <= 1.10)",
        ours.makespan,
        ours.drain,
        ours.makespan / bound
    );
    println!(
        "poolshift API requests: {} for {} pods moved = {:.2} per pod (target <= 3)",
        ours.requests,
        ours.moved,
        ours.requests as f64 / ours.moved.max(1) as f64
    );
    println!(
        "with 20% batches:       {:.0}s (drain {:.0}s), ratio {:.3}, {:.2} requests per pod, {} PDB violations",
        batched.makespan,
        batched.drain,
        batched.makespan / bound,
        batched.requests as f64 / batched.moved.max(1) as f64,
        batched.violations
    );
    println!(
        "baseline makespan:      {:.0}s (drain {:.0}s), {:.2} requests per pod",
        base.makespan,
        base.drain,
        base.requests as f64 / base.moved.max(1) as f64
    );
    println!(
        "speed-up:               {:.2}x whole run, {:.2}x drain phase (target >= 5x)",
        base.makespan / ours.makespan,
        base.drain / ours.drain
    );
    println!(
        "PDB violations:         poolshift {}, baseline {} (must be 0); lost pods {} / {}",
        ours.violations, base.violations, ours.lost, base.lost
    );
}
