//! The `gke` provider: GKE Standard node pools through the Kubernetes Engine API v1 (google-cloud-container-v1,
//! REST/JSON), with credentials from Application Default Credentials (a service account key file, `gcloud auth
//! application-default login`, or the metadata server: workload identity on GKE, the VM's account elsewhere).
//!
//! - describe: GetNodePool; the whole pool (output-only fields removed) travels in `extra` as the clone template.
//! - versions: getServerConfig's validNodeVersions, never newer than the cluster's currentMasterVersion.
//! - create: CreateNodePool cloned from blue with the green name and target version, following the operation
//!   until DONE; a pool of that name at that version is adopted, at another version it is a Conflict; a failed
//!   create deletes what GKE left behind, or names it in the error.
//! - delete: DeleteNodePool and its operation; a missing pool is `Ok(None)`.
//! - freeze: SetNodePoolAutoscaling enabled=false, and SetNodePoolManagement autoUpgrade=false when it was on;
//!   restore puts back exactly what was recorded. The settings from before the first freeze are also recorded
//!   in the pool's resource labels `poolshift-frozen*` (UpdateNodePool, set before anything is disabled), so
//!   freezing a frozen pool (a new run after one aborted with blue frozen) returns them, not the frozen ones;
//!   restore removes those labels.
//! - nodes are recognised by `cloud.google.com/gke-nodepool=<pool>`.

mod client;
mod convert;
mod error;
pub mod versions;

use async_trait::async_trait;
use google_cloud_auth::credentials::Credentials;
use google_cloud_container_v1::client::ClusterManager;
use google_cloud_container_v1::model::node_pool::Status as NpStatus;
use google_cloud_container_v1::model::{NodePool, NodePoolAutoscaling};
use poolshift_provider_api::{
    AutoscalingSettings, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSpec, PoolState,
    PoolStatus, Provider, ProviderError, default_green_name,
};
use serde::{Deserialize, Serialize};

pub use client::GkeTiming;
pub use convert::TEMPLATE_KEY;

use client::{Api, Followed};
use error::{KIND, Scope};

/// The node label GKE puts on every node of a pool.
pub const POOL_LABEL: &str = "cloud.google.com/gke-nodepool";
/// GKE node pool names are at most 40 characters.
pub const MAX_POOL_NAME: usize = 40;

/// Where the cluster is. `location` is a region (regional cluster) or a zone (zonal cluster).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GkeSettings {
    pub project: String,
    pub location: String,
    pub cluster: String,
    /// Overrides `https://container.googleapis.com` (a private endpoint, or a local fake in tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

pub struct GkeProvider {
    api: Api,
}

impl GkeProvider {
    /// A provider authenticated with Application Default Credentials.
    pub async fn new(settings: GkeSettings) -> Result<Self, ProviderError> {
        install_crypto_provider();
        let scope = scope(&settings)?;
        let credentials = google_cloud_auth::credentials::Builder::default().build().map_err(|e| {
            error::provider_error(
                "connect",
                ErrorKind::Permission,
                format!("cannot load Application Default Credentials: {e}"),
                &scope,
            )
            .with_hint(
                "run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a key file, or \
                 give the pod a workload identity (runbook: permissions)",
            )
        })?;
        Self::with_credentials(settings, credentials).await
    }

    /// A provider with the given credentials (tests use anonymous credentials against a local fake).
    pub async fn with_credentials(settings: GkeSettings, credentials: Credentials) -> Result<Self, ProviderError> {
        install_crypto_provider();
        let scope = scope(&settings)?;
        // Retries are done here (backon), around every call, so the client's own policy is off.
        let mut builder = ClusterManager::builder()
            .with_credentials(credentials)
            .with_retry_policy(google_cloud_gax::retry_policy::NeverRetry);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let client = builder.build().await.map_err(|e| {
            error::provider_error("connect", ErrorKind::Invalid, format!("cannot build the GKE client: {e}"), &scope)
        })?;
        Ok(Self { api: Api { client, scope, timing: GkeTiming::default() } })
    }

    pub fn with_timing(mut self, timing: GkeTiming) -> Self {
        self.api.timing = timing;
        self
    }
}

/// The Google crates are built without a rustls crypto provider (their default would add aws-lc-rs next to
/// the ring that kube already uses): install ring for the process unless one is installed.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn scope(s: &GkeSettings) -> Result<Scope, ProviderError> {
    let scope = Scope { project: s.project.clone(), location: s.location.clone(), cluster: s.cluster.clone() };
    for (field, value) in [("project", &s.project), ("location", &s.location), ("cluster", &s.cluster)] {
        if value.is_empty() || value.contains(['/', ' ']) {
            return Err(error::provider_error(
                "connect",
                ErrorKind::Invalid,
                format!("GKE settings: {field} {value:?} is not a GKE resource id"),
                &scope,
            ));
        }
    }
    Ok(scope)
}

fn same_autoscaling(current: Option<&NodePoolAutoscaling>, want: &NodePoolAutoscaling) -> bool {
    let current = current.cloned().unwrap_or_default();
    if !want.enabled {
        return !current.enabled;
    }
    current.enabled
        && current.min_node_count == want.min_node_count
        && current.max_node_count == want.max_node_count
        && current.total_min_node_count == want.total_min_node_count
        && current.total_max_node_count == want.total_max_node_count
        && current.location_policy == want.location_policy
        && current.autoprovisioned == want.autoprovisioned
}

impl GkeProvider {
    fn err(&self, op: &str, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        self.api.err(op, kind, message)
    }

    /// The pool to clone: the template in the spec (blue as described at plan time), else blue as it is now.
    async fn template(&self, spec: &PoolSpec) -> Result<NodePool, ProviderError> {
        if let Some(t) = spec.extra.get(TEMPLATE_KEY) {
            return serde_json::from_str(t).map_err(|e| {
                self.err("create", ErrorKind::Invalid, format!("spec {}: unreadable {TEMPLATE_KEY}: {e}", spec.name))
            });
        }
        Ok(convert::template(&self.api.require_pool("create", &spec.source).await?))
    }

    /// An existing pool of the green name: adopted at the requested version, a Conflict at another.
    fn adopt(&self, spec: &PoolSpec, np: &NodePool) -> Result<PoolStatus, ProviderError> {
        if versions::matches(&spec.version, &np.version) {
            tracing::info!(pool = %np.name, version = %np.version, "node pool exists, adopting it");
            return Ok(convert::status(np));
        }
        Err(self.err(
            "create",
            ErrorKind::Conflict,
            format!("node pool {} already exists at version {}, not {}", np.name, np.version, spec.version),
        ))
    }

    /// After a failed create: removes what GKE left behind, and says what happened to it.
    async fn clean_up_failed_create(&self, name: &str) -> String {
        let np = match self.api.get_pool("create", name).await {
            Ok(None) => return format!("GKE did not keep node pool {name}"),
            Ok(Some(np)) => np,
            Err(e) => return format!("node pool {name} may exist (cannot check: {e}); delete it if it does"),
        };
        let state = np.status.name().unwrap_or("UNKNOWN");
        match self.delete_and_follow(name).await {
            Ok(Some(Followed::Done)) => format!("the node pool {name} it left ({state}) was deleted"),
            Ok(Some(Followed::StillRunning(op))) => {
                format!("the node pool {name} it left ({state}) is being deleted (operation {op})")
            }
            Ok(None) => format!("GKE removed the node pool {name}"),
            Err(e) => format!(
                "node pool {name} exists ({state}) and could not be deleted ({}): delete it with `gcloud container \
                 node-pools delete {name} --cluster {} --location {} --project {}`",
                e.message, self.api.scope.cluster, self.api.scope.location, self.api.scope.project
            ),
        }
    }

    async fn delete_and_follow(&self, pool: &str) -> Result<Option<Followed>, ProviderError> {
        let name = self.api.pool_name(pool);
        let started =
            self.api.call("delete", || self.api.client.delete_node_pool().set_name(name.clone()).send()).await;
        match started {
            Ok(op) => self.api.follow("delete", op).await.map(Some),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Provider for GkeProvider {
    fn kind(&self) -> &str {
        KIND
    }

    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        Ok(convert::describe(&self.api.require_pool("describe", pool).await?))
    }

    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        let api = &self.api;
        let cluster_name = api.cluster_name();
        let cluster = api.call("versions", || api.client.get_cluster().set_name(cluster_name.clone()).send()).await?;
        let Scope { project, location, .. } = &api.scope;
        let config_name = format!("projects/{project}/locations/{location}");
        let config =
            api.call("versions", || api.client.get_server_config().set_name(config_name.clone()).send()).await?;
        let control_plane = cluster.current_master_version;
        let node_versions = versions::offered(&config.valid_node_versions, &control_plane);
        Ok(OfferedVersions { control_plane, node_versions })
    }

    /// The token is not used: CreateNodePool takes none; a pool of the green name is found again by name.
    async fn create_pool(&self, spec: &PoolSpec, _token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        if let Some(np) = self.api.get_pool("create", &spec.name).await? {
            return self.adopt(spec, &np);
        }
        let template = self.template(spec).await?;
        let offered = self.versions().await?;
        let version = versions::resolve(&spec.version, &offered.node_versions).ok_or_else(|| {
            let some: Vec<&str> = offered.node_versions.iter().take(8).map(String::as_str).collect();
            self.err(
                "create",
                ErrorKind::Invalid,
                format!(
                    "version {} is not offered for node pools of cluster {} (control plane {}; offered: {})",
                    spec.version,
                    self.api.scope.cluster,
                    offered.control_plane,
                    some.join(", ")
                ),
            )
        })?;
        let pool = convert::green_pool(&template, spec, &version);
        let parent = self.api.cluster_name();
        let started = self
            .api
            .call("create", || {
                self.api.client.create_node_pool().set_parent(parent.clone()).set_node_pool(pool.clone()).send()
            })
            .await;
        let started = match started {
            Ok(op) => op,
            // An earlier attempt (or a retried request) created it meanwhile.
            Err(e) if e.kind == ErrorKind::Conflict => match self.api.get_pool("create", &spec.name).await? {
                Some(np) => return self.adopt(spec, &np),
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        tracing::info!(pool = %spec.name, %version, operation = %started.name, "creating GKE node pool");
        let followed = match self.api.follow("create", started).await {
            Ok(f) => f,
            Err(mut e) => {
                let what = self.clean_up_failed_create(&spec.name).await;
                e.message = format!("{}; {what}", e.message);
                return Err(e);
            }
        };
        let np = self.api.require_pool("create", &spec.name).await?;
        let mut status = convert::status(&np);
        if let Followed::StillRunning(op) = followed {
            status.message = Some(format!("create operation {op} is still running"));
        }
        Ok(status)
    }

    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        Ok(self.api.get_pool("status", pool).await?.map(|np| convert::status(&np)))
    }

    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let Some(np) = self.api.get_pool("delete", pool).await? else {
            return Ok(None);
        };
        let mut status = convert::status(&np);
        status.state = PoolState::Deleting;
        if np.status == NpStatus::Stopping {
            return Ok(Some(status)); // already being deleted
        }
        tracing::info!(%pool, "deleting GKE node pool");
        status.message = match self.delete_and_follow(pool).await? {
            None => return Ok(None),
            Some(Followed::Done) => Some("deleted".into()),
            Some(Followed::StillRunning(op)) => Some(format!("delete operation {op} is still running")),
        };
        Ok(Some(status))
    }

    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        let np = self.api.require_pool("freeze", pool).await?;
        // Frozen already by an earlier run (aborted, or crashed): its labels hold the settings from before.
        let scaling = np.autoscaling.as_ref().is_some_and(|a| a.enabled);
        let upgrading = np.management.as_ref().is_some_and(|m| m.auto_upgrade);
        let recorded = convert::frozen_record(&np);
        let mut recorded_now = false;
        let prior = match recorded {
            Some(original) => original,
            None => {
                let prior = convert::autoscaling(&np);
                // Recorded before anything changes, so that no freeze is left without its record (a pool the
                // freeze does not change needs none: its settings are the original ones).
                if scaling || upgrading {
                    let labels = convert::resource_labels_with(&np, Some(&prior));
                    self.api.set_resource_labels("freeze", pool, labels).await?;
                    recorded_now = true;
                }
                prior
            }
        };
        if scaling {
            self.api.set_autoscaling("freeze", pool, NodePoolAutoscaling::new().set_enabled(false)).await?;
        }
        if let Some(m) = np.management.clone().filter(|m| m.auto_upgrade) {
            let mut off = m;
            off.auto_upgrade = false;
            if let Err(mut e) = self.api.set_management("freeze", pool, off).await {
                // Don't leave blue half-frozen with its prior settings unrecorded: put autoscaling back.
                let mut back_as_it_was = true;
                if scaling {
                    let back = self.api.set_autoscaling("freeze", pool, convert::autoscaling_from(&prior)).await;
                    back_as_it_was = back.is_ok();
                    e.message = match back {
                        Ok(_) => format!("{}; autoscaling of {pool} was re-enabled as it was", e.message),
                        Err(b) => format!(
                            "{}; autoscaling of {pool} is disabled and could not be re-enabled ({}): it was {:?}",
                            e.message, b.message, prior
                        ),
                    };
                }
                // Back as it was: its record goes too (a frozen pool keeps it, for the next freeze).
                if back_as_it_was && recorded_now {
                    let labels = convert::resource_labels_with(&np, None);
                    if let Err(b) = self.api.set_resource_labels("freeze", pool, labels).await {
                        e.message =
                            format!("{}; its freeze record (labels poolshift-frozen*) stays: {}", e.message, b.message);
                    }
                }
                return Err(e);
            }
        }
        tracing::info!(%pool, ?prior, "froze autoscaling and auto-upgrade");
        Ok(prior)
    }

    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        let np = self.api.require_pool("restore", pool).await?;
        let want = convert::autoscaling_from(prior);
        if !same_autoscaling(np.autoscaling.as_ref(), &want) {
            self.api.set_autoscaling("restore", pool, want).await?;
        }
        if let Some(auto_upgrade) = convert::prior_auto_upgrade(prior) {
            let current = np.management.clone().unwrap_or_default();
            if current.auto_upgrade != auto_upgrade {
                let mut m = current;
                m.auto_upgrade = auto_upgrade;
                self.api.set_management("restore", pool, m).await?;
            }
        }
        if convert::has_frozen_labels(&np) {
            self.api.set_resource_labels("restore", pool, convert::resource_labels_with(&np, None)).await?;
        }
        Ok(())
    }

    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        NodeMatcher { label: POOL_LABEL.to_string(), value: pool.to_string() }
    }

    fn green_name(&self, blue: &str, version: &str) -> String {
        default_green_name(blue, version, MAX_POOL_NAME)
    }
}
