//! [`ScriptedProvider`]: any [`Provider`] (in tests the simulator's) with the calls a [`Script`] names
//! failing.
//!
//! Operations (argument: the pool's name): `describe_pool`, `versions` (no argument), `create_pool`,
//! `pool_status`, `delete_pool`, `freeze_autoscaling`, `restore_autoscaling`. `kind`, `node_matcher` and
//! `green_name` are not calls to the provider's API and are never scripted.
//!
//! A [`Fault::Provider`] fails with its kind; an API answer or a broken connection is what a provider
//! reports as [`ErrorKind::Transient`] (429, 5xx, transport) or [`ErrorKind::Failed`] (any other status).

use std::sync::Arc;

use async_trait::async_trait;
use poolshift_provider_api::{
    AutoscalingSettings, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSpec, PoolStatus,
    Provider, ProviderError,
};

use super::script::{Fault, Script};

pub struct ScriptedProvider {
    inner: Arc<dyn Provider>,
    script: Arc<Script>,
}

impl ScriptedProvider {
    pub fn new(inner: Arc<dyn Provider>, script: Arc<Script>) -> Self {
        Self { inner, script }
    }

    pub fn script(&self) -> &Arc<Script> {
        &self.script
    }

    /// The port's error for `fault` on `operation`.
    fn error(&self, fault: &Fault, operation: &str) -> ProviderError {
        let kind = match fault {
            Fault::Provider { kind, .. } => *kind,
            Fault::Api { code, .. } if *code == 429 || *code >= 500 => ErrorKind::Transient,
            Fault::Transport { .. } => ErrorKind::Transient,
            _ => ErrorKind::Failed,
        };
        let message = match fault {
            Fault::Provider { message, .. } => message.clone(),
            f => f.describe(),
        };
        ProviderError::new(self.inner.kind(), operation, kind, message)
    }
}

#[async_trait]
impl Provider for ScriptedProvider {
    fn kind(&self) -> &str {
        self.inner.kind()
    }

    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        let verdict = self.script.call("describe_pool", pool);
        verdict.run(|| self.inner.describe_pool(pool), |f| Err(self.error(&f, "describe_pool"))).await
    }

    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        let verdict = self.script.call("versions", "");
        verdict.run(|| self.inner.versions(), |f| Err(self.error(&f, "versions"))).await
    }

    async fn create_pool(&self, spec: &PoolSpec, token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        let verdict = self.script.call("create_pool", format!("{} token {token}", spec.name));
        verdict.run(|| self.inner.create_pool(spec, token), |f| Err(self.error(&f, "create_pool"))).await
    }

    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let verdict = self.script.call("pool_status", pool);
        verdict.run(|| self.inner.pool_status(pool), |f| Err(self.error(&f, "pool_status"))).await
    }

    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let verdict = self.script.call("delete_pool", pool);
        verdict.run(|| self.inner.delete_pool(pool), |f| Err(self.error(&f, "delete_pool"))).await
    }

    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        let verdict = self.script.call("freeze_autoscaling", pool);
        verdict.run(|| self.inner.freeze_autoscaling(pool), |f| Err(self.error(&f, "freeze_autoscaling"))).await
    }

    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        let verdict = self.script.call("restore_autoscaling", pool);
        verdict
            .run(|| self.inner.restore_autoscaling(pool, prior), |f| Err(self.error(&f, "restore_autoscaling")))
            .await
    }

    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        self.inner.node_matcher(pool)
    }

    fn green_name(&self, blue: &str, version: &str) -> String {
        self.inner.green_name(blue, version)
    }
}
