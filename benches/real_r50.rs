//! real_r50: the R50 scenario (50 blue nodes, 1,500 pods, mixed PDBs, 20 s terminations) on the real control
//! plane (kube-apiserver, etcd, controller-manager, scheduler built by testenv/build.sh; kwok kubelets at the
//! scenario's own pod timings), twice, each on a fresh control plane:
//! 1. poolshift: `poolshift upgrade --yes`, all blue nodes in one batch, no soaks (kwok provider);
//! 2. by hand, as operators do: the green pool created the same way, then the built kubectl cordons every
//!    blue node and drains them one by one (`kubectl drain --ignore-daemonsets --delete-emptydir-data`).
//!
//! Both are watched by the independent watcher (PDB violations must be 0). Makespan: from the start of the
//! upgrade until every blue pod is gone and the workloads are back at their ready replicas. It also prints
//! poolshift's figure for the same scenario on kubesim (`poolshift sim serve`, the time poolshift reports in
//! the simulator's clock), to show how far the simulator's timeline is from the real one.
//!
//! Run with: `cargo bench --bench real_r50` (needs `testenv/build.sh`; about 25 minutes on 2 cores).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubesim::scenario::Scenario;
use poolshift_provider_api::{CreateToken, PoolSpec, PoolState, Provider};
use poolshift_provider_kwok::{KwokProvider, KwokSettings};
use poolshift_testenv::watch::Watcher;
use poolshift_testenv::world::{self, LoadOptions, World};
use poolshift_testenv::{ControlPlane, Options};

const TARGET: &str = "1.36.3";

struct Run {
    seconds: f64,
    violations: usize,
    deletions: usize,
}

fn scenario() -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/r50.yaml")).expect("r50 scenario")
}

fn loaded(rt: &tokio::runtime::Runtime, cp: &ControlPlane) -> (kube::Client, World) {
    let client = rt.block_on(cp.client()).expect("client");
    let opts = LoadOptions { prefix: None, rebase_versions: true };
    let w = rt.block_on(world::load(&client, &scenario(), &opts)).unwrap_or_else(|e| panic!("{e}"));
    let mem: u64 = cp.memory().iter().map(|(_, b)| b).sum();
    eprintln!(
        "control plane up in {:.1} s; R50 loaded and settled in {:.1} s; control plane resident memory {} MiB",
        cp.started_in().as_secs_f64(),
        w.settled_in.as_secs_f64(),
        mem >> 20
    );
    (client, w)
}

/// A fresh control plane with R50 loaded and settled, and the watcher following it (every budget seen met).
struct Fresh {
    cp: ControlPlane,
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    world: World,
    watcher: Watcher,
}

fn fresh() -> Fresh {
    let cp = ControlPlane::start(Options::default()).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (client, world) = loaded(&rt, &cp);
    let watcher = {
        let _g = rt.enter();
        Watcher::start(client.clone(), world.namespaces.clone())
    };
    let budgets = world.scenario.workloads.iter().filter(|x| x.pdb.is_some()).count() + world.scenario.pdbs.len();
    while watcher.budgets_checked() < budgets {
        std::thread::sleep(Duration::from_millis(100));
    }
    Fresh { cp, rt, client, world, watcher }
}

fn poolshift_real() -> Run {
    let Fresh { cp, rt, client, world: w, watcher } = fresh();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("r50.yaml");
    let text = format!(
        "cluster:\n  name: r50\n  kubeconfig: {}\nprovider:\n  kind: kwok\n  versions: [{TARGET}]\n  node_ready_delay: {}\npools:\n  - name: {}\n    to: {TARGET}\n    batch: 100%\n    batch_soak: 0s\n    pool_soak: 0s\n    drain_timeout: 30m\n    max_in_flight: 100\n",
        cp.poolshift_kubeconfig().display(),
        w.scenario.timings.node_ready,
        w.pools[0]
    );
    std::fs::write(&config, text).expect("config");
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_poolshift"))
        .args(["upgrade", "--yes", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("poolshift");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    rt.block_on(w.wait_settled(&client, Duration::from_secs(1800))).expect("settled");
    let seconds = start.elapsed().as_secs_f64();
    let r = watcher.stop();
    Run { seconds, violations: r.violations.len(), deletions: r.deletions.len() }
}

fn kubectl_real() -> Run {
    let Fresh { cp, rt, client, world: w, watcher } = fresh();
    let blue = w.pools[0].clone();
    let settings = KwokSettings {
        versions: vec![TARGET.to_string()],
        node_ready_delay: w.scenario.timings.node_ready.0,
        ..KwokSettings::default()
    };
    let provider = KwokProvider::new(client.clone(), settings);
    let start = Instant::now();
    let green = rt.block_on(async {
        let desc = provider.describe_pool(&blue).await.expect("describe blue");
        let name = provider.green_name(&blue, TARGET);
        let spec = PoolSpec::derive(&desc, &name, TARGET);
        provider.create_pool(&spec, &CreateToken::new("bench", 1)).await.expect("create green");
        loop {
            let st = provider.pool_status(&name).await.expect("status");
            if matches!(st.map(|s| s.state), Some(PoolState::Ready)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        name
    });
    let kubectl = |args: &[&str]| {
        let o = cp.kubectl().args(args).output().expect("kubectl");
        assert!(o.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let names = kubectl(&["get", "nodes", "-l", &format!("kubesim.io/pool={blue}"), "-o", "name"]);
    let nodes: Vec<&str> = names.lines().collect();
    for n in &nodes {
        kubectl(&["cordon", n]);
    }
    for n in &nodes {
        kubectl(&["drain", n, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30m"]);
    }
    rt.block_on(w.wait_settled(&client, Duration::from_secs(1800))).expect("settled");
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("kubectl baseline: {} blue nodes drained onto green pool {green}", nodes.len());
    let r = watcher.stop();
    Run { seconds, violations: r.violations.len(), deletions: r.deletions.len() }
}

/// poolshift on kubesim: `sim serve` at 10x, the makespan poolshift reports (the simulator's clock).
fn poolshift_kubesim() -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_poolshift"))
        .args(["sim", "serve", "--scenario", "scenarios/r50.yaml", "--port", "0", "--speed", "10", "--kubeconfig"])
        .arg(&kubeconfig)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim serve");
    while !kubeconfig.exists() {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let config = dir.path().join("sim.yaml");
    let text = format!(
        "cluster:\n  name: r50\n  kubeconfig: {}\nprovider:\n  kind: sim\npools:\n  - name: blue\n    to: 1.31.4\n    batch: 100%\n    batch_soak: 0s\n    pool_soak: 0s\n    drain_timeout: 30m\n    max_in_flight: 100\n",
        kubeconfig.display()
    );
    std::fs::write(&config, text).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_poolshift"))
        .args(["upgrade", "--yes", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("poolshift");
    let _ = serve.kill();
    let _ = serve.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    let done = text.lines().find(|l| l.starts_with("done: ")).unwrap_or_else(|| panic!("no done line:\n{text}"));
    let secs =
        done.rsplit_once('(').and_then(|(_, s)| s.trim_end_matches(')').trim_end_matches('s').parse::<f64>().ok());
    secs.unwrap_or_else(|| panic!("no makespan in {done:?}"))
}

fn main() {
    let only: BTreeMap<String, ()> =
        std::env::args().skip(1).filter(|a| !a.starts_with('-')).map(|a| (a, ())).collect();
    let want = |name: &str| only.is_empty() || only.contains_key(name);
    let p = want("poolshift").then(poolshift_real);
    let k = want("kubectl").then(kubectl_real);
    let s = want("kubesim").then(poolshift_kubesim);
    println!("\nreal_r50: R50 (50 blue nodes, 1,500 pods) on the real control plane v1.36.3 with kwok kubelets");
    println!("{:<44} {:>10} {:>12} {:>10}", "run", "makespan", "deletions", "PDB viol.");
    if let Some(p) = &p {
        println!(
            "{:<44} {:>9.0}s {:>12} {:>10}",
            "poolshift (one batch, no soaks)", p.seconds, p.deletions, p.violations
        );
    }
    if let Some(k) = &k {
        println!(
            "{:<44} {:>9.0}s {:>12} {:>10}",
            "kubectl cordon all, drain one by one", k.seconds, k.deletions, k.violations
        );
    }
    if let (Some(p), Some(k)) = (&p, &k) {
        println!("speed-up of poolshift over kubectl drain: {:.2}x", k.seconds / p.seconds);
    }
    if let Some(s) = s {
        println!("{:<44} {:>9.0}s", "poolshift on kubesim (simulated seconds)", s);
        if let Some(p) = &p {
            println!("kubesim timeline / real timeline: {:.2}", s / p.seconds);
        }
    }
}
