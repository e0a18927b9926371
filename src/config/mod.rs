//! The cluster configuration file: one YAML file per cluster, the operator's single source of truth for
//! which cluster (kubeconfig context), which provider, where checkpoints go, and each pool's upgrade policy.
//! Commented examples: `examples/*.yaml`.
//!
//! ```yaml
//! cluster: {name: prod-eu, context: prod-eu, kubeconfig: ~/.kube/config}   # context, kubeconfig optional
//! provider: {kind: eks, region: eu-west-1, cluster: prod-eu}   # sim | eks | eks-asg | gke | onprem | kwok
//! state: {store: configmap}                  # or {store: file, file: /var/lib/poolshift/{pool}.json}
//! lease_ttl: 30s
//! pools:
//!   - name: workers
//!     to: latest-patch                       # latest-patch | next-minor | X.Y.Z (eks: also X.Y.Z-YYYYMMDD)
//!     batch: 20%                             # or a node count
//!     escalation: pause                      # pause | quarantine | force (force also needs --force)
//! ```
//!
//! Parsing is strict: an unknown key, a wrong type, a bad duration, batch or version, a setting that does
//! not apply to the provider's kind, a duplicate pool ... is an error naming the file, line, column and field
//! path, such as `prod.yaml:14:18: pools[0].batch_soak: invalid duration "5 minutes": expected a number and a
//! unit such as 90s, 5m, 1h`. Loading never contacts anything.

mod gates;
mod locate;
pub mod notify;
pub mod provider;
mod schema;
pub mod units;
mod validate;
mod windows;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use gates::GateConfig;
pub use locate::FieldPath;
pub use provider::{EksConfig, GkeConfig, KwokConfig, OnpremConfig, PluginExecutable, ProviderConfig};
pub use units::TargetSpec;

use crate::model::policy::Policy;
use crate::model::stop::StopKind;
use crate::plan::target::TargetPolicy;
use crate::schedule::Schedule;
use crate::session::StateLocation;

/// Where `-c` is looked for when it is not given (nor `POOLSHIFT_CONFIG`).
pub const DEFAULT_FILE: &str = "poolshift.yaml";
/// Replaced by the pool's name in a state file path.
pub const POOL_PLACEHOLDER: &str = "{pool}";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{origin}:{line}:{column}: {field}: {message}")]
    Invalid { origin: String, line: usize, column: usize, field: String, message: String },
    #[error("no configuration file: pass -c FILE or set POOLSHIFT_CONFIG (there is no ./{DEFAULT_FILE})")]
    Missing,
    #[error("{origin} has no pool named \"{pool}\" (its pools: {known})")]
    UnknownPool { origin: String, pool: String, known: String },
    #[error("{origin} configures several pools ({known}): say which with --pool NAME")]
    WhichPool { origin: String, known: String },
    /// `--to` names a target the configured provider cannot take.
    #[error("--to {value}: {why}")]
    Target { value: String, why: String },
}

/// A loaded, checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// The file it came from, for messages.
    pub origin: String,
    pub cluster: ClusterRef,
    pub provider: ProviderConfig,
    pub state: StateConfig,
    /// How long a Lease stays held without renewal (default: the lease's own, 30s).
    pub lease_ttl: Option<Duration>,
    /// When runs may change the cluster (`maintenance`); `None`: at any time.
    pub schedule: Option<Schedule>,
    /// Webhooks told about runs (`notify.webhooks`).
    pub webhooks: Vec<notify::WebhookConfig>,
    pub pools: Vec<PoolConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    /// Names checkpoints and Leases (`poolshift-<name>-<pool>`).
    pub name: String,
    /// kubeconfig context; default: the current context, or in-cluster.
    pub context: Option<String>,
    /// kubeconfig file; default: `KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
}

/// Where checkpoints go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateConfig {
    /// `poolshift-system/poolshift-<cluster>-<pool>` in the cluster.
    ConfigMap,
    /// A local file; `{pool}` in the path is replaced by the pool's name.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    pub name: String,
    pub to: TargetSpec,
    /// `next-minor` waits until the next minor has this patch release.
    pub maturity: u32,
    /// `force_allowed` is always false here: only `--force` enables it.
    pub policy: Policy,
    /// eks-asg: the new image.
    pub image_id: Option<String>,
    /// Where a guided run stops to ask the operator (default: all four stop points).
    pub guided_stops: Vec<StopKind>,
    /// The gates run after green is Ready and after each batch.
    pub gates: GateConfig,
}

impl PoolConfig {
    /// The target policy for `to` (the file's, or `--to`'s), with this pool's maturity rule.
    pub fn target(&self, to: Option<&TargetSpec>) -> TargetPolicy {
        match to.unwrap_or(&self.to) {
            TargetSpec::LatestPatch => TargetPolicy::LatestPatch,
            TargetSpec::NextMinor => TargetPolicy::NextMinor { maturity: self.maturity },
            TargetSpec::Exact(v) => TargetPolicy::Exact(*v),
        }
    }
}

impl ClusterConfig {
    /// `pool`'s target policy for `--to` (`None`: the file's `to`), refused when the provider cannot take
    /// it (a release version for a provider other than eks; the file's own `to` was checked at load).
    pub fn target(&self, pool: &PoolConfig, to: Option<&TargetSpec>) -> Result<TargetPolicy, ConfigError> {
        if let Some(TargetSpec::Exact(v)) = to
            && let Some(why) = self.provider.refuses_target(v)
        {
            return Err(ConfigError::Target { value: v.to_string(), why });
        }
        Ok(pool.target(to))
    }
}

impl ClusterConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        Self::parse(&text, &path.display().to_string(), &base)
    }

    /// Parses YAML text; `origin` names it in errors, relative paths in it are taken from `base`.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Self, ConfigError> {
        if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            return Err(ConfigError::Invalid {
                origin: origin.to_string(),
                line: 1,
                column: 1,
                field: FieldPath::root().to_string(),
                message: "the file is empty: expected cluster, provider and pools".into(),
            });
        }
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let file: schema::File = serde_path_to_error::deserialize(de).map_err(|e| locate::from_serde(origin, e))?;
        validate::resolve(file, origin, base).map_err(|(path, message)| locate::at(text, origin, &path, message))
    }

    /// The file named by `-c` (or `POOLSHIFT_CONFIG`), else `./poolshift.yaml` when it exists.
    pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
        match explicit {
            Some(p) => Ok(p.to_path_buf()),
            None if Path::new(DEFAULT_FILE).is_file() => Ok(PathBuf::from(DEFAULT_FILE)),
            None => Err(ConfigError::Missing),
        }
    }

    fn known(&self) -> String {
        self.pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// The pool named by `--pool`, or the only pool of the file.
    pub fn pool(&self, name: Option<&str>) -> Result<&PoolConfig, ConfigError> {
        match name {
            Some(n) => self.pools.iter().find(|p| p.name == n).ok_or_else(|| ConfigError::UnknownPool {
                origin: self.origin.clone(),
                pool: n.to_string(),
                known: self.known(),
            }),
            None => match self.pools.as_slice() {
                [only] => Ok(only),
                _ => Err(ConfigError::WhichPool { origin: self.origin.clone(), known: self.known() }),
            },
        }
    }

    /// Where `pool`'s checkpoint lives: `--state-file` when given, else the file's `state`.
    pub fn state_for(&self, pool: &str, state_file: Option<&Path>) -> StateLocation {
        let file = match (state_file, &self.state) {
            (Some(f), _) => f.to_path_buf(),
            (None, StateConfig::File(f)) => f.clone(),
            (None, StateConfig::ConfigMap) => return StateLocation::ConfigMap,
        };
        StateLocation::File(PathBuf::from(file.to_string_lossy().replace(POOL_PLACEHOLDER, pool)))
    }
}

#[cfg(test)]
mod operator_tests;
#[cfg(test)]
mod tests;
