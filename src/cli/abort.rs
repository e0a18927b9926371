//! `poolshift abort`: ends the pool's run, changing nothing in the cluster or at the provider, and says
//! what is left behind (a green pool — asking the provider, not only the checkpoint —, cordoned blue nodes,
//! frozen autoscaling with the values to restore) and what became of the pool's lease.

use poolshift_provider_api::{AutoscalingSettings, PoolSize};

use super::args::PoolArgs;
use super::connect::{existing_run, select_run};
use super::error::CliError;
use crate::engine::{LeaseAfterAbort, LeftBehind};
use crate::exit::Exit;
use crate::ports::lock::expiry_text;

pub async fn run(args: &PoolArgs) -> Result<Exit, CliError> {
    let (selected, conn) = select_run(args.config.as_deref(), args.pool.as_deref(), args.state_file.as_deref()).await?;
    let session = conn.session_with_provider_if_possible(&selected, "abort").await;
    let st = existing_run(&session, "abort").await?;
    let cp = &st.checkpoint;
    if cp.finished() {
        let msg = format!(
            "run {} of pool {} is already {}: nothing to abort\n",
            cp.run_id,
            cp.pool,
            super::status::status_word(&cp.status)
        );
        super::write_stdout(msg.as_bytes())?;
        return Ok(Exit::Done);
    }
    let report = session.engine.abort().await?;
    let mut out =
        format!("aborted run {} of pool {} at phase {}; {}\n", cp.run_id, cp.pool, cp.phase, lease(&report.lease));
    if report.left.is_empty() {
        out.push_str("Nothing was left behind.\n");
    } else {
        out.push_str("Left as it is (nothing was deleted, uncordoned or restored) (runbook: rollback):\n");
        for l in &report.left {
            out.push_str(&format!("  - {}\n", left(l)));
        }
    }
    super::write_stdout(out.as_bytes())?;
    Ok(Exit::Done)
}

fn lease(l: &LeaseAfterAbort) -> String {
    match l {
        LeaseAfterAbort::Released => "the lease is released.".to_string(),
        LeaseAfterAbort::ClearedExpired { previous } => format!(
            "the lease of agent {} (which stopped renewing it; it expired at {}) is released.",
            previous.holder,
            expiry_text(previous.expires_at())
        ),
        LeaseAfterAbort::HeldByLiveAgent { holder, expires_at } => format!(
            "agent {holder} still holds the lease: it stops at its next safe point and releases it then (if that agent has died, the lease expires at {}).",
            expiry_text(*expires_at)
        ),
        LeaseAfterAbort::Unknown { error } => {
            format!("the lease could not be taken to release it ({error}); it is left as it is and expires by itself.")
        }
    }
}

fn left(l: &LeftBehind) -> String {
    match l {
        LeftBehind::GreenPool { name, state, recorded } => {
            let found =
                if *recorded { "" } else { " (the provider has it although the run was stopped before recording it)" };
            format!("green pool {name} exists, {}{found}", super::progress::pool_state(state))
        }
        LeftBehind::GreenUnknown { name, recorded, error } => {
            let checkpoint =
                if *recorded { "the checkpoint says it was created" } else { "the checkpoint does not say" };
            format!("green pool {name} may exist ({checkpoint}; the provider could not be asked: {error})")
        }
        LeftBehind::BlueCordoned { pool } => format!("blue nodes of pool {pool} are cordoned"),
        LeftBehind::GreenScaleDownDisabled { pool, label, value } => format!(
            "green pool {pool}'s nodes keep {}=true (a cluster autoscaler will not remove them); to clear: kubectl annotate nodes -l {label}={value} {}-",
            crate::engine::scale_down::SCALE_DOWN_DISABLED,
            crate::engine::scale_down::SCALE_DOWN_DISABLED
        ),
        LeftBehind::AutoscalingFrozen { pool, now, restore } => {
            let at = match now {
                Some(a) => format!(" at {}", settings(a, true)),
                None => " (the provider could not be asked for its sizes now)".to_string(),
            };
            format!("autoscaling of pool {pool} stays frozen{at}; to restore: {}", settings(restore, false))
        }
    }
}

/// `min 2, max 9, desired 5`, or as a state (`state`) `min=2, max=9, desired=5` and `min=max=desired=5` when
/// all three are equal; with whether autoscaling is on and the provider's own settings.
fn settings(a: &AutoscalingSettings, state: bool) -> String {
    let PoolSize { min, max, desired } = a.size;
    let mut s = if !state {
        format!("min {min}, max {max}, desired {desired}")
    } else if min == max && max == desired {
        format!("min=max=desired={desired}")
    } else {
        format!("min={min}, max={max}, desired={desired}")
    };
    s.push_str(if a.enabled { " (autoscaling enabled)" } else { " (autoscaling disabled)" });
    for (k, v) in &a.extra {
        s.push_str(&format!(", {k}={v}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_autoscaling_names_the_frozen_and_the_original_sizes() {
        let frozen = AutoscalingSettings {
            enabled: false,
            size: PoolSize { min: 5, max: 5, desired: 5 },
            extra: Default::default(),
        };
        let prior = AutoscalingSettings {
            enabled: true,
            size: PoolSize { min: 2, max: 9, desired: 5 },
            extra: Default::default(),
        };
        let l = LeftBehind::AutoscalingFrozen { pool: "workers".into(), now: Some(frozen), restore: prior };
        assert_eq!(
            left(&l),
            "autoscaling of pool workers stays frozen at min=max=desired=5 (autoscaling disabled); to restore: min 2, max 9, desired 5 (autoscaling enabled)"
        );
    }
}
