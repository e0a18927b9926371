//! Abort: ends the run as it is, changing nothing in the cluster or at the provider, and says what it leaves
//! behind — asking the provider, not only the checkpoint, whether a green pool exists (a crash can leave a
//! pool the provider accepted before the checkpoint recorded it) — and what became of the pool's lease.

use poolshift_provider_api::{AutoscalingSettings, PoolState};

use super::{Engine, EngineError};
use crate::model::checkpoint::{Checkpoint, Phase, RunStatus};
use crate::model::version::Version;
use crate::ports::{LeaseHolder, LockError};

/// What `abort` did and left.
#[derive(Debug, Clone, PartialEq)]
pub struct AbortReport {
    pub left: Vec<LeftBehind>,
    pub lease: LeaseAfterAbort,
}

/// Something the aborted run leaves for the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum LeftBehind {
    /// The green pool exists in `state`. `recorded`: the checkpoint knew; otherwise the provider had it
    /// although the run was stopped before recording it.
    GreenPool { name: String, state: PoolState, recorded: bool },
    /// The provider could not be asked whether the green pool exists.
    GreenUnknown { name: String, recorded: bool, error: String },
    /// Blue's nodes stay cordoned.
    BlueCordoned { pool: String },
    /// Green's nodes keep `cluster-autoscaler.kubernetes.io/scale-down-disabled` (set from green Ready).
    GreenScaleDownDisabled { pool: String, label: String, value: String },
    /// Blue's autoscaling stays frozen; `now` as the provider reports it (`None`: it could not be asked),
    /// `restore` the settings recorded before the freeze.
    AutoscalingFrozen { pool: String, now: Option<AutoscalingSettings>, restore: AutoscalingSettings },
}

/// The pool's lease after the abort.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseAfterAbort {
    /// It was free, or ours, and is released.
    Released,
    /// A dead agent's lease (not renewed in time) was taken over and released.
    ClearedExpired { previous: LeaseHolder },
    /// A live agent holds it: that agent sees the abort at its next safe point, stops and releases it.
    HeldByLiveAgent { holder: String, expires_at: Option<jiff::Timestamp> },
    /// The lease could not be read or taken: it is left as it is.
    Unknown { error: String },
}

/// Whether the phase has got as far as asking the provider for green.
fn green_may_exist(cp: &Checkpoint) -> bool {
    cp.green.created || !matches!(cp.phase, Phase::Planned)
}

impl Engine {
    /// Ends the run, leaving the cluster as it is. Takes the lease first (a dead agent's expired lease too)
    /// and releases it after; returns what is left behind.
    pub async fn abort(&self) -> Result<AbortReport, EngineError> {
        let (lease, ours) = match self.lock.acquire(&self.holder).await {
            Ok(None) => (LeaseAfterAbort::Released, true),
            Ok(Some(previous)) => (LeaseAfterAbort::ClearedExpired { previous }, true),
            Err(LockError::Held { holder, expires_at, .. }) => {
                (LeaseAfterAbort::HeldByLiveAgent { holder, expires_at }, false)
            }
            Err(e) => (LeaseAfterAbort::Unknown { error: e.to_string() }, false),
        };
        let result = self.abort_run().await;
        if ours {
            self.release().await;
        }
        Ok(AbortReport { left: result?, lease })
    }

    async fn abort_run(&self) -> Result<Vec<LeftBehind>, EngineError> {
        let st = self.load_required("abort").await?;
        let mut left = Vec::new();
        let mut found_unrecorded = false;
        let name = st.checkpoint.green.name.clone();
        let recorded = st.checkpoint.green.created;
        if green_may_exist(&st.checkpoint) {
            match self.pool_status(&name).await {
                Ok(Some(s)) => {
                    // A same-named pool at another version that this run never recorded is not its own.
                    let ours = recorded
                        || s.version.parse::<Version>().ok()
                            == st.checkpoint.plan.green.version.parse::<Version>().ok();
                    if ours {
                        found_unrecorded = !recorded;
                        left.push(LeftBehind::GreenPool { name: name.clone(), state: s.state, recorded });
                    }
                }
                Ok(None) => {}
                Err(e) => left.push(LeftBehind::GreenUnknown { name: name.clone(), recorded, error: e.to_string() }),
            }
        }
        let cp = &st.checkpoint;
        if super::steps::blue_cordoned(&cp.phase) {
            left.push(LeftBehind::BlueCordoned { pool: cp.pool.clone() });
        }
        // Marked from green Ready until blue is deleted: a run aborted in between leaves the mark.
        if cp.green.created && (cp.phase == Phase::Validating || super::steps::blue_cordoned(&cp.phase)) {
            let m = self.provider.node_matcher(&cp.green.name);
            left.push(LeftBehind::GreenScaleDownDisabled {
                pool: cp.green.name.clone(),
                label: m.label,
                value: m.value,
            });
        }
        if let Some(prior) = &cp.autoscaling_prior
            && !matches!(cp.phase, Phase::DeletingBlue | Phase::Done)
        {
            let pool = cp.pool.clone();
            let now = match self.provider.describe_pool(&pool).await {
                Ok(d) => Some(d.autoscaling),
                Err(e) => {
                    tracing::warn!(error = %e, "abort: reading blue's autoscaling settings failed");
                    None
                }
            };
            left.push(LeftBehind::AutoscalingFrozen { pool, now, restore: prior.clone() });
        }
        let now = self.now();
        let by = self.holder.clone();
        self.update_from_outside(|cp| {
            if found_unrecorded {
                cp.green.created = true;
                cp.note(&now, format!("abort found green pool {name} the run had not recorded"));
            }
            cp.status = RunStatus::Aborted;
            cp.note(&now, format!("aborted by {by}"));
            Ok(())
        })
        .await?;
        Ok(left)
    }
}
