//! Settings of the two EKS providers, as they appear under `provider:` in the cluster's YAML file.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The node label eksctl puts on self-managed nodes: `alpha.eksctl.io/nodegroup-name=<nodegroup>`.
pub const DEFAULT_ASG_NODE_LABEL: &str = "alpha.eksctl.io/nodegroup-name";

/// EKS managed node groups.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EksSettings {
    /// AWS region of the cluster (`eu-west-1`).
    pub region: String,
    /// EKS cluster name.
    pub cluster: String,
    /// Overrides the endpoint of every AWS service called (a local emulator in tests, a VPC endpoint).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// A named profile of the shared AWS config files; otherwise the default credential chain.
    #[serde(default)]
    pub profile: Option<String>,
}

/// Self-managed node groups: EC2 Auto Scaling groups joined to an EKS cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsgSettings {
    pub region: String,
    /// EKS cluster name (for the control plane version).
    pub cluster: String,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    /// The node label whose value is the pool (ASG) name; default `alpha.eksctl.io/nodegroup-name`.
    #[serde(default)]
    pub node_label: Option<String>,
    /// The AMI id each pool's green group boots, by blue pool name.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
}
