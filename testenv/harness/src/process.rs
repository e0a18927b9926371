//! The control plane's processes. They are spawned from one thread that lives as long as the test process,
//! with PDEATHSIG set to SIGKILL: Linux sends it when the spawning *thread* ends, so spawning from a test's own
//! thread would kill the shared control plane when that test finishes. Each process writes to its own log.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};

use crate::TestenvError;

type Request = (Command, Sender<std::io::Result<Child>>);

fn spawner() -> &'static Mutex<Sender<Request>> {
    static SPAWNER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        std::thread::Builder::new()
            .name("testenv-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the testenv spawner thread: {e}"));
        Mutex::new(tx)
    })
}

/// A running component; killed (SIGKILL, then reaped) on drop.
pub struct Proc {
    pub component: &'static str,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    pub fn spawn(
        component: &'static str,
        binary: &Path,
        args: &[String],
        log_dir: &Path,
    ) -> Result<Proc, TestenvError> {
        let log = log_dir.join(format!("{component}.log"));
        let out = File::create(&log).map_err(|source| TestenvError::Write { path: log.clone(), source })?;
        let err = out.try_clone().map_err(|source| TestenvError::Write { path: log.clone(), source })?;
        let mut cmd = Command::new(binary);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid, _exit).
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (tx, rx) = channel();
        let spawn_err = |source| TestenvError::Spawn { component, binary: binary.to_path_buf(), source };
        spawner()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((cmd, tx))
            .map_err(|_| spawn_err(std::io::Error::other("the spawner thread is gone")))?;
        let child = rx
            .recv()
            .map_err(|_| spawn_err(std::io::Error::other("the spawner thread is gone")))?
            .map_err(spawn_err)?;
        Ok(Proc { component, log, child })
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// Resident memory now, from /proc.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    pub fn tail(&self) -> String {
        tail(&self.log, 30)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a file (at most 64 KiB are read).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else { return String::from("(no log)") };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
