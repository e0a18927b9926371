//! Running a child process (an on-prem exec plugin, a retire command, a gate command) with a deadline.
//!
//! The child runs in its own process group, so a timeout (or a dropped call) kills everything it started
//! (a shell script's `curl`, Terraform's providers), not just the direct child. stdout is kept up to
//! [`MAX_STDOUT`]; stderr is drained to the end and its last [`MAX_STDERR`] bytes are kept for messages.
//!
//! Deadlines use tokio's clock: run these on a runtime whose time is real (a paused test clock would
//! fire the deadline as soon as the runtime waits for the child).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

/// Largest answer read from a child's stdout.
pub const MAX_STDOUT: usize = 8 << 20;
/// How much of the end of stderr is kept.
pub const MAX_STDERR: usize = 4096;
/// After the deadline kill, how long to wait for the pipes to close.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

/// A child that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// stdout was longer than [`MAX_STDOUT`] (the rest was discarded).
    pub stdout_truncated: bool,
    /// The end of stderr, lossily decoded.
    pub stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("did not finish within {timeout:?}; its process group was killed")]
    TimedOut { timeout: Duration, stderr: String },
    #[error("waiting for it failed: {0}")]
    Wait(std::io::Error),
}

/// How a finished child ended, in words: `exited with status 3`, `was killed by signal 9 (SIGKILL)`.
pub fn describe_exit(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(sig) => {
            format!("was killed by signal {sig}{}", signal_name(sig).map(|n| format!(" ({n})")).unwrap_or_default())
        }
        None => "ended without an exit status".to_string(),
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGINT => "SIGINT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGPIPE => "SIGPIPE",
        _ => return None,
    })
}

/// Kills the process group on drop unless disarmed: covers the timeout and a caller that gives up.
struct GroupKill {
    pgid: Option<i32>,
}

impl GroupKill {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: killpg only sends a signal; the group id is our child's pid, which is not reaped yet
            // (or still leads a live group), so it cannot name an unrelated process group.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `program args...` with `stdin` (closed when `None`) and `env` added to this process's environment,
/// killing its process group at `timeout`.
pub async fn run(
    program: &Path,
    args: &[String],
    stdin: Option<Vec<u8>>,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Finished, RunError> {
    let deadline = Instant::now() + timeout;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn { program: program.display().to_string(), source })?;
    let mut group = GroupKill { pgid: child.id().and_then(|id| i32::try_from(id).ok()) };

    if let (Some(mut w), Some(data)) = (child.stdin.take(), stdin) {
        tokio::spawn(async move {
            // A plugin that does not read its input gets EPIPE here: not our error, its answer decides.
            let _ = w.write_all(&data).await;
            let _ = w.shutdown().await;
        });
    }
    let stdout = child.stdout.take().map(|r| tokio::spawn(read_head(r, MAX_STDOUT)));
    let stderr = child.stderr.take().map(|r| tokio::spawn(read_tail(r, MAX_STDERR)));

    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(RunError::Wait(e)),
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            let stderr = match stderr {
                Some(t) => {
                    tokio::time::timeout(DRAIN_AFTER_KILL, t).await.ok().and_then(Result::ok).unwrap_or_default()
                }
                None => String::new(),
            };
            return Err(RunError::TimedOut { timeout, stderr });
        }
    };
    // The child is gone; something it left behind may still hold the pipes open until the deadline.
    let pipes = async {
        let out = match stdout {
            Some(t) => t.await.unwrap_or_default(),
            None => (Vec::new(), false),
        };
        let err = match stderr {
            Some(t) => t.await.unwrap_or_default(),
            None => String::new(),
        };
        (out, err)
    };
    match tokio::time::timeout_at(deadline, pipes).await {
        Ok(((stdout, stdout_truncated), stderr)) => {
            group.pgid = None;
            Ok(Finished { status, stdout, stdout_truncated, stderr })
        }
        Err(_) => {
            group.kill();
            Err(RunError::TimedOut { timeout, stderr: String::new() })
        }
    }
}

/// Reads everything, keeping the first `limit` bytes; `true` when more was discarded.
async fn read_head(mut r: impl AsyncRead + Unpin, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (kept, truncated)
}

/// Reads everything, keeping the last `limit` bytes, decoded lossily (marked `…` when cut).
async fn read_tail(mut r: impl AsyncRead + Unpin, limit: usize) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > limit {
                    let excess = kept.len() - limit;
                    kept.drain(..excess);
                    cut = true;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&kept).trim().to_string();
    if cut { format!("…{text}") } else { text }
}
