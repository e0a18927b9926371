//! [`PreProvisioned`]: on-prem clusters whose machines are installed and joined by the operator's own
//! automation (PXE, Ansible, a MAAS pipeline). poolshift creates nothing: it waits for the green nodes the
//! automation joins, moves the workloads, and hands the blue nodes back for retirement.
//!
//! - Pools are the nodes carrying a label: `blue_label` (`key=value`) for blue, `label` for green. A pool's
//!   name is its label's value, so the two values must differ; `green_name()` is the green label's value.
//! - `create_pool` records the intent (name and version, in memory) and answers the current status, which
//!   is `Creating` until `expected_nodes` nodes with the green label are Ready at the target kubelet version.
//! - `delete_pool` lists the pool's nodes for the operator to retire, or runs `retire_command` with the node
//!   names appended as arguments (with a timeout). After that the pool counts as deleted for poolshift
//!   (status `None`) even while the Node objects remain: retiring machines is the operator's job.
//! - On-prem nodes do not autoscale unless your automation does: freeze and restore do nothing and the pools
//!   report [`AutoscalingSettings::default()`] (disabled, sizes 0). Pause your automation's scaling yourself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSize,
    PoolSpec, PoolState, PoolStatus, Provider, ProviderError,
};
use serde::Deserialize;

use crate::nodes::{self, Label, NodeFacts, numeric, same_version};
use poolshift_process::{self as process, RunError};

const KIND: &str = "onprem:pre-provisioned";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";

/// Settings of the pre-provisioned provider.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreProvisionedSettings {
    /// `key=value` carried by the green nodes the operator's automation joins.
    pub label: String,
    /// `key=value` carried by the blue nodes.
    pub blue_label: String,
    /// Green is Ready once this many green nodes are Ready at the target version.
    pub expected_nodes: u32,
    /// Run at delete with the pool's node names appended (`["/usr/local/bin/retire", "--reimage"]`).
    #[serde(default)]
    pub retire_command: Option<Vec<String>>,
    /// Timeout of the retire command: `"10m"`, `"90s"` or seconds. Default 5m.
    #[serde(default = "default_retire_timeout", deserialize_with = "crate::duration::deserialize")]
    pub retire_timeout: Duration,
}

fn default_retire_timeout() -> Duration {
    Duration::from_secs(300)
}

/// What this process was asked to do, by pool name.
#[derive(Debug, Default)]
struct Intents {
    /// Green pools `create_pool` was called for, with their version.
    created: BTreeMap<String, String>,
    /// Pools handed over for retirement by `delete_pool`.
    released: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Blue,
    Green,
}

pub struct PreProvisioned {
    client: kube::Client,
    green: Label,
    blue: Label,
    expected_nodes: u32,
    retire_command: Option<Vec<String>>,
    retire_timeout: Duration,
    intents: Mutex<Intents>,
}

fn invalid(msg: String) -> ProviderError {
    ProviderError::new(KIND, "configure", ErrorKind::Invalid, msg)
}

impl PreProvisioned {
    pub fn new(client: kube::Client, settings: PreProvisionedSettings) -> Result<Self, ProviderError> {
        let green = Label::parse("label", &settings.label).map_err(invalid)?;
        let blue = Label::parse("blue_label", &settings.blue_label).map_err(invalid)?;
        if green.value == blue.value {
            return Err(invalid(format!(
                "label {green} and blue_label {blue} have the same value: pools are named by their label values, so they must differ"
            )));
        }
        if settings.expected_nodes == 0 {
            return Err(invalid("expected_nodes must be at least 1".into()));
        }
        if let Some(cmd) = &settings.retire_command
            && cmd.first().is_none_or(|p| p.trim().is_empty())
        {
            return Err(invalid("retire_command is empty: give the program and its arguments, or leave it out".into()));
        }
        Ok(Self {
            client,
            green,
            blue,
            expected_nodes: settings.expected_nodes,
            retire_command: settings.retire_command,
            retire_timeout: settings.retire_timeout,
            intents: Mutex::new(Intents::default()),
        })
    }

    fn side(&self, pool: &str) -> Option<(Side, &Label)> {
        if pool == self.green.value {
            Some((Side::Green, &self.green))
        } else if pool == self.blue.value {
            Some((Side::Blue, &self.blue))
        } else {
            None
        }
    }

    fn intents(&self) -> std::sync::MutexGuard<'_, Intents> {
        // The lock is never held across an await or a panic-prone call; recover the data if it was poisoned.
        self.intents.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unknown_pool(&self, op: &str, pool: &str) -> ProviderError {
        ProviderError::new(
            KIND,
            op,
            ErrorKind::NotFound,
            format!(
                "pool {pool} does not exist: pre-provisioned pools are named by their label value (blue {}, green {})",
                self.blue.value, self.green.value
            ),
        )
    }

    /// The status of a pool from its nodes; `None` when it does not exist.
    fn status_of(&self, pool: &str, side: Side, label: &Label, nodes: &[NodeFacts]) -> Option<PoolStatus> {
        let intent = self.intents().created.get(pool).cloned();
        let count = nodes.len() as u32;
        if nodes.is_empty() && (side == Side::Blue || intent.is_none()) {
            return None;
        }
        if side == Side::Blue {
            let ready = nodes.iter().filter(|n| n.ready).count();
            let message =
                (ready < nodes.len()).then(|| format!("{ready} of {} nodes labelled {label} Ready", nodes.len()));
            return Some(PoolStatus {
                name: pool.to_string(),
                version: lowest_version(nodes),
                state: PoolState::Ready,
                nodes: count,
                message,
            });
        }
        // Green: the recorded target, else (a restarted process adopting joined nodes) their newest version.
        let target = intent.unwrap_or_else(|| highest_version(nodes));
        let ready = nodes.iter().filter(|n| n.ready && same_version(&n.version, &target)).count() as u32;
        let wrong: Vec<String> = nodes
            .iter()
            .filter(|n| !same_version(&n.version, &target))
            .map(|n| format!("{} ({})", n.name, n.version))
            .collect();
        let mut message = format!("{ready} of {} nodes labelled {label} Ready at {target}", self.expected_nodes);
        if !wrong.is_empty() {
            message.push_str(&format!("; at another version: {}", wrong.join(", ")));
        }
        let state = if ready >= self.expected_nodes {
            PoolState::Ready
        } else {
            message.push_str("; waiting for the operator's automation to join them");
            PoolState::Creating
        };
        Some(PoolStatus { name: pool.to_string(), version: target, state, nodes: count, message: Some(message) })
    }

    /// Runs the retire command for `names`; `Ok` says what ran.
    async fn retire(&self, cmd: &[String], pool: &str, names: &[String]) -> Result<String, ProviderError> {
        let shown = cmd.join(" ");
        let fail = |what: String, stderr: &str| {
            let stderr = if stderr.is_empty() { String::new() } else { format!("; stderr: {stderr}") };
            ProviderError::new(KIND, "delete", ErrorKind::Failed, format!("retire command `{shown}` {what}{stderr}"))
                .with_hint(format!(
                    "fix the command or retire these nodes of pool {pool} by hand, then `poolshift resume`: {}",
                    names.join(" ")
                ))
        };
        let (program, fixed) = cmd.split_first().ok_or_else(|| fail("is empty".into(), ""))?;
        let mut args = fixed.to_vec();
        args.extend(names.iter().cloned());
        match process::run(Path::new(program), &args, None, &[], self.retire_timeout).await {
            Ok(out) if out.status.success() => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                tracing::info!(pool, command = %shown, nodes = %names.join(" "), stdout = %stdout.trim(), "retire command ran");
                Ok(format!("retire command `{shown}` ran for: {}", names.join(", ")))
            }
            Ok(out) => Err(fail(process::describe_exit(&out.status), &out.stderr)),
            Err(RunError::TimedOut { timeout, stderr }) => {
                Err(fail(format!("did not finish within {timeout:?}; its process group was killed"), &stderr))
            }
            Err(RunError::Spawn { source, .. }) => Err(fail(format!("could not be started: {source}"), "")),
            Err(RunError::Wait(e)) => Err(fail(format!("could not be waited for: {e}"), "")),
        }
    }
}

fn lowest_version(nodes: &[NodeFacts]) -> String {
    nodes.iter().min_by_key(|n| numeric(&n.version)).map(|n| n.version.clone()).unwrap_or_default()
}

fn highest_version(nodes: &[NodeFacts]) -> String {
    nodes.iter().max_by_key(|n| numeric(&n.version)).map(|n| n.version.clone()).unwrap_or_default()
}

#[async_trait]
impl Provider for PreProvisioned {
    fn kind(&self) -> &str {
        KIND
    }

    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        let (_, label) = self.side(pool).ok_or_else(|| self.unknown_pool("describe", pool))?;
        let nodes = nodes::list(&self.client, "describe", KIND, label).await?;
        if nodes.is_empty() {
            return Err(ProviderError::new(
                KIND,
                "describe",
                ErrorKind::NotFound,
                format!("pool {pool} has no nodes: no node carries the label {label}"),
            )
            .with_hint("check the label in the provider settings against `kubectl get nodes --show-labels`"));
        }
        let n = nodes.len() as u32;
        Ok(PoolDescription {
            name: pool.to_string(),
            version: lowest_version(&nodes),
            instance_types: nodes::distinct(&nodes, INSTANCE_TYPE_LABEL),
            zones: nodes::distinct(&nodes, ZONE_LABEL),
            capacity_type: CapacityType::OnDemand,
            labels: nodes::common_labels(&nodes, &label.key),
            taints: nodes::common_taints(&nodes),
            size: PoolSize { min: n, max: n, desired: n },
            autoscaling: AutoscalingSettings::default(),
            disk_gb: None,
            extra: BTreeMap::from([("node_label".to_string(), label.to_string())]),
        })
    }

    /// The control plane's version and the versions the green nodes already run (never newer than the
    /// control plane): the automation decides what it installs, so those are what can be targeted.
    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        let info = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| nodes::kube_error(KIND, "versions", "reading the control plane version", e))?;
        let cp = info.git_version.trim_start_matches('v').to_string();
        let cp_num = numeric(&cp);
        let green = nodes::list(&self.client, "versions", KIND, &self.green).await?;
        let mut offered: Vec<String> = green
            .iter()
            .filter(|n| numeric(&n.version).is_some() && numeric(&n.version) <= cp_num)
            .map(|n| n.version.clone())
            .chain(std::iter::once(cp.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        offered.sort_by_key(|v| numeric(v));
        Ok(OfferedVersions { control_plane: cp, node_versions: offered })
    }

    /// The token is not used: the green pool is the nodes the operator's automation labels.
    async fn create_pool(&self, spec: &PoolSpec, _token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        if spec.name != self.green.value {
            return Err(ProviderError::new(
                KIND,
                "create",
                ErrorKind::Invalid,
                format!(
                    "the green pool is the nodes labelled {}: its name is {:?}, not {:?}",
                    self.green, self.green.value, spec.name
                ),
            ));
        }
        {
            let mut intents = self.intents();
            match intents.created.get(&spec.name) {
                Some(v) if !same_version(v, &spec.version) => {
                    return Err(ProviderError::new(
                        KIND,
                        "create",
                        ErrorKind::Conflict,
                        format!("pool {} was already asked for at {v}, not {}", spec.name, spec.version),
                    )
                    .with_hint("delete the green pool (`poolshift rollback`) before targeting another version"));
                }
                Some(_) => {}
                None => {
                    intents.created.insert(spec.name.clone(), spec.version.clone());
                }
            }
            intents.released.remove(&spec.name);
        }
        if spec.size.desired > self.expected_nodes {
            tracing::warn!(
                pool = %spec.name,
                expected_nodes = self.expected_nodes,
                blue_nodes = spec.size.desired,
                "expected_nodes is smaller than blue: poolshift waits for as many green nodes as blue has"
            );
        }
        tracing::info!(pool = %spec.name, version = %spec.version, label = %self.green, expected = self.expected_nodes,
            "green pool recorded: waiting for the operator's automation to join its nodes");
        let nodes = nodes::list(&self.client, "create", KIND, &self.green).await?;
        Ok(self.status_of(&spec.name, Side::Green, &self.green, &nodes).unwrap_or_else(|| PoolStatus {
            name: spec.name.clone(),
            version: spec.version.clone(),
            state: PoolState::Creating,
            nodes: 0,
            message: None,
        }))
    }

    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let Some((side, label)) = self.side(pool) else { return Ok(None) };
        if self.intents().released.contains(pool) {
            return Ok(None);
        }
        let nodes = nodes::list(&self.client, "status", KIND, label).await?;
        Ok(self.status_of(pool, side, label, &nodes))
    }

    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let Some((side, label)) = self.side(pool) else { return Ok(None) };
        if self.intents().released.contains(pool) {
            return Ok(None);
        }
        let nodes = nodes::list(&self.client, "delete", KIND, label).await?;
        let status = self.status_of(pool, side, label, &nodes);
        let release = |me: &Self| {
            let mut i = me.intents();
            i.created.remove(pool);
            i.released.insert(pool.to_string());
        };
        if nodes.is_empty() {
            release(self);
            return Ok(None);
        }
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let message = match &self.retire_command {
            Some(cmd) => self.retire(cmd, pool, &names).await?,
            None => {
                let m = format!(
                    "retire these {} nodes of pool {pool} (labelled {label}); poolshift does not remove machines in pre-provisioned mode: {}",
                    names.len(),
                    names.join(", ")
                );
                tracing::warn!(pool, nodes = %names.join(" "), "{m}");
                m
            }
        };
        release(self);
        Ok(Some(PoolStatus {
            name: pool.to_string(),
            version: status.map(|s| s.version).unwrap_or_else(|| lowest_version(&nodes)),
            state: PoolState::Deleting,
            nodes: nodes.len() as u32,
            message: Some(message),
        }))
    }

    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        self.side(pool).ok_or_else(|| self.unknown_pool("freeze", pool))?;
        Ok(AutoscalingSettings::default())
    }

    async fn restore_autoscaling(&self, pool: &str, _prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        self.side(pool).ok_or_else(|| self.unknown_pool("restore", pool))?;
        Ok(())
    }

    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        match self.side(pool) {
            Some((_, l)) => NodeMatcher { label: l.key.clone(), value: l.value.clone() },
            None => NodeMatcher { label: self.blue.key.clone(), value: pool.to_string() },
        }
    }

    /// The green pool is always the nodes with the green label, whatever the version.
    fn green_name(&self, _blue: &str, _version: &str) -> String {
        self.green.value.clone()
    }
}
