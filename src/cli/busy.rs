//! The refusals of `upgrade` and `resume` while a pool's run is unfinished or another agent holds its lease:
//! who holds it, how long ago it renewed (whole seconds), when it expires, and what to do. An agent that is
//! alive is never pointed at `abort`, which would end its run.

use super::connect::Selected;
use super::error::{Busy, CliError};
use crate::model::checkpoint::Checkpoint;
use crate::ports::lock::expiry_text;
use crate::ports::{LeaseHolder, LockError};
use crate::session::Session;

/// Why `upgrade` refuses while `cp` is unfinished: another agent is running it ([`CliError::Busy`]), or
/// nobody is ([`CliError::Unfinished`], naming resume, rollback and abort).
pub async fn unfinished(session: &Session, cp: &Checkpoint, selected: &Selected) -> CliError {
    let now = session.engine.clock.now();
    match session.engine.lock.holder().await {
        Ok(Some(lease)) if !lease.expired(now) => busy(&lease, now, Some(&cp.run_id), selected),
        Ok(_) => unfinished_only(cp, selected),
        Err(e) => {
            tracing::warn!(error = %e, "reading the pool's lease failed");
            unfinished_only(cp, selected)
        }
    }
}

fn unfinished_only(cp: &Checkpoint, selected: &Selected) -> CliError {
    CliError::Unfinished {
        pool: cp.pool.clone(),
        run: cp.run_id.clone(),
        phase: cp.phase.to_string(),
        status: super::status::status_word(&cp.status).to_string(),
        args: selected.args(),
    }
}

/// The refusal while `lease` is held by a live agent, working on run `run` when known.
pub fn busy(lease: &LeaseHolder, now: jiff::Timestamp, run: Option<&str>, selected: &Selected) -> CliError {
    CliError::Busy(Box::new(Busy {
        pool: selected.pool.name.clone(),
        run: run.map(|r| format!(" (run {r})")).unwrap_or_default(),
        holder: lease.holder.clone(),
        age_secs: lease.age(now).as_secs(),
        expires_at: expiry_text(lease.expires_at()),
        args: selected.args(),
        status_args: selected.file_args(),
    }))
}

/// [`LockError::Held`] from the engine as the refusal, with the hints for `selected`.
pub fn held(e: LockError, run: Option<&str>, selected: &Selected) -> CliError {
    match e {
        LockError::Held { holder, age, expires_at, .. } => CliError::Busy(Box::new(Busy {
            pool: selected.pool.name.clone(),
            run: run.map(|r| format!(" (run {r})")).unwrap_or_default(),
            holder,
            age_secs: age.as_secs(),
            expires_at: expiry_text(expires_at),
            args: selected.args(),
            status_args: selected.file_args(),
        })),
        other => CliError::Engine(other.into()),
    }
}
