//! The built `poolshift` as a child process, shared by the CLI tests (against `sim serve`) and the end-to-end
//! tests (against the real control plane): a clean environment, and agents whose stdout is read line by line
//! (to act at a given moment: kill -9, pause).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a child may take to print its next line or to exit (a safety net against hangs, not an assertion).
pub const LIMIT: Duration = Duration::from_secs(600);

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `poolshift` with a clean environment for its own variables, run from the repository root.
pub fn poolshift() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_poolshift"));
    c.current_dir(repo_root()).stdin(Stdio::null());
    for var in [
        "RUST_LOG",
        "POOLSHIFT_LOG_LEVEL",
        "POOLSHIFT_LOG_FORMAT",
        "POOLSHIFT_CONFIG",
        "POOLSHIFT_POOL",
        "POOLSHIFT_TO",
        "POOLSHIFT_STATE_FILE",
        "POOLSHIFT_FORCE",
        "KUBECONFIG",
    ] {
        c.env_remove(var);
    }
    c
}

/// A poolshift process whose stdout is read line by line; killed if still running when dropped.
pub struct Agent {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Everything read from stdout so far.
    pub seen: String,
    stderr: mpsc::Receiver<String>,
}

impl Agent {
    pub fn spawn(mut cmd: Command) -> Agent {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn poolshift");
        let out = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr piped");
        let (etx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            let _ = etx.send(text);
        });
        Agent { child, lines, seen: String::new(), stderr }
    }

    /// The process id (the sim_scale benchmark measures the process).
    #[allow(dead_code)]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The next line of stdout (also appended to `seen`); `None` once the process closed stdout.
    pub fn next_line(&mut self) -> Option<String> {
        let line = self.lines.recv_timeout(LIMIT).ok()?;
        self.seen.push_str(&line);
        self.seen.push('\n');
        Some(line)
    }

    /// Reads stdout until a line contains `needle` (`true`), or the process closed stdout (`false`).
    pub fn wait_for_or_exit(&mut self, needle: &str) -> bool {
        while let Some(line) = self.next_line() {
            if line.contains(needle) {
                return true;
            }
        }
        false
    }

    /// Reads stdout until a line contains `needle`; fails if the process ends first.
    pub fn wait_for(&mut self, needle: &str) {
        if !self.wait_for_or_exit(needle) {
            let (code, err) = self.finish_status();
            panic!("never printed {needle:?} (exit {code:?}):\n{}\nstderr:\n{err}", self.seen);
        }
    }

    /// kill -9: no chance to save, release the lease or say anything.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait");
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
    }

    /// Waits for the exit (killing the process past the limit); the exit code and stderr.
    pub fn finish_status(&mut self) -> (Option<i32>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("poll child") {
                break s;
            }
            if start.elapsed() > LIMIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("poolshift did not exit within {LIMIT:?}:\n{}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let err = self.stderr.recv_timeout(LIMIT).unwrap_or_default();
        (status.code(), err)
    }

    /// Waits for the exit; returns the exit code, all of stdout and stderr.
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        while self.next_line().is_some() {}
        let (code, err) = self.finish_status();
        (code, std::mem::take(&mut self.seen), err)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
