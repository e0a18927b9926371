//! [`LeaseLock`]: one agent per pool, on a coordination.k8s.io/v1 Lease
//! (`poolshift-system/poolshift-<cluster>-<pool>`). Every write is a compare-and-swap on resourceVersion; on a
//! conflict the lease is read again and the decision taken again.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::PostParams;
use kube::{Api, Client};

use super::errors::{api_code, describe};
use super::retry::transient;
use super::{MANAGED_BY, MANAGED_BY_LABEL, SYSTEM_NAMESPACE, create_namespaced, object_name};
use crate::ports::{Clock, LeaseHolder, Lock, LockError};

pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Read-decide-write rounds before giving up on a lease that keeps changing under us.
const MAX_ROUNDS: usize = 5;

pub struct LeaseLock {
    client: Client,
    namespace: String,
    name: String,
    pool: String,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

/// What to write after reading the lease.
enum Decision {
    Write(Box<Lease>),
    Done,
}

impl LeaseLock {
    pub fn new(client: Client, cluster: &str, pool: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            namespace: SYSTEM_NAMESPACE.to_string(),
            name: object_name(cluster, pool),
            pool: pool.to_string(),
            ttl: DEFAULT_TTL,
            clock,
        }
    }

    /// How long the lease stays ours without renewal (`leaseDurationSeconds`, whole seconds, at least 1).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_string();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn api(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn api_err(&self, what: &str, e: &kube::Error) -> LockError {
        LockError::Api {
            pool: self.pool.clone(),
            message: format!("{what} lease {}/{}: {}", self.namespace, self.name, describe(e)),
        }
    }

    fn ttl_secs(&self) -> i32 {
        i32::try_from(self.ttl.as_secs()).unwrap_or(i32::MAX).max(1)
    }

    fn now(&self) -> MicroTime {
        MicroTime(self.clock.now())
    }

    /// Reads the lease and writes what `decide` wants, again on conflict. `decide` sees the current lease
    /// (`None`: absent) and returns what to write, or that nothing needs writing.
    async fn round<F>(&self, what: &str, mut decide: F) -> Result<(), LockError>
    where
        F: FnMut(Option<Lease>) -> Result<Decision, LockError>,
    {
        let api = self.api();
        for _ in 0..MAX_ROUNDS {
            let current = transient("reading the lease", || api.get_opt(&self.name))
                .await
                .map_err(|e| self.api_err("reading", &e))?;
            let existed = current.is_some();
            let lease = match decide(current)? {
                Decision::Done => return Ok(()),
                Decision::Write(lease) => *lease,
            };
            let written = if existed {
                {
                    let pp = PostParams::default();
                    transient("writing the lease", || api.replace(&self.name, &pp, &lease)).await
                }
            } else {
                create_namespaced(&self.client, &self.namespace, "creating the lease", &lease).await
            };
            match written {
                Ok(_) => return Ok(()),
                // Someone wrote (or created, or deleted) it between our read and write: decide again.
                Err(e) if matches!(api_code(&e), Some(409 | 404)) => {
                    tracing::debug!(lease = %self.name, what, "lease changed under us; reading it again");
                }
                Err(e) => return Err(self.api_err(what, &e)),
            }
        }
        Err(LockError::Api {
            pool: self.pool.clone(),
            message: format!(
                "{what} lease {}/{}: it kept changing; gave up after {MAX_ROUNDS} attempts",
                self.namespace, self.name
            ),
        })
    }

    fn fresh(&self, holder: &str) -> Lease {
        let now = self.now();
        let mut lease = Lease::default();
        lease.metadata.name = Some(self.name.clone());
        lease.metadata.namespace = Some(self.namespace.clone());
        lease.metadata.labels = Some([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())].into());
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(holder.to_string()),
            lease_duration_seconds: Some(self.ttl_secs()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..Default::default()
        });
        lease
    }
}

fn holder_of(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()).filter(|h| !h.is_empty())
}

/// The lease's holder with its times; `None` when nobody holds it.
fn lease_holder(lease: &Lease) -> Option<LeaseHolder> {
    let holder = holder_of(lease)?.to_string();
    let spec = lease.spec.as_ref()?;
    let since = spec.acquire_time.as_ref().map(|t| t.0);
    Some(LeaseHolder {
        holder,
        since,
        renewed_at: spec.renew_time.as_ref().map(|t| t.0).or(since),
        ttl: Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0)),
    })
}

#[async_trait]
impl Lock for LeaseLock {
    async fn acquire(&self, holder: &str) -> Result<Option<LeaseHolder>, LockError> {
        let mut previous = None;
        self.round("acquiring", |current| {
            previous = None;
            let Some(mut lease) = current else { return Ok(Decision::Write(Box::new(self.fresh(holder)))) };
            let now = self.now();
            let ours = holder_of(&lease) == Some(holder);
            let other = lease_holder(&lease).filter(|h| h.holder != holder);
            let spec = lease.spec.get_or_insert_with(Default::default);
            match other {
                Some(other) if !other.expired(now.0) => {
                    return Err(LockError::held(&self.pool, &other, now.0));
                }
                // Another agent's lease, not renewed in time: that agent is gone; take over.
                Some(other) => {
                    tracing::info!(lease = %self.name, previous = %other.holder, "taking over an expired lease");
                    spec.holder_identity = Some(holder.to_string());
                    spec.acquire_time = Some(now.clone());
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    previous = Some(other);
                }
                // Ours already (a restarted agent with the same identity): renew it.
                None if ours => {}
                // Released: take it.
                None => {
                    spec.holder_identity = Some(holder.to_string());
                    spec.acquire_time = Some(now.clone());
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
            }
            spec.renew_time = Some(now);
            spec.lease_duration_seconds = Some(self.ttl_secs());
            Ok(Decision::Write(Box::new(lease)))
        })
        .await?;
        Ok(previous)
    }

    async fn renew(&self, holder: &str) -> Result<(), LockError> {
        self.round("renewing", |current| {
            let lost = |message: String| LockError::Lost { pool: self.pool.clone(), message };
            let Some(mut lease) = current else {
                return Err(lost(format!("lease {}/{} was deleted", self.namespace, self.name)));
            };
            match holder_of(&lease) {
                Some(h) if h == holder => {}
                Some(other) => return Err(lost(format!("it is now held by {other}"))),
                None => return Err(lost("it was released".to_string())),
            }
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.renew_time = Some(self.now());
            spec.lease_duration_seconds = Some(self.ttl_secs());
            Ok(Decision::Write(Box::new(lease)))
        })
        .await
    }

    async fn release(&self, holder: &str) -> Result<(), LockError> {
        self.round("releasing", |current| {
            let Some(mut lease) = current else { return Ok(Decision::Done) };
            if holder_of(&lease) != Some(holder) {
                return Ok(Decision::Done);
            }
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.holder_identity = None;
            spec.renew_time = Some(self.now());
            Ok(Decision::Write(Box::new(lease)))
        })
        .await
    }

    async fn holder(&self) -> Result<Option<LeaseHolder>, LockError> {
        let api = self.api();
        let current = transient("reading the lease", || api.get_opt(&self.name))
            .await
            .map_err(|e| self.api_err("reading", &e))?;
        Ok(current.as_ref().and_then(lease_holder))
    }
}
