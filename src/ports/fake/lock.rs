//! [`MemoryLock`]: the pool's lease in memory, with the Lease lock's semantics (`crate::kube::lease`):
//! `acquire` takes an absent or released lease, renews one already ours, takes over another holder's expired
//! one (returning that holder), and refuses a live one with [`LockError::Held`]; `renew` fails with
//! [`LockError::Lost`] once the lease is deleted, released or someone else's; `release` of a lease that is
//! not ours leaves it alone. Times come from the [`Clock`], the TTL is whole seconds.
//!
//! With a [`Script`], calls fail as scripted: operations `acquire`, `renew`, `release` (argument: the
//! holder) and `holder`; [`Fault::LeaseLost`] is a lost lease, any other fault an API error.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::script::{Fault, Script};
use crate::kube::lease::DEFAULT_TTL;
use crate::ports::{Clock, LeaseHolder, Lock, LockError};

/// The lease object: `holder` is `None` once released.
#[derive(Debug, Clone)]
struct Lease {
    holder: Option<String>,
    acquired: jiff::Timestamp,
    renewed: jiff::Timestamp,
    ttl: Duration,
}

impl Lease {
    fn holder(&self) -> Option<LeaseHolder> {
        Some(LeaseHolder {
            holder: self.holder.clone()?,
            since: Some(self.acquired),
            renewed_at: Some(self.renewed),
            ttl: self.ttl,
        })
    }
}

pub struct MemoryLock {
    pool: String,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    lease: Mutex<Option<Lease>>,
    script: Arc<Script>,
}

impl MemoryLock {
    /// The lease of `pool`, absent, with the Lease lock's default TTL; its calls all pass.
    pub fn new(pool: &str, clock: Arc<dyn Clock>) -> Self {
        Self::scripted(pool, clock, Arc::new(Script::new()))
    }

    /// [`MemoryLock::new`], with calls failing as `script` says.
    pub fn scripted(pool: &str, clock: Arc<dyn Clock>, script: Arc<Script>) -> Self {
        Self { pool: pool.to_string(), ttl: DEFAULT_TTL, clock, lease: Mutex::new(None), script }
    }

    /// How long the lease stays its holder's without renewal (whole seconds, at least 1).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Duration::from_secs(ttl.as_secs().max(1));
        self
    }

    pub fn script(&self) -> &Arc<Script> {
        &self.script
    }

    /// Another agent takes the lease as it stands (a test of a lost lease; a real agent would wait for it to
    /// expire).
    pub fn steal(&self, holder: &str) {
        let now = self.clock.now();
        *self.lease() = Some(Lease { holder: Some(holder.to_string()), acquired: now, renewed: now, ttl: self.ttl });
    }

    fn lease(&self) -> MutexGuard<'_, Option<Lease>> {
        self.lease.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, fault: &Fault, what: &str) -> LockError {
        let pool = self.pool.clone();
        match fault {
            Fault::LeaseLost { .. } => LockError::Lost { pool, message: fault.describe() },
            f => LockError::Api { pool, message: format!("{what} lease: {}", f.describe()) },
        }
    }

    fn take(&self, holder: &str) -> Result<Option<LeaseHolder>, LockError> {
        let now = self.clock.now();
        let mut lease = self.lease();
        let fresh = Lease { holder: Some(holder.to_string()), acquired: now, renewed: now, ttl: self.ttl };
        let Some(l) = lease.as_mut() else {
            *lease = Some(fresh);
            return Ok(None);
        };
        let other = l.holder().filter(|h| h.holder != holder);
        let previous = match other {
            Some(other) if !other.expired(now) => return Err(LockError::held(&self.pool, &other, now)),
            // Another agent's lease, expired: that agent is gone.
            Some(other) => {
                l.acquired = now;
                Some(other)
            }
            // Ours already: renewed.
            None if l.holder.is_some() => None,
            // Released: taken.
            None => {
                l.acquired = now;
                None
            }
        };
        l.holder = Some(holder.to_string());
        l.renewed = now;
        l.ttl = self.ttl;
        Ok(previous)
    }

    fn keep(&self, holder: &str) -> Result<(), LockError> {
        let lost = |message: String| LockError::Lost { pool: self.pool.clone(), message };
        let mut lease = self.lease();
        let Some(l) = lease.as_mut() else { return Err(lost("the lease was deleted".into())) };
        match l.holder.as_deref() {
            Some(h) if h == holder => {}
            Some(other) => return Err(lost(format!("it is now held by {other}"))),
            None => return Err(lost("it was released".into())),
        }
        l.renewed = self.clock.now();
        l.ttl = self.ttl;
        Ok(())
    }

    fn give_up(&self, holder: &str) {
        let now = self.clock.now();
        if let Some(l) = self.lease().as_mut().filter(|l| l.holder.as_deref() == Some(holder)) {
            l.holder = None;
            l.renewed = now;
        }
    }
}

#[async_trait]
impl Lock for MemoryLock {
    async fn acquire(&self, holder: &str) -> Result<Option<LeaseHolder>, LockError> {
        let verdict = self.script.call("acquire", holder);
        verdict.run(|| async { self.take(holder) }, |f| Err(self.error(&f, "acquiring"))).await
    }

    async fn renew(&self, holder: &str) -> Result<(), LockError> {
        let verdict = self.script.call("renew", holder);
        verdict.run(|| async { self.keep(holder) }, |f| Err(self.error(&f, "renewing"))).await
    }

    async fn release(&self, holder: &str) -> Result<(), LockError> {
        let verdict = self.script.call("release", holder);
        let release = || async {
            self.give_up(holder);
            Ok(())
        };
        verdict.run(release, |f| Err(self.error(&f, "releasing"))).await
    }

    async fn holder(&self) -> Result<Option<LeaseHolder>, LockError> {
        let verdict = self.script.call("holder", "");
        let read = || async { Ok(self.lease().as_ref().and_then(Lease::holder)) };
        verdict.run(read, |f| Err(self.error(&f, "reading"))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TokioClock;

    fn lock() -> MemoryLock {
        let clock = Arc::new(TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap(), 1.0));
        MemoryLock::new("blue", clock).with_ttl(Duration::from_secs(30))
    }

    #[tokio::test(start_paused = true)]
    async fn one_holder_at_a_time_until_its_lease_expires() {
        let l = lock();
        assert_eq!(l.acquire("a/1").await.unwrap(), None);
        assert_eq!(l.acquire("a/1").await.unwrap(), None, "ours already: renewed");
        tokio::time::advance(Duration::from_secs(10)).await;
        let err = l.acquire("b/2").await.unwrap_err();
        assert!(matches!(&err, LockError::Held { holder, age, .. } if holder == "a/1" && age.as_secs() == 10), "{err}");
        l.renew("a/1").await.unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(l.acquire("b/2").await.is_err(), "at exactly renewTime + TTL it still holds");
        tokio::time::advance(Duration::from_secs(1)).await;
        let previous = l.acquire("b/2").await.unwrap().expect("took over");
        assert_eq!(previous.holder, "a/1");
        assert_eq!(previous.renewed_at.unwrap().to_string(), "2026-01-01T00:00:10Z");
        let err = l.renew("a/1").await.unwrap_err();
        assert!(matches!(&err, LockError::Lost { message, .. } if message.contains("held by b/2")), "{err}");
        l.release("a/1").await.unwrap();
        assert_eq!(l.holder().await.unwrap().unwrap().holder, "b/2", "not a/1's to release");
        l.release("b/2").await.unwrap();
        assert_eq!(l.holder().await.unwrap(), None);
        assert!(matches!(l.renew("b/2").await, Err(LockError::Lost { .. })), "released");
        assert_eq!(l.acquire("c/3").await.unwrap(), None, "a released lease is taken without a takeover");
    }

    #[tokio::test(start_paused = true)]
    async fn scripted_failures_and_a_stolen_lease() {
        let script = Arc::new(Script::new());
        script.fail_nth("renew", 2, Fault::api(500, "InternalError")).fail_nth("renew", 3, Fault::lease_lost("gone"));
        let clock = Arc::new(TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap(), 1.0));
        let l = MemoryLock::scripted("blue", clock, script.clone());
        l.acquire("a/1").await.unwrap();
        l.renew("a/1").await.unwrap();
        assert!(matches!(l.renew("a/1").await, Err(LockError::Api { .. })));
        assert!(matches!(l.renew("a/1").await, Err(LockError::Lost { .. })));
        l.renew("a/1").await.unwrap();
        l.steal("thief/9");
        assert!(matches!(l.renew("a/1").await, Err(LockError::Lost { .. })));
        assert_eq!(script.count("renew"), 5);
    }
}
