//! Running poolshift as an upgrade agent against `sim serve`: a cluster with its configuration file, agent
//! processes whose output is read line by line (to act at a given moment: kill -9, pause), and the
//! simulator's recorder and pools.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::support::Agent;
use crate::support::{STARTUP_LIMIT, Served, poolshift, repo_root, stderr, stdout};

/// Simulated seconds per real second for the upgrade tests.
pub const SPEED: f64 = 20.0;

pub fn upgrade_scenario() -> PathBuf {
    repo_root().join("tests/cli/scenarios/upgrade.yaml")
}

/// A served simulator and a configuration file pointing at it (`provider: sim`, short lease).
pub struct SimCluster {
    pub served: Served,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl SimCluster {
    /// The upgrade scenario, with `pool_policy` as the blue pool's policy lines (indented YAML).
    pub fn start(pool_policy: &str) -> SimCluster {
        Self::start_with(pool_policy, |_| "  kind: sim\n".to_string())
    }

    /// The same, with the `provider:` section's lines from `provider(simulator URL)`.
    pub fn start_with(pool_policy: &str, provider: impl Fn(&str) -> String) -> SimCluster {
        let served = Served::start(&upgrade_scenario(), SPEED);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("cluster.yaml");
        let kubeconfig = std::fs::read_to_string(&served.kubeconfig).expect("kubeconfig");
        let url = kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .expect("server in the kubeconfig")
            .to_string();
        let text = format!(
            "cluster:\n  name: cli-test\n  kubeconfig: {}\nprovider:\n{}lease_ttl: 5s\npools:\n  - name: blue\n{pool_policy}",
            served.kubeconfig.display(),
            provider(&url)
        );
        std::fs::write(&config, text).expect("write config");
        SimCluster { served, dir, config }
    }

    /// `poolshift <command> -c CONFIG <args>`, to completion.
    pub fn run(&self, command: &str, args: &[&str]) -> Output {
        poolshift().arg(command).arg("-c").arg(&self.config).args(args).output().expect("run poolshift")
    }

    /// Starts `poolshift <command> -c CONFIG <args>` in the background.
    pub fn spawn(&self, command: &str, args: &[&str]) -> Agent {
        let mut cmd = poolshift();
        cmd.arg(command).arg("-c").arg(&self.config).args(args);
        Agent::spawn(cmd)
    }

    /// `resume`, retried while the killed agent's lease has not expired yet (a few real seconds at most).
    /// Returns the agent once it reports progress (it holds the lease then).
    pub fn resume_after_lease_expiry(&self) -> Agent {
        let start = Instant::now();
        loop {
            let mut agent = self.spawn("resume", &[]);
            if agent.wait_for_or_exit("] ") {
                return agent;
            }
            let (code, err) = agent.finish_status();
            assert!(
                code == Some(2) && err.contains("is held by agent"),
                "resume failed otherwise than on the lease ({code:?}):\n{}\n{err}",
                agent.seen
            );
            assert!(start.elapsed() < STARTUP_LIMIT, "the lease never expired");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the pool's lease, held by a killed agent, has expired (a few real seconds at most).
    pub fn wait_for_lease_expiry(&self) {
        let start = Instant::now();
        while self.status()["lease"]["expired"] != true {
            assert!(start.elapsed() < STARTUP_LIMIT, "the lease never expired: {}", self.status());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn recorder(&self) -> Value {
        self.raw("/sim/v1/recorder")
    }

    /// Names of the simulator's pools.
    pub fn pools(&self) -> Vec<String> {
        let pools = self.raw("/sim/v1/pools");
        pools["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
    }

    pub fn raw(&self, path: &str) -> Value {
        let text = self.served.kubectl_ok(&["get", "--raw", path]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    }

    /// The invariants every run must keep: no PDB violation, no lost pod, no node deleted with pods.
    pub fn assert_invariants(&self) {
        let rec = self.recorder();
        let s = &rec["summary"];
        assert_eq!(s["pdb_violations"], 0, "PDB violations: {}", rec["violations"]);
        assert_eq!(s["lost_pods"], 0, "lost pods: {}", rec["lost_pods"]);
        assert_eq!(s["nodes_deleted_with_pods"], 0, "{}", rec["nodes_deleted_with_pods"]);
    }

    /// After a finished upgrade: only the green pool exists, and every running pod is on a green node.
    pub fn assert_only_green(&self) {
        assert_eq!(self.pools(), vec!["blue-v1-31-4".to_string()], "exactly one pool, the green one");
        let pods = self.served.kubectl_json(&["get", "pods", "-A"]);
        let mut count = 0;
        for p in crate::support::items(&pods) {
            let node = crate::support::text(p, "/spec/nodeName");
            assert!(node.starts_with("blue-v1-31-4-"), "pod {} is on {node:?}", p["metadata"]["name"]);
            count += 1;
        }
        assert!(count >= 23 + 4, "every pod is back: {count}");
    }

    /// `status -o json`, the entry of pool blue.
    pub fn status(&self) -> Value {
        let o = self.run("status", &["-o", "json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: Value = serde_json::from_str(&stdout(&o)).expect("status JSON");
        v[0].clone()
    }
}

/// Writes `text` as a config file in `dir`.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}
