//! Peak memory of a process (Linux), shared by the benchmarks: the high-water mark of its resident set
//! (`VmHWM` of /proc/<pid>/status) while it runs, and exactly at its exit (`ru_maxrss` of `wait4`).

// Each benchmark uses part of this module.
#![allow(dead_code)]

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// A `kB` field (`VmHWM`, `VmRSS`) of /proc/<pid>/status, in bytes; `pid` may be `self`. `None` once the
/// process is gone (or not on Linux).
pub fn status_bytes(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Peak resident set size of this process so far.
pub fn own_peak_rss_bytes() -> Option<u64> {
    status_bytes("self", "VmHWM")
}

/// Waits for the child `pid` to exit (reaping it: `std::process::Child::wait` must not be called for it
/// afterwards) and returns its exit status and its peak resident set size in bytes, as the kernel counted
/// it until the very end.
pub fn wait_peak_rss(pid: u32) -> std::io::Result<(ExitStatus, u64)> {
    let pid = libc::pid_t::try_from(pid).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the types wait4 expects.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // Linux reports ru_maxrss in KiB.
    let kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok((ExitStatus::from_raw(status), kib * 1024))
}
