//! The `provider:` section, checked against its kind: what a provider implementation is built from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::version::Version;

/// Default time limit of one exec plugin call.
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub enum ProviderConfig {
    /// kubesim's simulated cloud, over the cluster connection itself.
    Sim,
    /// EKS managed node groups.
    Eks(EksConfig),
    /// EKS self-managed Auto Scaling groups (the new image per pool: `pools[].image_id`).
    EksAsg(EksConfig),
    /// GKE node pools.
    Gke(GkeConfig),
    /// On-prem: an exec plugin, or nodes joined by the operator's own automation.
    Onprem(OnpremConfig),
    /// Pools of node objects played by kwok, recorded in ConfigMaps of the cluster itself.
    Kwok(KwokConfig),
}

impl ProviderConfig {
    /// The `kind:` as written.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderConfig::Sim => "sim",
            ProviderConfig::Eks(_) => "eks",
            ProviderConfig::EksAsg(_) => "eks-asg",
            ProviderConfig::Gke(_) => "gke",
            ProviderConfig::Onprem(_) => "onprem",
            ProviderConfig::Kwok(_) => "kwok",
        }
    }

    /// Whether targets may name a provider release of a kubelet version (`1.31.4-20250123`, an EKS AMI
    /// release version): only EKS managed node groups have such releases.
    pub fn takes_release_versions(&self) -> bool {
        matches!(self, ProviderConfig::Eks(_))
    }

    /// Why `target` cannot go to this provider: a release version for a provider without releases.
    pub fn refuses_target(&self, target: &Version) -> Option<String> {
        (target.release().is_some() && !self.takes_release_versions()).then(|| {
            format!(
                "target {target} names a provider release (an EKS AMI release version), which provider kind {} does \
                 not take: use the kubelet version {}",
                self.kind(),
                target.kubelet()
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksConfig {
    pub region: String,
    /// The EKS cluster name.
    pub cluster: String,
    /// Another endpoint than AWS's (a VPC endpoint, or moto in tests).
    pub endpoint_url: Option<String>,
    /// A named AWS profile; default: the standard credential chain.
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GkeConfig {
    pub project: String,
    /// A region or a zone.
    pub location: String,
    pub cluster: String,
    /// Another endpoint than `https://container.googleapis.com` (tests).
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KwokConfig {
    /// Namespace of the pool records; default: the provider's (`kwok-pools`).
    pub namespace: Option<String>,
    /// Node versions offered (`X.Y.Z`); empty: every patch of the control plane's minor and the three before.
    pub versions: Vec<String>,
    /// How long kwok waits before a new node turns Ready; default 0s.
    pub node_ready_delay: Option<Duration>,
    /// The kubeconfig the provider uses (it plays the cloud, whose credentials are not poolshift's own RBAC);
    /// default: poolshift's connection. Relative to the cluster file's directory.
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OnpremConfig {
    /// An exec plugin speaking the JSON protocol on stdin/stdout.
    Plugin {
        executable: PluginExecutable,
        /// Time limit of one call.
        timeout: Duration,
        /// Passed to the plugin as is.
        settings: BTreeMap<String, serde_json::Value>,
        /// The node label whose value names the plugin's pools (default `poolshift.io/pool`).
        node_label: Option<String>,
    },
    /// Green nodes are joined by the operator's automation with `label`; poolshift waits for them.
    PreProvisioned {
        /// `key=value` carried by the green nodes.
        label: String,
        expected_nodes: u32,
        /// Run at the end to retire the blue nodes (else they are listed for the operator).
        retire_command: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginExecutable {
    /// `poolshift-provider-<name>` found on PATH.
    Name(String),
    /// This file (relative paths are taken from the config file's directory).
    Path(PathBuf),
}

impl PluginExecutable {
    /// The program to run: a path, or the plugin's executable name to look up on PATH.
    pub fn program(&self) -> PathBuf {
        match self {
            PluginExecutable::Name(n) => PathBuf::from(format!("poolshift-provider-{n}")),
            PluginExecutable::Path(p) => p.clone(),
        }
    }
}
