//! Shared test setup: a simulator served over TCP on 127.0.0.1 for the plugins, the reference plugin's
//! settings, throwaway plugin scripts, and reads of the simulator's pool API.
//!
//! Tests that run a child process use tokio's real clock (a paused clock would fire the plugin timeout as
//! soon as the runtime waits for the child); the simulator then runs accelerated ([`SPEED`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Request;
use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift_provider_onprem::{ExecProvider, ExecSettings};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Simulated seconds per real second.
pub const SPEED: f64 = 50.0;

pub struct TcpSim {
    pub sim: Simulator,
    pub url: String,
    _server: JoinHandle<()>,
}

impl TcpSim {
    pub async fn start(scenario: &Scenario) -> Self {
        let sim = Simulator::from_scenario(scenario, SimOptions { seed: scenario.seed, speed: SPEED }).unwrap();
        let (addr, server) = sim.serve_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Self { sim, url: format!("http://{addr}"), _server: server }
    }

    pub async fn demo() -> Self {
        Self::start(&Scenario::builtin("demo").unwrap()).await
    }

    /// `GET /sim/v1/pools` (in-process): every pool with its spec and status.
    pub async fn pools(&self) -> Value {
        sim_request(&self.sim.client(), "GET", "/sim/v1/pools", None).await
    }
}

/// A request to the simulator's own API through a client; panics on an error status.
pub async fn sim_request(client: &kube::Client, method: &str, path: &str, body: Option<Value>) -> Value {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
        .unwrap();
    client.request::<Value>(req).await.unwrap()
}

/// Plays the operator's automation: a simulated pool whose nodes carry `labels`.
pub async fn join_nodes(client: &kube::Client, pool: &str, version: &str, size: u32, labels: Value) {
    let body = json!({"name": pool, "version": version, "size": size, "zones": ["eu-west-1a"], "labels": labels});
    sim_request(client, "POST", "/sim/v1/pools", Some(body)).await;
}

pub fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins")
}

pub fn kubesim_plugin() -> PathBuf {
    plugins_dir().join("poolshift-provider-kubesim")
}

/// Settings for the reference kubesim plugin pointed at `url`.
pub fn kubesim_settings(url: &str) -> ExecSettings {
    ExecSettings {
        plugin_path: Some(kubesim_plugin()),
        timeout: Duration::from_secs(30),
        node_label: "kubesim.io/pool".into(),
        settings: json!({"kubesim_url": url}),
        ..Default::default()
    }
}

pub fn kubesim_provider(url: &str) -> ExecProvider {
    ExecProvider::new(kubesim_settings(url)).unwrap()
}

/// Writes an executable `#!/bin/sh` script `dir/name`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// An exec provider running the script `dir/poolshift-provider-<name>` with `timeout`.
pub fn script_provider(dir: &Path, name: &str, body: &str, timeout: Duration) -> ExecProvider {
    let path = script(dir, &format!("poolshift-provider-{name}"), body);
    ExecProvider::new(ExecSettings { plugin_path: Some(path), timeout, ..Default::default() }).unwrap()
}

/// Lets simulated time pass: `secs` simulated seconds in real time.
pub async fn sim_sleep(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs).div_f64(SPEED)).await;
}
