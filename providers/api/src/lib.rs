//! The provider trait: what poolshift needs from whatever creates and deletes node pools (EKS managed node
//! groups, self-managed Auto Scaling groups, GKE node pools, on-prem exec plugins, the simulator).
//!
//! The trait is deliberately narrow and idempotent: every call can be retried after a crash, `create_pool`
//! finds a pool it already created (same deterministic name), `delete_pool` of a missing pool succeeds,
//! `freeze_autoscaling` of a frozen pool returns the settings from before the first freeze.

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod types;

pub use error::{ErrorKind, ProviderError};
pub use types::*;

use async_trait::async_trait;

#[async_trait]
pub trait Provider: Send + Sync {
    /// Short provider id for logs and reports (`eks`, `gke`, `sim`, `onprem:terraform`).
    fn kind(&self) -> &str;

    /// The blue pool as the provider knows it: version, instance types, zones, labels, taints, sizes.
    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError>;

    /// Versions the provider offers for node pools, and the control plane's version.
    async fn versions(&self) -> Result<OfferedVersions, ProviderError>;

    /// Creates the green pool. Idempotent by name: if a pool with `spec.name` exists with the same source
    /// and version, its status is returned; with a different version it is a [`ErrorKind::Conflict`].
    /// `token` is the same for every retry of one attempt and differs between attempts and runs (see
    /// [`CreateToken`]); a provider whose API takes an idempotency token sends one derived from it.
    async fn create_pool(&self, spec: &PoolSpec, token: &CreateToken) -> Result<PoolStatus, ProviderError>;

    /// Current status of a pool, `None` when it does not exist.
    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError>;

    /// Starts deleting a pool; a missing pool is already deleted (`Ok(None)`).
    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError>;

    /// Stops the pool's autoscaling from adding or removing nodes; returns the settings to restore later.
    /// The original settings are recorded on the provider's side at the first freeze (a tag, a label, a
    /// record): freezing a pool that poolshift froze before (a run that crashed or was aborted with blue
    /// frozen, then a new run) changes nothing and returns those original settings, never the frozen ones.
    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError>;

    /// Puts back exactly the settings `freeze_autoscaling` returned, and clears the freeze's record.
    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError>;

    /// How a pool's nodes are recognised in Kubernetes (a node label and its value).
    fn node_matcher(&self, pool: &str) -> NodeMatcher;

    /// The deterministic name of the green pool for `blue` at `version`, within the provider's naming rules.
    fn green_name(&self, blue: &str, version: &str) -> String {
        default_green_name(blue, version, 63)
    }
}

/// `<blue>-v1-31-4`, shortened to `max_len` keeping the version suffix; lowercase, `[a-z0-9-]`.
pub fn default_green_name(blue: &str, version: &str, max_len: usize) -> String {
    let suffix = format!("-v{}", version.trim_start_matches('v').replace(['.', '+', '_'], "-")).to_lowercase();
    // A blue pool that is itself a green pool of an earlier run: replace its version suffix, don't stack them.
    let base = match blue.rfind("-v") {
        Some(i) if blue[i + 2..].chars().all(|c| c.is_ascii_digit() || c == '-') && i > 0 => &blue[..i],
        _ => blue,
    };
    let base: String =
        base.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    let keep = max_len.saturating_sub(suffix.len()).min(base.len());
    format!("{}{suffix}", base[..keep].trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn green_names_are_deterministic_and_bounded() {
        assert_eq!(default_green_name("workers", "1.31.4", 63), "workers-v1-31-4");
        assert_eq!(default_green_name("workers-v1-30-2", "1.31.4", 63), "workers-v1-31-4");
        assert_eq!(default_green_name("Big_Pool", "v1.31.4-eks-1", 63), "big-pool-v1-31-4-eks-1");
        let long = "a".repeat(80);
        let n = default_green_name(&long, "1.31.4", 40);
        assert_eq!(n.len(), 40);
        assert!(n.ends_with("-v1-31-4"));
    }
}
