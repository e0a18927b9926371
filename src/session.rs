//! The composition root of one pool's upgrade: wires a Kubernetes client, a provider, a checkpoint store,
//! the lease, a clock and a reporter into an [`Engine`], and builds plans from the live cluster.

use std::path::PathBuf;
use std::sync::Arc;

use poolshift_provider_api::{Provider, ProviderError};

use crate::engine::Engine;
use crate::kube::cluster::KubeCluster;
use crate::kube::configmap_store::ConfigMapStore;
use crate::kube::lease::LeaseLock;
use crate::model::checkpoint::RunStatus;
use crate::model::plan::UpgradePlan;
use crate::model::policy::Policy;
use crate::model::snapshot::{ProviderRecord, Snapshot};
use crate::model::version::Version;
use crate::plan::target::TargetPolicy;
use crate::plan::{PlanError, PlanInput, build};
use crate::ports::{CheckpointStore, Clock, Cluster, ClusterError, Reporter, StoreError};
use crate::state::file_store::FileStore;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("reading the cluster: {0}")]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(
        "the snapshot has no provider record for pool {pool} (it has: {known}): take it with `poolshift snapshot -c FILE`, whose provider describes the pools"
    )]
    NoProviderRecord { pool: String, known: String },
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
    /// The pool as the cluster file names it: keys the checkpoint and the Lease.
    pub pool: String,
    /// The provider's pool that is the configured pool now: the configured name until an upgrade finished,
    /// then that upgrade's green pool (blue was deleted), and so on ([`Session::follow_lineage`]).
    pub blue: String,
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
        Self {
            cluster_name: cluster_name.to_string(),
            pool: pool.to_string(),
            blue: pool.to_string(),
            cluster,
            provider,
            engine,
        }
    }

    /// Finds the provider pool the configured pool is now from its last checkpoint: after a finished upgrade
    /// the green pool replaced blue (a scheduled job's next patch upgrade starts from it); after a rollback, an
    /// abort, or during a run, the run's blue pool. Without a checkpoint: the configured name.
    pub async fn follow_lineage(&mut self) -> Result<(), StoreError> {
        if let Some(st) = self.engine.store.load().await? {
            let cp = &st.checkpoint;
            self.blue = match cp.status {
                RunStatus::Done => cp.green.name.clone(),
                _ => cp.pool.clone(),
            };
        }
        Ok(())
    }

    /// Reads the cluster and the provider, and builds the plan `upgrade` would execute.
    pub async fn plan(&self, target: &TargetPolicy, policy: &Policy) -> Result<UpgradePlan, SessionError> {
        Ok(self.plan_and_snapshot(target, policy).await?.0)
    }

    /// [`Session::plan`], with the snapshot it was made from.
    pub async fn plan_and_snapshot(
        &self,
        target: &TargetPolicy,
        policy: &Policy,
    ) -> Result<(UpgradePlan, Snapshot), SessionError> {
        let snapshot = self.cluster.snapshot().await?;
        let plan = self.plan_from(&snapshot, target, policy).await?;
        Ok((plan, snapshot))
    }

    /// The plan for the cluster as `snapshot` shows it, with what the provider says now.
    pub async fn plan_from(
        &self,
        snapshot: &Snapshot,
        target: &TargetPolicy,
        policy: &Policy,
    ) -> Result<UpgradePlan, SessionError> {
        let blue = self.provider.describe_pool(&self.blue).await?;
        let offered = self.provider.versions().await?;
        let matcher = self.provider.node_matcher(&self.blue);
        let provider = self.provider.clone();
        let pool = self.blue.clone();
        let name = move |v: &str| provider.green_name(&pool, v);
        let mut plan = build(&PlanInput {
            cluster: &self.cluster_name,
            snapshot,
            blue: &blue,
            matcher: &matcher,
            offered: &offered,
            target,
            policy,
            green_name: &name,
        })?;
        crate::model::plan_id::stamp(&mut plan, &self.engine.clock.now().to_string());
        Ok(plan)
    }
}

/// What `provider` says about `pool`, to record in a snapshot file for offline planning.
pub async fn provider_record(provider: &dyn Provider, pool: &str) -> Result<ProviderRecord, ProviderError> {
    let blue = provider.describe_pool(pool).await?;
    let offered = provider.versions().await?;
    let current = blue.version.parse::<Version>().ok();
    // Keyed as the planner asks: the normalised version (`1.31.4`).
    let green_names = offered
        .node_versions
        .iter()
        .filter_map(|v| v.parse::<Version>().ok())
        .filter(|v| current.is_some_and(|c| *v > c))
        .map(|v| (v.to_string(), provider.green_name(pool, &v.to_string())))
        .collect();
    Ok(ProviderRecord {
        kind: provider.kind().to_string(),
        matcher: provider.node_matcher(pool),
        blue,
        offered,
        green_names,
    })
}

/// Plans `pool` from a snapshot file alone: the provider's answers come from the snapshot's record.
/// `planned_at` is when (RFC 3339).
pub fn plan_offline(
    planned_at: &str,
    cluster_name: &str,
    snapshot: &Snapshot,
    pool: &str,
    target: &TargetPolicy,
    policy: &Policy,
) -> Result<UpgradePlan, SessionError> {
    let record = snapshot.providers.iter().find(|r| r.blue.name == pool).ok_or_else(|| {
        let known: Vec<&str> = snapshot.providers.iter().map(|r| r.blue.name.as_str()).collect();
        SessionError::NoProviderRecord {
            pool: pool.to_string(),
            known: if known.is_empty() { "none".into() } else { known.join(", ") },
        }
    })?;
    let name = |v: &str| {
        record.green_names.get(v).cloned().unwrap_or_else(|| poolshift_provider_api::default_green_name(pool, v, 63))
    };
    let mut plan = build(&PlanInput {
        cluster: cluster_name,
        snapshot,
        blue: &record.blue,
        matcher: &record.matcher,
        offered: &record.offered,
        target,
        policy,
        green_name: &name,
    })?;
    crate::model::plan_id::stamp(&mut plan, planned_at);
    Ok(plan)
}

/// `host/pid`: who holds the lease and who asked for a pause.
pub fn holder_identity() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into());
    format!("{host}/{}", std::process::id())
}
