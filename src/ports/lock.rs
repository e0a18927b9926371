//! One agent per pool: a coordination.k8s.io Lease.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

/// Who holds a pool's lease, as the lease records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// `host/pid` of the agent.
    pub holder: String,
    /// When this holder took the lease (`acquireTime`), if recorded.
    pub since: Option<Timestamp>,
    /// Its last renewal (`renewTime`, else `acquireTime`); `None`: never renewed (counts as expired).
    pub renewed_at: Option<Timestamp>,
    /// How long the lease stays the holder's without renewal (`leaseDurationSeconds`).
    pub ttl: Duration,
}

impl LeaseHolder {
    /// When the lease expires unless renewed (`None`: never renewed, so already expired).
    pub fn expires_at(&self) -> Option<Timestamp> {
        let ttl = jiff::SignedDuration::try_from(self.ttl).ok()?;
        self.renewed_at.and_then(|t| t.checked_add(ttl).ok())
    }

    /// Time since the last renewal at `now` (zero if the clocks disagree).
    pub fn age(&self, now: Timestamp) -> Duration {
        self.renewed_at.and_then(|t| Duration::try_from(now.duration_since(t)).ok()).unwrap_or(Duration::ZERO)
    }

    /// Expired when renewTime + leaseDuration < now; a lease never renewed counts as expired.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.renewed_at.is_none() || self.age(now) > self.ttl
    }
}

/// When a lease expires, for people: the whole second from which it is free (a lease that expires at
/// 12:00:05.3 is free from 12:00:06); a lease never renewed expired already.
pub fn expiry_text(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => {
            let whole = jiff::TimestampRound::new().smallest(jiff::Unit::Second).mode(jiff::RoundMode::Ceil);
            t.round(whole).unwrap_or(t).to_string()
        }
        None => "once (it was never renewed)".to_string(),
    }
}

/// A time for people, to the second.
pub fn time_text(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "an unrecorded time".to_string(), |t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "pool {pool} is held by agent {holder} (its lease was renewed {}s ago and expires at {} unless renewed): wait for that run, follow it with `poolshift status`, or stop it at a safe point with `poolshift pause`; if that agent has died, `poolshift resume` takes over once the lease has expired",
        .age.as_secs(), expiry_text(*.expires_at)
    )]
    Held {
        pool: String,
        holder: String,
        /// Time since its last renewal.
        age: Duration,
        /// When it expires unless renewed.
        expires_at: Option<Timestamp>,
    },
    #[error("lost the lease on pool {pool}: {message}")]
    Lost { pool: String, message: String },
    #[error("lease for pool {pool}: {message}")]
    Api { pool: String, message: String },
}

impl LockError {
    /// The refusal for `pool`, held by `lease` at `now`.
    pub fn held(pool: &str, lease: &LeaseHolder, now: Timestamp) -> Self {
        LockError::Held {
            pool: pool.to_string(),
            holder: lease.holder.clone(),
            age: lease.age(now),
            expires_at: lease.expires_at(),
        }
    }
}

#[async_trait]
pub trait Lock: Send + Sync {
    /// Takes the lease for `holder`, or fails with who holds it and since when. Returns the previous holder
    /// when it took over another agent's expired lease.
    async fn acquire(&self, holder: &str) -> Result<Option<LeaseHolder>, LockError>;
    /// Renews it; fails if someone else took it over.
    async fn renew(&self, holder: &str) -> Result<(), LockError>;
    async fn release(&self, holder: &str) -> Result<(), LockError>;
    /// Who holds the lease now (`None`: free, released or absent), read only.
    async fn holder(&self) -> Result<Option<LeaseHolder>, LockError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(renewed: &str, ttl: u64) -> LeaseHolder {
        LeaseHolder {
            holder: "host/1".into(),
            since: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            renewed_at: Some(renewed.parse().unwrap()),
            ttl: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn expiry_follows_the_last_renewal() {
        let l = lease("2026-01-01T00:01:00Z", 30);
        assert_eq!(l.expires_at().unwrap().to_string(), "2026-01-01T00:01:30Z");
        let now: Timestamp = "2026-01-01T00:01:30Z".parse().unwrap();
        assert!(!l.expired(now), "at exactly renewTime + duration it still holds");
        let later: Timestamp = "2026-01-01T00:01:31Z".parse().unwrap();
        assert!(l.expired(later));
        assert_eq!(l.age(later), Duration::from_secs(31));
        let never = LeaseHolder { renewed_at: None, ..l };
        assert!(never.expired(now));
        assert_eq!(never.expires_at(), None);
    }

    #[test]
    fn the_refusal_names_the_holder_its_age_in_seconds_and_the_expiry() {
        let l = lease("2026-01-01T00:01:00Z", 30);
        let now: Timestamp = "2026-01-01T00:01:07.000300Z".parse().unwrap();
        let msg = LockError::held("blue", &l, now).to_string();
        let l = LeaseHolder { renewed_at: Some("2026-01-01T00:01:00.2Z".parse().unwrap()), ..l };
        assert_eq!(expiry_text(l.expires_at()), "2026-01-01T00:01:31Z", "free from the next whole second");
        assert!(msg.contains("held by agent host/1"), "{msg}");
        assert!(msg.contains("renewed 7s ago"), "{msg}");
        assert!(msg.contains("expires at 2026-01-01T00:01:30Z"), "{msg}");
        assert!(msg.contains("`poolshift pause`") && msg.contains("`poolshift resume`"), "{msg}");
        assert!(!msg.contains("abort"), "{msg}");
    }
}
