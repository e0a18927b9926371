//! Scale benchmark of `plan` (not a test): a snapshot file of a generated 5,000-node / 150,000-pod cluster
//! (kubesim's generator: 10 pools of 500 nodes, 5,000 Deployments of 30 pods, mixed PDBs), planned for
//! pool `gen-0` as `poolshift plan --from-snapshot` does: read and parse the file, build the plan, render
//! the text report. Prints the wall time and the peak memory (VmHWM) against the targets as ratios:
//! <= 2 s and <= 1 GiB without rehearsal, <= 30 s with it (`--rehearse`: the plan run by the engine on a
//! simulated copy of the whole cluster, in virtual time).
//!
//! Run (optimised build, from the repository root):
//!
//! ```sh
//! cargo bench --bench plan_scale                 # plan only
//! cargo bench --bench plan_scale -- --rehearse   # plan, then rehearse
//! ```
//!
//! `PLAN_SCALE_POOLS=1` makes the 5,000 nodes one pool (every pod in the plan); the rehearsal is stopped
//! after `PLAN_SCALE_REHEARSAL_LIMIT` seconds (default 600) and reported as over. The snapshot file is made
//! once (its generation is not timed) and kept under the target directory. Each measurement runs in a child
//! process, so that its peak memory is its own and not the generator's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift::model::plan::UpgradePlan;
use poolshift::model::policy::Policy;
use poolshift::model::snapshot::Snapshot;
use poolshift::plan::target::TargetPolicy;
use poolshift::report::{self, Format};
use poolshift::session::{plan_offline, provider_record};
use poolshift_provider_sim::SimProvider;

#[path = "support/memory.rs"]
mod memory;

/// The `poolshift` binary's allocator, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TARGET_PLAN: Duration = Duration::from_secs(2);
const TARGET_RSS_BYTES: u64 = 1 << 30;
const TARGET_REHEARSAL: Duration = Duration::from_secs(30);
const POOL: &str = "gen-0";
/// The child's exit code when the rehearsal outlived `PLAN_SCALE_REHEARSAL_LIMIT` (seconds, default 600).
const OVER_LIMIT: i32 = 3;

fn rehearsal_limit() -> Duration {
    Duration::from_secs(std::env::var("PLAN_SCALE_REHEARSAL_LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(600))
}

fn pools() -> u32 {
    std::env::var("PLAN_SCALE_POOLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|p| [1, 2, 5, 10].contains(p))
        .unwrap_or(10)
}

fn scenario(pools: u32) -> String {
    format!(
        "name: plan-scale\nseed: 1\ncluster:\n  version: 1.31.4\ngenerate:\n  pools: {pools}\n  nodes_per_pool: {}\n  \
         deployments: 5000\n  pods_per_deployment: 30\n  namespaces: 50\n",
        5000 / pools
    )
}

/// The snapshot of the generated cluster, converted straight from the simulator's store (as
/// `KubeCluster::snapshot` converts the listed objects), with the sim provider's record of pool gen-0.
fn generate(file: &Path, pools: u32) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let started = Instant::now();
        let sim = Simulator::from_scenario(&Scenario::parse(&scenario(pools), "<plan_scale>")?, SimOptions::default())?;
        let record = provider_record(&SimProvider::new(sim.client()), POOL).await?;
        let snapshot = Snapshot { providers: vec![record], ..poolshift::rehearsal::snapshot_of(&sim) };
        std::fs::write(file, serde_json::to_vec(&snapshot)?)?;
        println!(
            "generated the snapshot: {} nodes, {} pods, {} PDBs ({:.1} MB) in {:.1} s",
            snapshot.nodes.len(),
            snapshot.pods.len(),
            snapshot.pdbs.len(),
            std::fs::metadata(file)?.len() as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// The child: plan (and rehearse) from the file, print the measurements.
fn measure(file: &Path, rehearse: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let text = std::fs::read(file)?;
    let snapshot: Snapshot = serde_json::from_slice(&text)?;
    drop(text);
    let read = started.elapsed();
    let target: TargetPolicy = "1.31.4".parse()?;
    let plan: UpgradePlan =
        plan_offline("2026-01-01T00:00:00Z", "scale", &snapshot, POOL, &target, &Policy::default())?;
    let planned = started.elapsed();
    let report = report::render(&plan, Format::Text)?;
    let total = started.elapsed();
    let rss = memory::own_peak_rss_bytes().unwrap_or(0);
    println!(
        "plan of pool {POOL}: {} blue nodes, {} pods in {} batches, {} findings; text report {} lines",
        plan.blue_nodes.len(),
        plan.pods().count(),
        plan.batches.len(),
        plan.findings.len(),
        report.lines().count()
    );
    println!(
        "  read+parse {:.2} s, plan {:.2} s, render {:.2} s",
        read.as_secs_f64(),
        (planned - read).as_secs_f64(),
        (total - planned).as_secs_f64()
    );
    println!(
        "  wall time {:.2} s (target {} s, ratio {:.2}); peak RSS {:.0} MiB (target {} MiB, ratio {:.2})",
        total.as_secs_f64(),
        TARGET_PLAN.as_secs(),
        total.as_secs_f64() / TARGET_PLAN.as_secs_f64(),
        rss as f64 / f64::from(1 << 20),
        TARGET_RSS_BYTES >> 20,
        rss as f64 / TARGET_RSS_BYTES as f64
    );
    if rehearse {
        let matcher = snapshot.providers[0].matcher.clone();
        let limit = rehearsal_limit();
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            println!(
                "rehearsal: still running after {} s (target {} s, ratio > {:.1}): stopped; peak RSS {:.0} MiB",
                limit.as_secs(),
                TARGET_REHEARSAL.as_secs(),
                limit.as_secs_f64() / TARGET_REHEARSAL.as_secs_f64(),
                memory::own_peak_rss_bytes().unwrap_or(0) as f64 / f64::from(1 << 20)
            );
            std::process::exit(OVER_LIMIT);
        });
        let started = Instant::now();
        let r = poolshift::rehearsal::rehearse_blocking(&snapshot, &plan, &matcher, &Default::default())?;
        let took = started.elapsed();
        println!(
            "rehearsal: {} in {:.0} simulated s, {} batches; wall time {:.1} s (target {} s, ratio {:.2}); \
             peak RSS {:.0} MiB",
            r.outcome,
            r.total_seconds,
            r.batches.len(),
            took.as_secs_f64(),
            TARGET_REHEARSAL.as_secs(),
            took.as_secs_f64() / TARGET_REHEARSAL.as_secs_f64(),
            memory::own_peak_rss_bytes().unwrap_or(0) as f64 / f64::from(1 << 20)
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rehearse = args.iter().any(|a| a == "--rehearse");
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let file = PathBuf::from(args.get(i + 1).ok_or_else(|| anyhow::anyhow!("--child FILE"))?);
        return measure(&file, rehearse);
    }
    let pools = pools();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("plan-scale-{pools}-pools.snapshot.json"));
    if !file.exists() {
        generate(&file, pools)?;
    }
    println!("snapshot {} ({pools} pools of {} nodes)", file.display(), 5000 / pools);
    let status = Command::new(std::env::current_exe()?)
        .arg("--child")
        .arg(&file)
        .args(rehearse.then_some("--rehearse"))
        .status()?;
    anyhow::ensure!(status.success() || status.code() == Some(OVER_LIMIT), "the measuring process failed: {status}");
    Ok(())
}
