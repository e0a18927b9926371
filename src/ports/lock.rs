//! One agent per pool: a coordination.k8s.io Lease.

use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "pool {pool} is locked by {holder} (lease renewed {age:?} ago, expires after {ttl:?} without renewal); run `poolshift status` to see that run"
    )]
    Held { pool: String, holder: String, age: Duration, ttl: Duration },
    #[error("lost the lease on pool {pool}: {message}")]
    Lost { pool: String, message: String },
    #[error("lease for pool {pool}: {message}")]
    Api { pool: String, message: String },
}

#[async_trait]
pub trait Lock: Send + Sync {
    /// Takes the lease for `holder`, or fails with who holds it and since when.
    async fn acquire(&self, holder: &str) -> Result<(), LockError>;
    /// Renews it; fails if someone else took it over.
    async fn renew(&self, holder: &str) -> Result<(), LockError>;
    async fn release(&self, holder: &str) -> Result<(), LockError>;
}
