//! The upgrade policy: how big batches are, how long to soak and wait, what to do with stuck pods, and
//! which normally-blocking pods the operator allows poolshift to evict.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Batch size: a node count, or a percent of the initial blue nodes (rounded up, at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchSize {
    Nodes(u32),
    Percent(u32),
}

impl BatchSize {
    pub fn nodes_for(&self, initial_blue: usize) -> usize {
        let n = match *self {
            BatchSize::Nodes(n) => n as usize,
            BatchSize::Percent(p) => (initial_blue * p as usize).div_ceil(100),
        };
        n.max(1)
    }
}

/// What happens to a batch whose pods are still there when the drain timeout expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// Stop the run (exit 4): an operator decides.
    #[default]
    Pause,
    /// Leave the stuck nodes cordoned, report them, continue with the next batch; blue is not deleted
    /// while a quarantined node still holds workloads.
    Quarantine,
    /// Delete the stuck pods (bypassing PDBs) — only when the operator enabled force for this run.
    Force,
}

/// Pods that block by default, and whether this run may evict them anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Allow {
    /// Pods without a controller (nothing recreates them: kubectl's `--force`).
    pub bare_pods: bool,
    /// Pods with emptyDir volumes (their data is lost: kubectl's `--delete-emptydir-data`).
    pub empty_dir: bool,
    /// Pods annotated `karpenter.sh/do-not-disrupt`.
    pub do_not_disrupt: bool,
    /// Pods annotated `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`.
    pub safe_to_evict_false: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub batch: BatchSize,
    #[serde(with = "secs")]
    pub batch_soak: Duration,
    #[serde(with = "secs")]
    pub pool_soak: Duration,
    /// Per batch: how long evictions may wait (PDBs, terminating pods) before escalation.
    #[serde(with = "secs")]
    pub drain_timeout: Duration,
    pub escalation: Escalation,
    /// The operator enabled `force` for this run (required for `Escalation::Force`).
    pub force_allowed: bool,
    /// Evictions in flight at once, across the batch's nodes.
    pub max_in_flight: usize,
    pub allow: Allow,
    /// How long green nodes may take to become Ready.
    #[serde(with = "secs")]
    pub green_ready_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            batch: BatchSize::Percent(20),
            batch_soak: Duration::from_secs(60),
            pool_soak: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(900),
            escalation: Escalation::Pause,
            force_allowed: false,
            max_in_flight: 50,
            allow: Allow::default(),
            green_ready_timeout: Duration::from_secs(1800),
        }
    }
}

/// Durations as whole seconds in JSON (checkpoints, plans).
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_round_up_and_are_never_zero() {
        assert_eq!(BatchSize::Percent(20).nodes_for(10), 2);
        assert_eq!(BatchSize::Percent(25).nodes_for(10), 3);
        assert_eq!(BatchSize::Percent(1).nodes_for(3), 1);
        assert_eq!(BatchSize::Nodes(0).nodes_for(3), 1);
        assert_eq!(BatchSize::Nodes(4).nodes_for(3), 4);
    }
}
