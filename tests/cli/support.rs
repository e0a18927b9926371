//! Running the built binaries and kubectl, and a `sim serve` child process that is killed on drop.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

#[path = "../support/agent.rs"]
mod agent;
#[path = "../support/served.rs"]
mod served;
pub use agent::{Agent, poolshift, repo_root};
pub use served::{STARTUP_LIMIT, Served};

pub fn demo_scenario() -> PathBuf {
    repo_root().join("scenarios/demo.yaml")
}

pub fn run(args: &[&str]) -> Output {
    poolshift().args(args).output().expect("run poolshift")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

impl Served {
    /// Runs kubectl against this simulator.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let cache = self.dir.path().join("kubectl-cache");
        let result = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .stdin(Stdio::null())
            .output();
        match result {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "kubectl is not on PATH: this test drives `poolshift sim serve` with the real kubectl; \
                 `bash .ci/run` puts the one testenv/build.sh builds (v1.36.3) first on PATH"
            ),
            Err(e) => panic!("cannot run kubectl: {e}"),
        }
    }

    /// Runs kubectl and returns its stdout, failing the test with its stderr when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(
            o.status.success(),
            "kubectl {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// `kubectl get ... -o json`, parsed.
    pub fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.kubectl_ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("kubectl {}: not JSON ({e}):\n{text}", all.join(" ")))
    }
}

/// Splits a kubectl table into its header tokens and rows of whitespace-separated tokens.
pub fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or("").split_whitespace().map(String::from).collect();
    let rows = lines.map(|l| l.split_whitespace().map(String::from).collect()).collect();
    (header, rows)
}

/// Every item of a `... -o json` list.
pub fn items(list: &Value) -> &[Value] {
    list["items"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}
