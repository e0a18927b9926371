//! The file as written: every mapping strict (`deny_unknown_fields`), values typed and checked as they are
//! parsed. The provider section is one flat mapping checked against its `kind` afterwards (see
//! `validate`), so that every problem in it keeps its line and column.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::units::{Batch, Dur, TargetSpec};
use crate::model::policy::Escalation;
use crate::model::stop::StopKind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with cluster, provider, pools (and optionally state, lease_ttl, maintenance, notify)")]
pub struct File {
    pub cluster: Cluster,
    pub provider: Provider,
    #[serde(default)]
    pub state: Option<State>,
    #[serde(default)]
    pub lease_ttl: Option<Dur>,
    #[serde(default)]
    pub maintenance: Option<super::windows::Maintenance>,
    #[serde(default)]
    pub notify: Option<super::notify::Notify>,
    pub pools: Vec<Pool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with name (and optionally context, kubeconfig)")]
pub struct Cluster {
    pub name: String,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Sim,
    Eks,
    EksAsg,
    Gke,
    Onprem,
    Kwok,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sim => "sim",
            Kind::Eks => "eks",
            Kind::EksAsg => "eks-asg",
            Kind::Gke => "gke",
            Kind::Onprem => "onprem",
            Kind::Kwok => "kwok",
        }
    }
}

/// Every provider's settings; `validate` keeps those of `kind` and refuses the others.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with kind and that kind's settings")]
pub struct Provider {
    pub kind: Kind,
    // eks, eks-asg
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    // eks, eks-asg, gke
    #[serde(default)]
    pub cluster: Option<String>,
    // gke
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    // onprem
    #[serde(default)]
    pub plugin: Option<String>,
    #[serde(default)]
    pub plugin_path: Option<PathBuf>,
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub settings: Option<BTreeMap<String, serde_json::Value>>,
    /// The node label whose value names a plugin's pool (default `poolshift.io/pool`).
    #[serde(default)]
    pub node_label: Option<String>,
    #[serde(default)]
    pub pre_provisioned: Option<PreProvisioned>,
    // kwok
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub versions: Option<Vec<VersionText>>,
    #[serde(default)]
    pub node_ready_delay: Option<Dur>,
    /// kwok: the kubeconfig the provider (the stand-in cloud) uses; default: poolshift's own.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
}

/// A version in a list, as written: YAML reads `1.31` as a number, which is kept as text so that the check
/// reports it as a bad version rather than a wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionText(pub String);

impl<'de> Deserialize<'de> for VersionText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = VersionText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a version X.Y.Z such as 1.31.4")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with label, expected_nodes (and optionally retire_command)")]
pub struct PreProvisioned {
    pub label: String,
    pub expected_nodes: u32,
    #[serde(default)]
    pub retire_command: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    #[default]
    Configmap,
    File,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with store (and file when store is file)")]
pub struct State {
    #[serde(default)]
    pub store: Store,
    #[serde(default)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with the pool's name and policy")]
pub struct Pool {
    pub name: String,
    #[serde(default)]
    pub to: Option<TargetSpec>,
    #[serde(default)]
    pub maturity: Option<u32>,
    #[serde(default)]
    pub batch: Option<Batch>,
    #[serde(default)]
    pub batch_soak: Option<Dur>,
    #[serde(default)]
    pub pool_soak: Option<Dur>,
    #[serde(default)]
    pub drain_timeout: Option<Dur>,
    #[serde(default)]
    pub green_ready_timeout: Option<Dur>,
    #[serde(default)]
    pub escalation: Option<Escalation>,
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    #[serde(default)]
    pub allow: Option<Allow>,
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub guided: Option<Guided>,
    #[serde(default)]
    pub gates: Option<super::gates::Gates>,
}

/// Where a guided run (an operator at a terminal) stops to ask.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(
    expecting = "a mapping with stops: a list of green_ready, before_first_batch, after_batch, before_blue_deletion"
)]
pub struct Guided {
    pub stops: Vec<StopKind>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping of bare_pods, empty_dir, do_not_disrupt, safe_to_evict_false to true or false")]
pub struct Allow {
    #[serde(default)]
    pub bare_pods: bool,
    #[serde(default)]
    pub empty_dir: bool,
    #[serde(default)]
    pub do_not_disrupt: bool,
    #[serde(default)]
    pub safe_to_evict_false: bool,
}
