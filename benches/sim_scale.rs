//! Scale benchmark of the upgrade agent (not a test): `poolshift upgrade --yes` as its own process against
//! `poolshift sim serve` with a generated cluster of 1,000 blue nodes and 30,000 pods (1,000 Deployments of
//! 28 pods, two thirds of them with a PDB of kubesim's four kinds, and 2 DaemonSets), batches of 20 %, no
//! soaks. Prints the agent process's peak resident memory (target <= 150 MiB, as a ratio) and its memory
//! at each phase, its API requests per moved pod, the makespan in simulated seconds and the PDB violations
//! (must be 0).
//!
//! Run (optimised build, from the repository root): `cargo bench --bench sim_scale`
//!
//! The simulator runs `SIM_SCALE_SPEED` (default 4) simulated seconds per real second; the makespan is in
//! simulated seconds, so a machine too busy to keep up at that speed shows a longer one. The peak is the
//! kernel's count for the agent process alone (`wait4`), not the simulator's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

#[path = "../tests/support/agent.rs"]
#[allow(dead_code)]
mod agent;
#[path = "support/memory.rs"]
mod memory;
#[path = "../tests/support/served.rs"]
#[allow(dead_code)]
mod served;

const TARGET_RSS_BYTES: u64 = 150 << 20;
const POOL: &str = "gen-0";
const MIB: f64 = (1u64 << 20) as f64;
/// Simulated seconds the cluster runs before the agent starts (the DaemonSets' pods become Ready).
const SETTLE: f64 = 15.0;

fn speed() -> f64 {
    std::env::var("SIM_SCALE_SPEED").ok().and_then(|v| v.parse().ok()).filter(|s: &f64| *s > 0.0).unwrap_or(4.0)
}

const SCENARIO: &str = "\
name: sim-scale
seed: 1
description: 1,000 nodes, 30,000 pods (1,000 Deployments of 28 pods, 2 DaemonSets)
cluster:
  version: 1.31.4
generate:
  pools: 1
  nodes_per_pool: 1000
  deployments: 1000
  pods_per_deployment: 28
  namespaces: 20
  pdb_mix: {min_available: 1, min_available_percent: 1, max_unavailable: 1, max_unavailable_percent: 1, none: 2}
workloads:
  - kind: DaemonSet
    name: node-exporter
    namespace: monitoring
    requests: {cpu: 10m, memory: 32Mi}
  - kind: DaemonSet
    name: log-shipper
    namespace: logging
    requests: {cpu: 50m, memory: 64Mi}
";

fn agent_config(kubeconfig: &Path) -> String {
    format!(
        "cluster:\n  name: sim-scale\n  kubeconfig: {}\nprovider:\n  kind: sim\npools:\n  - name: {POOL}\n    \
         to: 1.31.4\n    batch: 20%\n    batch_soak: 0s\n    pool_soak: 0s\n    drain_timeout: 30m\n",
        kubeconfig.display()
    )
}

#[derive(Deserialize)]
struct SimClock {
    elapsed_seconds: f64,
}

#[derive(Deserialize)]
struct Recorder {
    summary: Summary,
}

#[derive(Deserialize)]
struct Summary {
    pdb_violations: u64,
    lost_pods: u64,
    nodes_deleted_with_pods: u64,
    evictions_by_pool: BTreeMap<String, u64>,
    total_requests: u64,
}

/// The simulator's own API (`/sim/v1/...`), through a kube client of its kubeconfig.
struct Sim {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
}

impl Sim {
    fn connect(kubeconfig: &Path) -> anyhow::Result<Sim> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = rt.block_on(async {
            let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
            anyhow::Ok(kube::Client::try_from(config)?)
        })?;
        Ok(Sim { rt, client })
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let req = http::Request::get(path).body(Vec::new())?;
        Ok(self.rt.block_on(self.client.request::<T>(req))?)
    }

    fn clock(&self) -> anyhow::Result<f64> {
        Ok(self.get::<SimClock>("/sim/v1/clock")?.elapsed_seconds)
    }

    fn summary(&self) -> anyhow::Result<Summary> {
        Ok(self.get::<Recorder>("/sim/v1/recorder")?.summary)
    }
}

/// The agent's resident and peak memory when it printed a line.
struct Sample {
    what: String,
    rss: u64,
    peak: u64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let scenario = dir.join("sim-scale.scenario.yaml");
    std::fs::write(&scenario, SCENARIO)?;
    let speed = speed();
    let wall = Instant::now();
    let served = served::Served::start(&scenario, speed);
    let sim = Sim::connect(&served.kubeconfig)?;
    println!("sim serve at {speed}x: scenario loaded in {:.1} s", wall.elapsed().as_secs_f64());
    while sim.clock()? < SETTLE {
        std::thread::sleep(Duration::from_millis(200));
    }
    let config = served.dir.path().join("sim-scale.yaml");
    std::fs::write(&config, agent_config(&served.kubeconfig))?;

    let before = sim.summary()?;
    let started = sim.clock()?;
    let wall = Instant::now();
    let mut cmd = agent::poolshift();
    cmd.args(["upgrade", "--yes", "-c"]).arg(&config);
    let mut agent = agent::Agent::spawn(cmd);
    let pid = agent.id().to_string();
    let mut samples = Vec::new();
    while let Some(line) = agent.next_line() {
        let text = line.split_once("] ").map_or(line.as_str(), |(_, t)| t);
        if text.starts_with("plan: ") || text.starts_with("phase: ") || text.starts_with("done: ") {
            let what: String = text.chars().take(60).collect();
            if let (Some(rss), Some(peak)) = (memory::status_bytes(&pid, "VmRSS"), memory::status_bytes(&pid, "VmHWM"))
            {
                samples.push(Sample { what, rss, peak });
            }
        }
    }
    let (status, peak) = memory::wait_peak_rss(agent.id())?;
    let wall = wall.elapsed();
    let makespan = sim.clock()? - started;
    let after = sim.summary()?;
    if !status.success() {
        anyhow::bail!("the agent failed ({status}):\n{}", agent.seen);
    }

    let moved = after.evictions_by_pool.get(POOL).copied().unwrap_or(0)
        - before.evictions_by_pool.get(POOL).copied().unwrap_or(0);
    let requests = after.total_requests - before.total_requests;
    println!(
        "sim_scale: 1,000 blue nodes, 30,000 pods (28,000 in 1,000 Deployments, 2,000 of 2 DaemonSets), 20% batches"
    );
    println!("agent memory when it printed (resident / peak so far):");
    for s in &samples {
        println!("  {:>6.0} MiB / {:>6.0} MiB  {}", mib(s.rss), mib(s.peak), s.what);
    }
    println!(
        "peak RSS:       {:.0} MiB (target {} MiB, ratio {:.2})",
        mib(peak),
        TARGET_RSS_BYTES >> 20,
        peak as f64 / TARGET_RSS_BYTES as f64
    );
    println!(
        "API requests:   {requests} for {moved} pods moved = {:.2} per pod",
        requests as f64 / moved.max(1) as f64
    );
    println!("makespan:       {makespan:.0} simulated s ({:.0} s wall at {speed}x)", wall.as_secs_f64());
    println!(
        "PDB violations: {} (must be 0); lost pods {}, nodes deleted with pods {}",
        after.pdb_violations - before.pdb_violations,
        after.lost_pods - before.lost_pods,
        after.nodes_deleted_with_pods - before.nodes_deleted_with_pods
    );
    Ok(())
}
