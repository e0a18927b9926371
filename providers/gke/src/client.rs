//! The GKE API calls the provider makes, through google-cloud-container-v1: retries of throttled and
//! transient failures (backon, jittered, capped), NOT_FOUND as `None` where absence is an answer, and
//! following GKE's long-running operations until DONE.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use google_cloud_container_v1::client::ClusterManager;
use google_cloud_container_v1::model::operation::Status as OpStatus;
use google_cloud_container_v1::model::{NodeManagement, NodePool, NodePoolAutoscaling, Operation, ResourceLabels};
use poolshift_provider_api::{ErrorKind, ProviderError};

use crate::error::{self, Failure, Scope};

/// How often and how long the provider waits; the defaults suit GKE, tests shorten them.
#[derive(Debug, Clone, PartialEq)]
pub struct GkeTiming {
    /// Between two GetOperation polls.
    pub poll_interval: Duration,
    /// How long a call follows an operation before it answers with the pool's current state.
    pub operation_timeout: Duration,
    /// First delay before retrying a throttled or transient failure (jittered, doubled each time).
    pub retry_min_delay: Duration,
    pub retry_max_delay: Duration,
    /// Retries of one call before its Transient error goes to the caller (whose engine retries again).
    pub retries: usize,
}

impl Default for GkeTiming {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(45 * 60),
            retry_min_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(30),
            retries: 4,
        }
    }
}

/// The outcome of following an operation.
pub(crate) enum Followed {
    Done,
    /// Still running when `operation_timeout` passed; its name.
    StillRunning(String),
}

#[derive(Clone)]
pub(crate) struct Api {
    pub client: ClusterManager,
    pub scope: Scope,
    pub timing: GkeTiming,
}

impl Api {
    pub fn cluster_name(&self) -> String {
        let Scope { project, location, cluster } = &self.scope;
        format!("projects/{project}/locations/{location}/clusters/{cluster}")
    }

    pub fn pool_name(&self, pool: &str) -> String {
        format!("{}/nodePools/{pool}", self.cluster_name())
    }

    fn operation_name(&self, op: &str) -> String {
        if op.contains('/') {
            return op.to_string();
        }
        let Scope { project, location, .. } = &self.scope;
        format!("projects/{project}/locations/{location}/operations/{op}")
    }

    pub fn err(&self, op: &str, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        error::provider_error(op, kind, message, &self.scope)
    }

    /// One API call, retried while it fails with a throttled or transient error.
    pub async fn call<T, F, Fut>(&self, op: &str, mut f: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = google_cloud_container_v1::Result<T>>,
    {
        let t = &self.timing;
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(t.retry_min_delay)
            .with_max_delay(t.retry_max_delay)
            .with_max_times(t.retries);
        let attempt = || {
            let fut = f();
            async move { fut.await.map_err(|e| error::from_gax(op, &e, &self.scope)) }
        };
        attempt
            .retry(backoff)
            .when(|e: &ProviderError| e.kind.is_retryable())
            .notify(|e, wait| tracing::warn!(error = %e, ?wait, "GKE call failed, retrying"))
            .await
            .map_err(|mut e| {
                // The retries are used up: say so, and how many there were.
                if e.kind.is_retryable() {
                    e.hint = Some(error::transient_hint(Some(t.retries + 1)));
                }
                e
            })
    }

    pub async fn get_pool(&self, op: &str, pool: &str) -> Result<Option<NodePool>, ProviderError> {
        let name = self.pool_name(pool);
        match self.call(op, || self.client.get_node_pool().set_name(name.clone()).send()).await {
            Ok(np) => Ok(Some(np)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn require_pool(&self, op: &str, pool: &str) -> Result<NodePool, ProviderError> {
        self.get_pool(op, pool).await?.ok_or_else(|| {
            self.err(op, ErrorKind::NotFound, format!("node pool {pool} not found in cluster {}", self.scope.cluster))
        })
    }

    pub async fn set_autoscaling(
        &self,
        op: &str,
        pool: &str,
        autoscaling: NodePoolAutoscaling,
    ) -> Result<Followed, ProviderError> {
        let name = self.pool_name(pool);
        let started = self
            .call(op, || {
                self.client
                    .set_node_pool_autoscaling()
                    .set_name(name.clone())
                    .set_autoscaling(autoscaling.clone())
                    .send()
            })
            .await?;
        self.follow(op, started).await
    }

    /// UpdateNodePool of the pool's resource labels (GCE labels of its VMs), replacing them with `labels`.
    pub async fn set_resource_labels(
        &self,
        op: &str,
        pool: &str,
        labels: HashMap<String, String>,
    ) -> Result<Followed, ProviderError> {
        let name = self.pool_name(pool);
        let labels = ResourceLabels::new().set_labels(labels);
        let started = self
            .call(op, || {
                self.client.update_node_pool().set_name(name.clone()).set_resource_labels(labels.clone()).send()
            })
            .await?;
        self.follow(op, started).await
    }

    pub async fn set_management(
        &self,
        op: &str,
        pool: &str,
        management: NodeManagement,
    ) -> Result<Followed, ProviderError> {
        let name = self.pool_name(pool);
        let started = self
            .call(op, || {
                self.client.set_node_pool_management().set_name(name.clone()).set_management(management.clone()).send()
            })
            .await?;
        self.follow(op, started).await
    }

    /// Polls GetOperation until the operation is DONE; a failed operation is an error of the matching kind
    /// carrying GKE's message.
    pub async fn follow(&self, op: &str, started: Operation) -> Result<Followed, ProviderError> {
        let deadline = tokio::time::Instant::now() + self.timing.operation_timeout;
        let name = self.operation_name(&started.name);
        let mut current = started;
        loop {
            if current.status == OpStatus::Done {
                return self.outcome(op, &current).map(|()| Followed::Done);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Followed::StillRunning(current.name));
            }
            tokio::time::sleep(self.timing.poll_interval).await;
            current = self.call(op, || self.client.get_operation().set_name(name.clone()).send()).await?;
        }
    }

    fn outcome(&self, op: &str, done: &Operation) -> Result<(), ProviderError> {
        #[allow(deprecated)]
        let status_message = &done.status_message;
        let failure = match &done.error {
            Some(e) if e.code != 0 || !e.message.is_empty() => Failure::from_operation(e.code, &e.message),
            // `statusMessage` is GKE's older way to report a failed operation.
            _ if !status_message.is_empty() => Failure::from_operation(2, status_message),
            _ => return Ok(()),
        };
        let mut e = error::from_failure(op, &failure, &self.scope);
        let what = done.operation_type.name().unwrap_or("operation");
        e.message = format!("GKE operation {} ({what}) failed: {}", done.name, e.message);
        Err(e)
    }
}
