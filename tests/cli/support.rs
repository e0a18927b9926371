//! Running the built binaries and kubectl, and a `sim serve` child process that is killed on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a child may take to start serving or to exit (a safety net against hangs, not an assertion).
pub const STARTUP_LIMIT: Duration = Duration::from_secs(120);

#[path = "../support/agent.rs"]
mod agent;
pub use agent::{Agent, poolshift, repo_root};

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

/// Waits for a child to exit, killing it and failing the test past the limit.
pub fn wait_with_limit(child: &mut Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            return status;
        }
        if start.elapsed() > STARTUP_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {STARTUP_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `poolshift sim serve`; the process is killed when this is dropped (also when a test fails).
pub struct Served {
    child: Child,
    pub kubeconfig: PathBuf,
    pub banner: String,
    dir: tempfile::TempDir,
}

impl Served {
    /// Starts `sim serve` on a free port and waits until it has written its kubeconfig and said so.
    pub fn start(scenario: &Path, speed: f64) -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = poolshift()
            .args(["sim", "serve", "--scenario"])
            .arg(scenario)
            .args(["--port", "0", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--speed", &speed.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn poolshift sim serve");
        let out = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = String::new();
        let start = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    banner.push_str(&line);
                    banner.push('\n');
                    if line.starts_with("export KUBECONFIG=") {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("wait");
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!("sim serve exited ({status}) before serving.\nstdout:\n{banner}\nstderr:\n{err}");
                }
            }
            if start.elapsed() > STARTUP_LIMIT {
                let _ = child.kill();
                panic!("sim serve did not start within {STARTUP_LIMIT:?}; stdout so far:\n{banner}");
            }
        }
        // Drain stderr so the child never blocks on a full pipe.
        if let Some(mut e) = child.stderr.take() {
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = e.read_to_end(&mut sink);
            });
        }
        Served { child, kubeconfig, banner, dir }
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(killed.success(), "kill -TERM {pid} failed");
        wait_with_limit(&mut self.child, "sim serve after SIGTERM")
    }

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

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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
