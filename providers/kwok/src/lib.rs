//! The `kwok` provider: node pools of a Kubernetes cluster whose nodes are played by kwok.
//!
//! A pool is a record, ConfigMap `kwok-pool-<name>` in the settings' namespace (`spec.json`: kubesim's
//! `PoolSpec`; `frozen.json`: the original autoscaling settings while frozen), and the node objects kubesim's
//! node builder makes for it (`<pool>-<zone suffix>-<i>`, label `kubesim.io/pool=<pool>`), annotated
//! `kwok.x-k8s.io/node: fake` so that kwok makes them Ready and runs their pods. Everything goes through the
//! Kubernetes API; there are no machines. See the crate's README.

mod convert;
mod error;
mod nodes;
mod record;
mod versions;

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kubesim::cloud::Autoscaling;
use poolshift_provider_api::{
    AutoscalingSettings, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSpec, PoolState,
    PoolStatus, Provider, ProviderError, default_green_name,
};

pub use convert::{EXTRA_CPU, EXTRA_MEMORY, EXTRA_PODS, EXTRA_READY_DELAY};
pub use nodes::{KWOK_NODE_ANNOTATION, KWOK_NODE_VALUE, READY_DELAY_ANNOTATION, go_duration};

use error::{is_status, kube_error};
use record::{Record, config_map_name};

/// The node label carrying the pool's name (kubesim's).
pub const POOL_LABEL: &str = "kubesim.io/pool";
/// The namespace of the pool records when the settings do not name one.
pub const DEFAULT_NAMESPACE: &str = "kwok-pools";
/// Pool names are at most this long (kubesim's limit: node names derive from them).
pub const MAX_POOL_NAME: usize = 40;
const KIND: &str = "kwok";
/// Read-modify-write attempts of a record before a concurrent writer's conflict is reported.
const WRITE_ATTEMPTS: usize = 5;
/// Pods named in the message of a refused delete.
const NAMED_PODS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KwokSettings {
    /// Where the pool records (ConfigMaps) live; created when missing.
    pub namespace: String,
    /// Node versions offered; empty: every patch 0..=20 of the control plane's minor and the three before it.
    pub versions: Vec<String>,
    /// How long kwok waits before a new node turns Ready (annotation
    /// `node-initialize.stage.kwok.x-k8s.io/delay`).
    pub node_ready_delay: Duration,
}

impl Default for KwokSettings {
    fn default() -> Self {
        Self { namespace: DEFAULT_NAMESPACE.to_string(), versions: Vec::new(), node_ready_delay: Duration::ZERO }
    }
}

#[derive(Clone)]
pub struct KwokProvider {
    client: kube::Client,
    settings: KwokSettings,
}

fn failed(op: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::new(KIND, op, ErrorKind::Failed, message)
}

fn not_found(op: &str, pool: &str) -> ProviderError {
    ProviderError::new(KIND, op, ErrorKind::NotFound, format!("pool {pool} does not exist (no kwok pool record)"))
}

impl KwokProvider {
    pub fn new(client: kube::Client, settings: KwokSettings) -> Self {
        Self { client, settings }
    }

    fn records(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.settings.namespace)
    }

    fn records_resource(&self) -> String {
        format!("configmaps in namespace {}", self.settings.namespace)
    }

    fn nodes_api(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    async fn read(&self, op: &str, pool: &str) -> Result<Option<Record>, ProviderError> {
        let cm = self
            .records()
            .get_opt(&config_map_name(pool))
            .await
            .map_err(|e| kube_error(op, "get", &self.records_resource(), e))?;
        let Some(cm) = cm else { return Ok(None) };
        let r = Record::decode(cm).map_err(|m| failed(op, m))?;
        if r.spec.name != pool {
            return Err(failed(op, format!("{} records pool {:?}, not {pool:?}", r.object_name(), r.spec.name)));
        }
        Ok(Some(r))
    }

    /// Creates the record, and its namespace when missing. `Ok(false)`: a record of that name exists.
    async fn create_record(&self, op: &str, r: &Record) -> Result<bool, ProviderError> {
        let cm = r.encode().map_err(|m| failed(op, m))?;
        let resource = self.records_resource();
        match self.records().create(&PostParams::default(), &cm).await {
            Ok(_) => return Ok(true),
            Err(e) if is_status(&e, 409) => return Ok(false),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(kube_error(op, "create", &resource, e)),
        }
        // The namespace is missing.
        let ns = Namespace {
            metadata: ObjectMeta { name: Some(self.settings.namespace.clone()), ..Default::default() },
            ..Default::default()
        };
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        match namespaces.create(&PostParams::default(), &ns).await {
            Ok(_) => tracing::info!(namespace = %self.settings.namespace, "created the kwok pool records' namespace"),
            Err(e) if is_status(&e, 409) => {}
            Err(e) => return Err(kube_error(op, "create", "namespaces", e)),
        }
        match self.records().create(&PostParams::default(), &cm).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 409) => Ok(false),
            Err(e) => Err(kube_error(op, "create", &resource, e)),
        }
    }

    /// Read-modify-write of a record: `change` edits the record as read; the write is a replace carrying the
    /// read resourceVersion, so a concurrent write makes it fail and it starts over from a fresh read.
    /// `Ok(None)` when there is no record. Nothing is written when `change` changes nothing.
    async fn update(
        &self,
        op: &str,
        pool: &str,
        change: impl Fn(&mut Record),
    ) -> Result<Option<Record>, ProviderError> {
        let resource = self.records_resource();
        let mut last = None;
        for _ in 0..WRITE_ATTEMPTS {
            let Some(read) = self.read(op, pool).await? else { return Ok(None) };
            let mut r = read.clone();
            change(&mut r);
            if r.content() == read.content() {
                return Ok(Some(r));
            }
            let cm = r.encode().map_err(|m| failed(op, m))?;
            match self.records().replace(&config_map_name(pool), &PostParams::default(), &cm).await {
                Ok(written) => return Record::decode(written).map(Some).map_err(|m| failed(op, m)),
                Err(e) if is_status(&e, 409) => last = Some(e),
                Err(e) if is_status(&e, 404) => return Ok(None),
                Err(e) => return Err(kube_error(op, "update", &resource, e)),
            }
        }
        Err(match last {
            Some(e) => kube_error(op, "update", &resource, e),
            None => failed(op, "the record kept changing"),
        })
    }

    /// The node objects carrying the pool's label.
    async fn pool_nodes(&self, op: &str, pool: &str) -> Result<Vec<Node>, ProviderError> {
        let list = self
            .nodes_api()
            .list(&ListParams::default().labels(&format!("{POOL_LABEL}={pool}")))
            .await
            .map_err(|e| kube_error(op, "list", "nodes", e))?;
        Ok(list.items)
    }

    /// Creates the pool's nodes that do not exist yet (all of them on a first create; the rest after a crash).
    async fn ensure_nodes(&self, op: &str, r: &Record, ready_delay: Duration) -> Result<(), ProviderError> {
        let existing = self.pool_nodes(op, &r.spec.name).await?;
        let api = self.nodes_api();
        let now = Timestamp::now();
        for index in 0..r.spec.size {
            let node = nodes::node_object(&r.spec, index, ready_delay, now).ok_or_else(|| {
                failed(op, format!("cannot build node {index} of pool {} (kubesim's node template)", r.spec.name))
            })?;
            let name = nodes::name_of(&node).to_string();
            if existing.iter().any(|n| nodes::name_of(n) == name) {
                continue;
            }
            let created = match api.create(&PostParams::default(), &node).await {
                Ok(n) => n,
                // Created before a crash, or concurrently: there already.
                Err(e) if is_status(&e, 409) => continue,
                Err(e) => return Err(kube_error(op, "create", "nodes", e)),
            };
            tracing::debug!(node = %name, pool = %r.spec.name, "created kwok node");
            // An API server that dropped the status of the POST gets it on the status subresource.
            if created.status.as_ref().and_then(|s| s.allocatable.as_ref()).is_none_or(|a| a.is_empty()) {
                let status = node.status.as_ref();
                let patch = serde_json::json!({"status": {
                    "capacity": status.and_then(|s| s.capacity.as_ref()),
                    "allocatable": status.and_then(|s| s.allocatable.as_ref()),
                    "nodeInfo": status.and_then(|s| s.node_info.as_ref()),
                }});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(|e| kube_error(op, "patch", "nodes/status", e))?;
            }
        }
        Ok(())
    }

    async fn current_status(&self, op: &str, r: &Record) -> Result<PoolStatus, ProviderError> {
        let nodes = self.pool_nodes(op, &r.spec.name).await?;
        Ok(convert::status(r, &nodes))
    }

    /// Pods bound to `nodes` that keep the pool from being deleted, as `namespace/name on node`.
    async fn blocking_pods(&self, op: &str, nodes: &[Node]) -> Result<Vec<String>, ProviderError> {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let mut out = Vec::new();
        for node in nodes {
            let name = nodes::name_of(node);
            let list = pods
                .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
                .await
                .map_err(|e| kube_error(op, "list", "pods", e))?;
            for p in list.items.iter().filter(|p| nodes::blocks_deletion(p)) {
                out.push(format!(
                    "{}/{} on {name}",
                    p.metadata.namespace.as_deref().unwrap_or_default(),
                    p.metadata.name.as_deref().unwrap_or_default()
                ));
            }
        }
        Ok(out)
    }

    /// Green's autoscaling: the source pool's original settings when it is a kwok pool, else disabled at
    /// green's size.
    async fn green_autoscaling(&self, op: &str, spec: &PoolSpec) -> Result<Autoscaling, ProviderError> {
        let off = Autoscaling { enabled: false, min: spec.size.desired, max: spec.size.desired };
        if spec.source.is_empty() || spec.source == spec.name {
            return Ok(off);
        }
        Ok(match self.read(op, &spec.source).await? {
            Some(src) => src.frozen.unwrap_or(src.spec.autoscaling),
            None => off,
        })
    }

    /// `create_pool` of a pool whose record exists: the same pool (after a crash, or a retry) gets its missing
    /// nodes and its status; another version, or a pool being deleted, is a conflict.
    async fn create_existing(&self, op: &str, r: Record, spec: &PoolSpec) -> Result<PoolStatus, ProviderError> {
        let want = spec.version.trim_start_matches('v');
        if r.deleting {
            return Err(ProviderError::new(
                KIND,
                op,
                ErrorKind::Conflict,
                format!("pool {} is being deleted; create it again once it is gone", spec.name),
            ));
        }
        if r.spec.version != want {
            return Err(ProviderError::new(
                KIND,
                op,
                ErrorKind::Conflict,
                format!("pool {} exists at version {}, not {want}", spec.name, r.spec.version),
            ));
        }
        let delay = convert::ready_delay(spec, self.settings.node_ready_delay)
            .map_err(|m| ProviderError::new(KIND, op, ErrorKind::Invalid, m))?;
        self.ensure_nodes(op, &r, delay).await?;
        self.current_status(op, &r).await
    }
}

#[async_trait]
impl Provider for KwokProvider {
    fn kind(&self) -> &str {
        KIND
    }

    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        let op = "describe";
        let r = self.read(op, pool).await?.ok_or_else(|| not_found(op, pool))?;
        Ok(convert::describe(&r, self.settings.node_ready_delay))
    }

    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        let op = "versions";
        let info = self.client.apiserver_version().await.map_err(|e| kube_error(op, "get", "/version", e))?;
        let cp = versions::control_plane(&info.git_version, &info.major, &info.minor).ok_or_else(|| {
            failed(op, format!("cannot read the API server's version {:?} (/version)", info.git_version))
        })?;
        Ok(versions::offered(cp, &self.settings.versions))
    }

    /// The token is not used: a pool is its record, found again by name.
    async fn create_pool(&self, spec: &PoolSpec, _token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        let op = "create";
        if let Some(r) = self.read(op, &spec.name).await? {
            return self.create_existing(op, r, spec).await;
        }
        let invalid = |m: String| ProviderError::new(KIND, op, ErrorKind::Invalid, format!("pool {}: {m}", spec.name));
        let autoscaling = self.green_autoscaling(op, spec).await?;
        let sim = convert::record_spec(spec, autoscaling).map_err(invalid)?;
        let delay = convert::ready_delay(spec, self.settings.node_ready_delay).map_err(invalid)?;
        let r = Record::new(&self.settings.namespace, sim);
        if !self.create_record(op, &r).await? {
            // Created concurrently since the read.
            let r = self.read(op, &spec.name).await?.ok_or_else(|| not_found(op, &spec.name))?;
            return self.create_existing(op, r, spec).await;
        }
        tracing::info!(pool = %spec.name, version = %r.spec.version, size = r.spec.size, "kwok pool recorded");
        self.ensure_nodes(op, &r, delay).await?;
        self.current_status(op, &r).await
    }

    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let op = "status";
        match self.read(op, pool).await? {
            Some(r) => self.current_status(op, &r).await.map(Some),
            None => Ok(None),
        }
    }

    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let op = "delete";
        let Some(r) = self.read(op, pool).await? else { return Ok(None) };
        let members = self.pool_nodes(op, pool).await?;
        let blocking = self.blocking_pods(op, &members).await?;
        if !blocking.is_empty() {
            let more = blocking.len().saturating_sub(NAMED_PODS);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            return Err(ProviderError::new(
                KIND,
                op,
                ErrorKind::Conflict,
                format!(
                    "pool {pool} still runs {} pod(s): {}{more}; only an empty pool is deleted",
                    blocking.len(),
                    blocking[..blocking.len().min(NAMED_PODS)].join(", ")
                ),
            ));
        }
        let version = r.spec.version.clone();
        if !r.deleting && self.update(op, pool, |r| r.deleting = true).await?.is_none() {
            return Ok(None);
        }
        let api = self.nodes_api();
        let mut left = 0u32;
        for node in &members {
            let name = nodes::name_of(node);
            if !nodes::is_kwok_node(node) {
                tracing::warn!(node = name, pool, "node carries the pool label but is not a kwok node; left alone");
                left += 1;
                continue;
            }
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(kube_error(op, "delete", "nodes", e)),
            }
        }
        match self.records().delete(&config_map_name(pool), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(kube_error(op, "delete", &self.records_resource(), e)),
        }
        tracing::info!(pool, nodes = members.len(), "kwok pool deleted");
        Ok(Some(PoolStatus {
            name: pool.to_string(),
            version,
            state: PoolState::Deleting,
            nodes: left,
            message: Some(format!(
                "deleted {} node(s) and the pool record",
                (members.len() as u32).saturating_sub(left)
            )),
        }))
    }

    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        let op = "freeze";
        let r = self
            .update(op, pool, |r| {
                // Already frozen: frozen.json keeps the original; the record's values are the frozen ones.
                r.frozen = Some(r.frozen.unwrap_or(r.spec.autoscaling));
                r.spec.autoscaling = Autoscaling { enabled: false, min: r.spec.size, max: r.spec.size };
            })
            .await?
            .ok_or_else(|| not_found(op, pool))?;
        Ok(convert::original_autoscaling(&r))
    }

    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        let op = "restore";
        self.update(op, pool, |r| {
            r.spec.autoscaling = Autoscaling { enabled: prior.enabled, min: prior.size.min, max: prior.size.max };
            r.frozen = None;
        })
        .await?
        .ok_or_else(|| not_found(op, pool))?;
        Ok(())
    }

    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        NodeMatcher { label: POOL_LABEL.to_string(), value: pool.to_string() }
    }

    /// Within kubesim's pool name limit, which the record is checked against.
    fn green_name(&self, blue: &str, version: &str) -> String {
        default_green_name(blue, version, MAX_POOL_NAME)
    }
}
