//! One test's world on the shared control plane: a loaded scenario, the cluster file poolshift runs with,
//! poolshift processes, the built kubectl and the independent watcher.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Api;
use kube::api::ListParams;
use kubesim::scenario::Scenario;
use poolshift_testenv::watch::{Report, Watcher};
use poolshift_testenv::world::{self, LoadOptions, WORLD_LABEL, World};
use poolshift_testenv::{ControlPlane, Scope};
use serde_json::Value;

#[path = "../support/agent.rs"]
mod agent;
pub use agent::{Agent, LIMIT, poolshift, repo_root};
/// The label kwok pools' nodes carry (kubesim's pool label).
pub const POOL_LABEL: &str = "kubesim.io/pool";
/// Where the kwok provider records its pools.
pub const POOL_RECORDS: &str = "kwok-pools";

/// The demo scenario; `without` drops workloads by name (the blocking one, for runs that must not block).
pub fn demo(without: &[&str]) -> Scenario {
    let mut s = Scenario::load(&repo_root().join("scenarios/demo.yaml")).expect("demo scenario");
    s.workloads.retain(|w| !without.contains(&w.name.as_str()));
    s
}

pub struct TestWorld {
    pub scope: Scope<'static>,
    pub world: World,
    pub rt: tokio::runtime::Runtime,
    pub client: kube::Client,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub blue: String,
    pub watcher: Option<Watcher>,
}

impl TestWorld {
    /// Loads `scenario` under `prefix`, starts the watcher, writes the cluster file with `policy` (the blue
    /// pool's lines).
    pub fn load(prefix: &str, scenario: &Scenario, policy: &str) -> TestWorld {
        let cp = ControlPlane::shared();
        let scope = Scope::new(cp, prefix);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let client = rt.block_on(cp.client()).expect("client");
        let opts = LoadOptions { prefix: Some(prefix.to_string()), rebase_versions: true };
        let world = rt.block_on(world::load(&client, scenario, &opts)).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "{prefix}: world loaded and settled in {:.1} s; notes: {:?}",
            world.settled_in.as_secs_f64(),
            world.notes
        );
        let watcher = {
            let _g = rt.enter();
            Watcher::start(client.clone(), world.namespaces.clone())
        };
        let blue = world.pools[0].clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("cluster.yaml");
        let node_ready = &world.scenario.timings.node_ready;
        let text = format!(
            "cluster:\n  name: {prefix}\n  kubeconfig: {}\nprovider:\n  kind: kwok\n  versions: [1.35.8, 1.36.0, 1.36.1, 1.36.2, 1.36.3]\n  node_ready_delay: {node_ready}\nlease_ttl: 5s\npools:\n  - name: {blue}\n{policy}",
            cp.poolshift_kubeconfig().display()
        );
        std::fs::write(&config, text).expect("write config");
        // The watcher has seen every budget met before anything moves.
        let start = Instant::now();
        let budgets = world.scenario.workloads.iter().filter(|w| w.pdb.is_some()).count() + world.scenario.pdbs.len();
        while watcher.budgets_checked() < budgets {
            assert!(start.elapsed() < LIMIT, "the watcher never saw the {budgets} budgets met");
            std::thread::sleep(Duration::from_millis(100));
        }
        TestWorld { scope, world, rt, client, dir, config, blue, watcher: Some(watcher) }
    }

    pub fn ns(&self, name: &str) -> String {
        self.scope.name(name)
    }

    /// Points the cluster file at another kubeconfig (another identity); with `provider_keeps_its_own`, the
    /// kwok provider (the stand-in cloud) goes on with the first one, as a cloud acts with its own credentials.
    pub fn use_kubeconfig(&self, path: &Path, provider_keeps_its_own: bool) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        let mut own = None;
        let text: String = text
            .lines()
            .map(|l| match l.strip_prefix("  kubeconfig: ") {
                Some(old) => {
                    own = Some(old.to_string());
                    format!("  kubeconfig: {}\n", path.display())
                }
                None if l == "  kind: kwok" && provider_keeps_its_own => {
                    format!("{l}\n  kubeconfig: {}\n", own.as_deref().expect("the cluster's kubeconfig comes first"))
                }
                None => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&self.config, text).expect("write config");
    }

    /// `poolshift <command> -c CONFIG <args>`, to completion.
    pub fn run(&self, command: &str, args: &[&str]) -> Output {
        poolshift().arg(command).arg("-c").arg(&self.config).args(args).output().expect("run poolshift")
    }

    pub fn spawn(&self, command: &str, args: &[&str]) -> Agent {
        let mut cmd = poolshift();
        cmd.arg(command).arg("-c").arg(&self.config).args(args);
        Agent::spawn(cmd)
    }

    /// `resume`, retried while a killed agent's lease has not expired; returns once one runs.
    pub fn resume_after_lease_expiry(&self) -> Agent {
        let start = Instant::now();
        loop {
            let mut agent = self.spawn("resume", &[]);
            if agent.wait_for_or_exit("phase: ") {
                return agent;
            }
            let (code, out, err) = agent.finish();
            assert!(
                err.contains("is held by agent") || out.contains("is held by agent"),
                "resume failed otherwise than on the lease ({code:?}):\n{out}\n{err}"
            );
            assert!(start.elapsed() < LIMIT, "the lease never expired");
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The built kubectl against the control plane (admin).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.scope.cp.kubectl().args(args).output().expect("run the built kubectl")
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(o.status.success(), "kubectl {} failed:\n{}\n{}", args.join(" "), stdout(&o), stderr(&o));
        stdout(&o)
    }

    /// `status -o json` of the blue pool's run.
    pub fn status(&self) -> Value {
        let o = self.run("status", &["-o", "json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: Value = serde_json::from_str(&stdout(&o)).expect("status JSON");
        v[0].clone()
    }

    /// Nodes of this world: (name, pool, unschedulable).
    pub fn nodes(&self) -> Vec<(String, String, bool)> {
        let api: Api<Node> = Api::all(self.client.clone());
        let lp = ListParams::default().labels(&format!("{WORLD_LABEL}={}", self.world.label_value));
        let nodes = self.rt.block_on(api.list(&lp)).expect("list nodes").items;
        nodes
            .into_iter()
            .map(|n| {
                let pool = n.metadata.labels.as_ref().and_then(|l| l.get(POOL_LABEL).cloned()).unwrap_or_default();
                let cordoned = n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
                (n.metadata.name.unwrap_or_default(), pool, cordoned)
            })
            .collect()
    }

    /// Names of the kwok pools recorded for this world.
    pub fn pools(&self) -> Vec<String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), POOL_RECORDS);
        let list = self.rt.block_on(api.list(&ListParams::default())).expect("list pool records").items;
        let mine = format!("{}-", self.scope.prefix);
        list.into_iter()
            .filter_map(|c| c.metadata.name)
            .filter_map(|n| n.strip_prefix("kwok-pool-").map(str::to_string))
            .filter(|n| n.starts_with(&mine))
            .collect()
    }

    /// A pool record's spec (kubesim's pool spec JSON).
    pub fn pool_record(&self, pool: &str) -> Value {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), POOL_RECORDS);
        let cm = self.rt.block_on(api.get(&format!("kwok-pool-{pool}"))).expect("pool record");
        let text = cm.data.unwrap_or_default().get("spec.json").cloned().unwrap_or_default();
        serde_json::from_str(&text).expect("pool record JSON")
    }

    /// Waits until every workload is back at its desired ready replicas.
    pub fn wait_settled(&self) {
        self.rt.block_on(self.world.wait_settled(&self.client, LIMIT)).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops the watcher and checks what it saw: no budget below desiredHealthy, no bare pod deleted, and no
    /// pod deleted on a node outside `evictable_pools` (the blue pool; green too for a rollback).
    pub fn check_watcher(&mut self, evictable_pools: &[&str]) -> Report {
        let report = self.watcher.take().expect("watcher running").stop();
        assert!(report.violations.is_empty(), "PDB violations seen by the watcher: {:?}", report.violations);
        let bare: Vec<_> = report.deletions.iter().filter(|d| d.owner.is_none()).collect();
        assert!(bare.is_empty(), "bare pods deleted: {bare:?}");
        let pool_of = |node: &str| node.rsplitn(3, '-').nth(2).unwrap_or("").to_string();
        let outside: Vec<_> = report
            .deletions
            .iter()
            .filter(|d| {
                d.owner.as_deref() != Some("DaemonSet") && !evictable_pools.iter().any(|p| pool_of(&d.node) == *p)
            })
            .collect();
        assert!(outside.is_empty(), "pods deleted outside {evictable_pools:?}: {outside:?}");
        eprintln!(
            "{}: watcher: {} pod events, {} deletions, 0 PDB violations, lowest margin per budget {:?}",
            self.scope.prefix,
            report.pod_events,
            report.deletions.len(),
            report.min_margin
        );
        report
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
