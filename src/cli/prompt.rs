//! Talking to the operator at a terminal: confirmation, and Ctrl-C as a pause.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::CliError;

/// Asks a yes/no question on the terminal; without one, a job must say `--yes`.
pub fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsYes);
    }
    super::write_stdout(format!("{question} [y/N] ").as_bytes())?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(CliError::Output)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Ctrl-C (or SIGTERM, as a CronJob's pod gets when it is stopped) asks the running engine to pause at its
/// next safe point: in-flight evictions finish, the checkpoint is saved, the process exits with code 3.
pub fn pause_on_signal(interrupt: Arc<AtomicBool>) {
    tokio::spawn(async move {
        if stop_signal().await {
            interrupt.store(true, Ordering::SeqCst);
            eprintln!("poolshift: stopping at the next safe point (in-flight evictions finish, then the run pauses)");
        }
    });
}

/// Resolves on the first SIGINT or SIGTERM; `false` when signals cannot be listened to.
async fn stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else { return false };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
