//! The provider a configuration names, built on the cluster's connection. Provider crates are compiled in
//! by cargo features (on by default); a kind whose crate is not in this build is a configuration error.

use std::sync::Arc;

use async_trait::async_trait;
use poolshift_provider_api::{
    AutoscalingSettings, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSpec, PoolStatus,
    Provider, ProviderError,
};

#[cfg(feature = "onprem")]
use crate::config::{OnpremConfig, PluginExecutable};
use crate::config::{PoolConfig, ProviderConfig};

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
    if cfg!(feature = "eks") {
        kinds.extend(["eks", "eks-asg"]);
    }
    if cfg!(feature = "gke") {
        kinds.push("gke");
    }
    if cfg!(feature = "onprem") {
        kinds.push("onprem");
    }
    if cfg!(feature = "kwok") {
        kinds.push("kwok");
    }
    kinds
}

/// The provider for `cfg`. `client` is the cluster's connection (the `sim` provider drives the simulator's
/// pools over it, the `kwok` provider writes its pool records and node objects through it; cloud providers
/// use their own SDK clients and credentials).
pub async fn build_provider(
    cfg: &ProviderConfig,
    client: &kube::Client,
    pool: &PoolConfig,
) -> Result<Arc<dyn Provider>, ProviderBuildError> {
    // Only the eks-asg (its new image) and on-prem (its node label) providers read the pool's settings.
    #[cfg(not(any(feature = "eks", feature = "onprem")))]
    let _ = pool;
    #[cfg_attr(
        all(feature = "sim", feature = "eks", feature = "gke", feature = "onprem", feature = "kwok"),
        allow(unused_variables)
    )]
    let not_compiled = |kind| ProviderBuildError::NotCompiled { kind, available: compiled_kinds().join(", ") };
    match cfg {
        #[cfg(feature = "sim")]
        ProviderConfig::Sim => Ok(Arc::new(poolshift_provider_sim::SimProvider::new(client.clone()))),
        #[cfg(not(feature = "sim"))]
        ProviderConfig::Sim => {
            let _ = client;
            Err(not_compiled("sim"))
        }
        #[cfg(feature = "gke")]
        ProviderConfig::Gke(g) => {
            let settings = poolshift_provider_gke::GkeSettings {
                project: g.project.clone(),
                location: g.location.clone(),
                cluster: g.cluster.clone(),
                endpoint: g.endpoint.clone(),
            };
            let p = poolshift_provider_gke::GkeProvider::new(settings)
                .await
                .map_err(|e| ProviderBuildError::Setup { kind: "gke", message: e.to_string() })?;
            Ok(Arc::new(p))
        }
        #[cfg(feature = "onprem")]
        ProviderConfig::Onprem(o) => onprem(o, client, pool),
        #[cfg(not(feature = "gke"))]
        ProviderConfig::Gke(_) => Err(not_compiled("gke")),
        #[cfg(not(feature = "onprem"))]
        ProviderConfig::Onprem(_) => Err(not_compiled("onprem")),
        #[cfg(feature = "eks")]
        ProviderConfig::Eks(e) => {
            let settings = poolshift_provider_eks::EksSettings {
                region: e.region.clone(),
                cluster: e.cluster.clone(),
                endpoint_url: e.endpoint_url.clone(),
                profile: e.profile.clone(),
            };
            let p = poolshift_provider_eks::EksProvider::new(settings)
                .await
                .map_err(|e| ProviderBuildError::Setup { kind: "eks", message: e.to_string() })?;
            Ok(Arc::new(p))
        }
        #[cfg(feature = "eks")]
        ProviderConfig::EksAsg(e) => {
            let settings = poolshift_provider_eks::AsgSettings {
                region: e.region.clone(),
                cluster: e.cluster.clone(),
                endpoint_url: e.endpoint_url.clone(),
                profile: e.profile.clone(),
                node_label: None,
                images: pool.image_id.iter().map(|i| (pool.name.clone(), i.clone())).collect(),
            };
            let p = poolshift_provider_eks::AsgProvider::new(settings)
                .await
                .map_err(|e| ProviderBuildError::Setup { kind: "eks-asg", message: e.to_string() })?;
            Ok(Arc::new(p))
        }
        #[cfg(not(feature = "eks"))]
        ProviderConfig::Eks(_) | ProviderConfig::EksAsg(_) => Err(not_compiled(cfg.kind())),
        #[cfg(feature = "kwok")]
        ProviderConfig::Kwok(k) => {
            let mut settings =
                poolshift_provider_kwok::KwokSettings { versions: k.versions.clone(), ..Default::default() };
            if let Some(ns) = &k.namespace {
                settings.namespace = ns.clone();
            }
            if let Some(d) = k.node_ready_delay {
                settings.node_ready_delay = d;
            }
            // The stand-in cloud may act with its own credentials, as a real cloud's API does.
            let client = match &k.kubeconfig {
                Some(path) => super::connect::client_for(Some(path), None)
                    .await
                    .map_err(|e| ProviderBuildError::Setup { kind: "kwok", message: e.to_string() })?,
                None => client.clone(),
            };
            Ok(Arc::new(poolshift_provider_kwok::KwokProvider::new(client, settings)))
        }
        #[cfg(not(feature = "kwok"))]
        ProviderConfig::Kwok(_) => Err(not_compiled("kwok")),
    }
}

/// On-prem: an exec plugin, or pre-provisioned nodes. Pre-provisioned pools are named by the value of their
/// node label: blue carries `<key>=<pool>`, green the configured `label`.
#[cfg(feature = "onprem")]
fn onprem(o: &OnpremConfig, client: &kube::Client, pool: &PoolConfig) -> Result<Arc<dyn Provider>, ProviderBuildError> {
    use poolshift_provider_onprem::{ExecProvider, ExecSettings, PreProvisioned, PreProvisionedSettings};
    let setup =
        |e: poolshift_provider_api::ProviderError| ProviderBuildError::Setup { kind: "onprem", message: e.to_string() };
    match o {
        OnpremConfig::Plugin { executable, timeout, settings, node_label } => {
            let (plugin, plugin_path) = match executable {
                PluginExecutable::Name(n) => (Some(n.clone()), None),
                PluginExecutable::Path(p) => (None, Some(p.clone())),
            };
            let mut s = ExecSettings {
                plugin,
                plugin_path,
                timeout: *timeout,
                settings: serde_json::to_value(settings).unwrap_or_default(),
                ..Default::default()
            };
            if let Some(label) = node_label {
                s.node_label = label.clone();
            }
            Ok(Arc::new(ExecProvider::new(s).map_err(setup)?))
        }
        OnpremConfig::PreProvisioned { label, expected_nodes, retire_command } => {
            let key = label.split_once('=').map_or(label.as_str(), |(k, _)| k);
            let s = PreProvisionedSettings {
                label: label.clone(),
                blue_label: format!("{key}={}", pool.name),
                expected_nodes: *expected_nodes,
                retire_command: retire_command.as_ref().map(|c| c.split_whitespace().map(str::to_string).collect()),
                retire_timeout: std::time::Duration::from_secs(300),
            };
            Ok(Arc::new(PreProvisioned::new(client.clone(), s).map_err(setup)?))
        }
    }
}

/// For commands that only read or write the checkpoint (`status`, `pause`, `abort`): no provider is
/// contacted, so none needs to be built (nor its credentials found).
pub struct NotNeeded {
    pub command: &'static str,
    /// Why there is no provider when the command would have asked it (it could not be built); `None`: the
    /// command does not call the provider.
    pub unavailable: Option<String>,
}

impl NotNeeded {
    fn refuse<T>(&self, operation: &str) -> Result<T, ProviderError> {
        let message = match &self.unavailable {
            Some(why) => format!("the provider is unavailable: {why}"),
            None => format!("`poolshift {}` does not call the provider", self.command),
        };
        Err(ProviderError::new("none", operation, ErrorKind::Failed, message))
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
    async fn create_pool(&self, _: &PoolSpec, _: &CreateToken) -> Result<PoolStatus, ProviderError> {
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
