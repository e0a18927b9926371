//! The provider a configuration names, built on the cluster's connection. Provider crates are compiled in
//! by cargo features (on by default); a kind whose crate is not in this build is a configuration error.

use std::sync::Arc;

use async_trait::async_trait;
use poolshift_provider_api::{
    AutoscalingSettings, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSpec, PoolStatus, Provider,
    ProviderError,
};

use crate::config::ProviderConfig;

#[derive(Debug, thiserror::Error)]
pub enum ProviderBuildError {
    #[error(
        "provider {kind} is not compiled into this build yet (this poolshift has: {available}); use a build with the {kind} provider"
    )]
    NotCompiled { kind: &'static str, available: String },
    #[error("provider {kind}: {message}")]
    Setup { kind: &'static str, message: String },
}

/// Provider kinds compiled into this binary.
pub fn compiled_kinds() -> Vec<&'static str> {
    let mut kinds = Vec::new();
    if cfg!(feature = "sim") {
        kinds.push("sim");
    }
    kinds
}

/// The provider for `cfg`. `client` is the cluster's connection (the `sim` provider drives the simulator's
/// pools over it; cloud providers use their own SDK clients and credentials).
pub async fn build_provider(
    cfg: &ProviderConfig,
    client: &kube::Client,
) -> Result<Arc<dyn Provider>, ProviderBuildError> {
    let not_compiled = |kind| ProviderBuildError::NotCompiled { kind, available: compiled_kinds().join(", ") };
    match cfg {
        #[cfg(feature = "sim")]
        ProviderConfig::Sim => Ok(Arc::new(poolshift_provider_sim::SimProvider::new(client.clone()))),
        #[cfg(not(feature = "sim"))]
        ProviderConfig::Sim => {
            let _ = client;
            Err(not_compiled("sim"))
        }
        ProviderConfig::Eks(_) | ProviderConfig::EksAsg(_) | ProviderConfig::Gke(_) | ProviderConfig::Onprem(_) => {
            Err(not_compiled(cfg.kind()))
        }
    }
}

/// For commands that only read or write the checkpoint (`status`, `pause`, `abort`): no provider is
/// contacted, so none needs to be built (nor its credentials found).
pub struct NotNeeded {
    pub command: &'static str,
}

impl NotNeeded {
    fn refuse<T>(&self, operation: &str) -> Result<T, ProviderError> {
        Err(ProviderError::new(
            "none",
            operation,
            ErrorKind::Failed,
            format!("`poolshift {}` does not call the provider", self.command),
        ))
    }
}

#[async_trait]
impl Provider for NotNeeded {
    fn kind(&self) -> &str {
        "none"
    }
    async fn describe_pool(&self, _: &str) -> Result<PoolDescription, ProviderError> {
        self.refuse("describe")
    }
    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        self.refuse("versions")
    }
    async fn create_pool(&self, _: &PoolSpec) -> Result<PoolStatus, ProviderError> {
        self.refuse("create")
    }
    async fn pool_status(&self, _: &str) -> Result<Option<PoolStatus>, ProviderError> {
        self.refuse("status")
    }
    async fn delete_pool(&self, _: &str) -> Result<Option<PoolStatus>, ProviderError> {
        self.refuse("delete")
    }
    async fn freeze_autoscaling(&self, _: &str) -> Result<AutoscalingSettings, ProviderError> {
        self.refuse("freeze")
    }
    async fn restore_autoscaling(&self, _: &str, _: &AutoscalingSettings) -> Result<(), ProviderError> {
        self.refuse("restore")
    }
    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        NodeMatcher { label: String::new(), value: pool.to_string() }
    }
}
