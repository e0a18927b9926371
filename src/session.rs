//! The composition root of one pool's upgrade: wires a Kubernetes client, a provider, a checkpoint store,
//! the lease, a clock and a reporter into an [`Engine`], and builds plans from the live cluster.

use std::path::PathBuf;
use std::sync::Arc;

use poolshift_provider_api::{Provider, ProviderError};

use crate::engine::Engine;
use crate::kube::cluster::KubeCluster;
use crate::kube::configmap_store::ConfigMapStore;
use crate::kube::lease::LeaseLock;
use crate::model::plan::UpgradePlan;
use crate::model::policy::Policy;
use crate::plan::target::TargetPolicy;
use crate::plan::{PlanError, PlanInput, build};
use crate::ports::{CheckpointStore, Clock, Cluster, ClusterError, Reporter};
use crate::state::file_store::FileStore;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("reading the cluster: {0}")]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Where checkpoints go.
#[derive(Debug, Clone)]
pub enum StateLocation {
    /// A ConfigMap in `poolshift-system` (the default).
    ConfigMap,
    /// A local file (`--state-file`), for offline use.
    File(PathBuf),
}

pub struct Session {
    pub cluster_name: String,
    pub pool: String,
    pub cluster: Arc<KubeCluster>,
    pub provider: Arc<dyn Provider>,
    pub engine: Engine,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: kube::Client,
        provider: Arc<dyn Provider>,
        cluster_name: &str,
        pool: &str,
        state: StateLocation,
        clock: Arc<dyn Clock>,
        reporter: Arc<dyn Reporter>,
        holder: &str,
    ) -> Self {
        let cluster = Arc::new(KubeCluster::new(client.clone()));
        let store: Arc<dyn CheckpointStore> = match state {
            StateLocation::ConfigMap => Arc::new(ConfigMapStore::new(client.clone(), cluster_name, pool)),
            StateLocation::File(p) => Arc::new(FileStore::new(p)),
        };
        let lock = Arc::new(LeaseLock::new(client, cluster_name, pool, clock.clone()));
        let engine = Engine::new(cluster.clone(), provider.clone(), store, lock, clock, reporter, holder);
        Self { cluster_name: cluster_name.to_string(), pool: pool.to_string(), cluster, provider, engine }
    }

    /// Reads the cluster and the provider, and builds the plan `upgrade` would execute.
    pub async fn plan(&self, target: &TargetPolicy, policy: &Policy) -> Result<UpgradePlan, SessionError> {
        let snapshot = self.cluster.snapshot().await?;
        let blue = self.provider.describe_pool(&self.pool).await?;
        let offered = self.provider.versions().await?;
        let matcher = self.provider.node_matcher(&self.pool);
        let provider = self.provider.clone();
        let pool = self.pool.clone();
        let name = move |v: &str| provider.green_name(&pool, v);
        Ok(build(&PlanInput {
            cluster: &self.cluster_name,
            snapshot: &snapshot,
            blue: &blue,
            matcher: &matcher,
            offered: &offered,
            target,
            policy,
            green_name: &name,
        })?)
    }
}

/// `host/pid`: who holds the lease and who asked for a pause.
pub fn holder_identity() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into());
    format!("{host}/{}", std::process::id())
}
