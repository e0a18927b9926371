//! A `poolshift sim serve` child process that is killed on drop, shared by the CLI tests and the sim_scale
//! benchmark.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::agent::poolshift;

/// How long a child may take to start serving or to exit (a safety net against hangs, not an assertion).
pub const STARTUP_LIMIT: Duration = Duration::from_secs(120);

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
    /// Holds the kubeconfig (and kubectl's cache); removed on drop.
    pub dir: tempfile::TempDir,
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
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
