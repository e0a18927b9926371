//! The provider conformance suite: what every provider must do, checked the same way for all of them.
//! Each provider's tests run it against their fake or emulator (the simulator, moto, a GKE REST fake, an
//! exec plugin) with a `tick` that lets time pass or drives the fake's lifecycle.
//!
//! Checks: describe blue; versions offered; idempotent create (a retry with the same token finds the first
//! pool); status until Ready; green has blue's autoscaling; freeze then restore puts back exactly the prior
//! settings, and a second freeze of the frozen pool (a new run after one aborted with blue frozen) returns the
//! original settings, not the frozen ones; delete twice; errors mapped to the trait's kinds (NotFound for a
//! missing pool, Conflict for a same-name pool of another version).

use std::future::Future;
use std::pin::Pin;

use crate::{CreateToken, ErrorKind, PoolSpec, PoolState, Provider};

pub type Tick = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

pub struct Conformance<'a> {
    pub provider: &'a dyn Provider,
    /// An existing pool to clone.
    pub blue: String,
    /// A version the provider offers, different from blue's.
    pub target_version: String,
    /// Lets time pass between status polls.
    pub tick: Tick,
    /// Polls before a pool that does not become Ready (or go away) fails the suite.
    pub max_ticks: usize,
}

fn fail(step: &str, what: impl std::fmt::Display) -> String {
    format!("conformance: {step}: {what}")
}

impl Conformance<'_> {
    /// Runs every check; the error names the step that failed and why.
    pub async fn run(&self) -> Result<(), String> {
        let p = self.provider;
        let blue = p.describe_pool(&self.blue).await.map_err(|e| fail("describe blue", e))?;
        if blue.name != self.blue {
            return Err(fail("describe blue", format!("described {:?}, asked for {:?}", blue.name, self.blue)));
        }
        let offered = p.versions().await.map_err(|e| fail("versions", e))?;
        if offered.node_versions.is_empty() || offered.control_plane.is_empty() {
            return Err(fail("versions", format!("nothing offered: {offered:?}")));
        }

        match p.describe_pool("poolshift-conformance-missing").await {
            Err(e) if e.kind == ErrorKind::NotFound => {}
            other => return Err(fail("describe a missing pool", format!("want NotFound, got {other:?}"))),
        }

        let name = p.green_name(&self.blue, &self.target_version);
        let spec = PoolSpec::derive(&blue, &name, &self.target_version);
        let token = CreateToken::new("conformance-run", 1);
        let first = p.create_pool(&spec, &token).await.map_err(|e| fail("create green", e))?;
        if first.name != name {
            return Err(fail("create green", format!("created {:?}, asked for {name:?}", first.name)));
        }
        // A retry of the same attempt (its answer was lost): same spec, same token.
        let again = p.create_pool(&spec, &token).await.map_err(|e| fail("create green again (idempotent)", e))?;
        if again.name != name {
            return Err(fail("create green again", format!("a second pool {:?}", again.name)));
        }
        let mut other = spec.clone();
        other.version = blue.version.clone();
        match p.create_pool(&other, &CreateToken::new("conformance-run", 2)).await {
            Err(e) if e.kind == ErrorKind::Conflict => {}
            r => return Err(fail("create same name, other version", format!("want Conflict, got {r:?}"))),
        }

        self.wait("green becomes Ready", &name, |s| matches!(s, Some(PoolState::Ready))).await?;

        // Green scales as blue did: blue's autoscaling (on or off, and its bounds), not autoscaling off.
        let green = p.describe_pool(&name).await.map_err(|e| fail("describe green", e))?;
        let (g, b) = (&green.autoscaling, &blue.autoscaling);
        if (g.enabled, g.size.min, g.size.max) != (b.enabled, b.size.min, b.size.max) {
            return Err(fail("green's autoscaling", format!("green has {g:?}, blue has {b:?}")));
        }

        let prior = p.freeze_autoscaling(&self.blue).await.map_err(|e| fail("freeze", e))?;
        if prior != blue.autoscaling {
            return Err(fail("freeze", format!("returned {prior:?}, blue had {:?}", blue.autoscaling)));
        }
        let frozen = p.describe_pool(&self.blue).await.map_err(|e| fail("describe frozen", e))?;
        if frozen.autoscaling.enabled || frozen.autoscaling.size.min != frozen.autoscaling.size.max {
            return Err(fail("freeze", format!("still able to scale: {:?}", frozen.autoscaling)));
        }
        // A new run after one that was aborted (or crashed) with blue frozen freezes blue again: the answer
        // is the original settings recorded at the first freeze, not the frozen ones it now has.
        let refrozen = p.freeze_autoscaling(&self.blue).await.map_err(|e| fail("freeze a frozen pool", e))?;
        if refrozen != prior {
            return Err(fail(
                "freeze a frozen pool",
                format!(
                    "returned {refrozen:?}, the original settings were {prior:?} (frozen: {:?})",
                    frozen.autoscaling
                ),
            ));
        }
        let still = p.describe_pool(&self.blue).await.map_err(|e| fail("describe refrozen", e))?;
        if still.autoscaling.enabled || still.autoscaling.size.min != still.autoscaling.size.max {
            return Err(fail("freeze a frozen pool", format!("able to scale again: {:?}", still.autoscaling)));
        }
        p.restore_autoscaling(&self.blue, &refrozen).await.map_err(|e| fail("restore", e))?;
        let restored = p.describe_pool(&self.blue).await.map_err(|e| fail("describe restored", e))?;
        if restored.autoscaling != prior {
            return Err(fail("restore", format!("restored {:?}, prior was {prior:?}", restored.autoscaling)));
        }
        // A later run freezes and restores blue the same way (each provider's own tests check that the
        // restore removed its record).
        let next = p.freeze_autoscaling(&self.blue).await.map_err(|e| fail("freeze after restore", e))?;
        if next != prior {
            return Err(fail("freeze after restore", format!("returned {next:?}, blue has {prior:?}")));
        }
        p.restore_autoscaling(&self.blue, &next).await.map_err(|e| fail("restore again", e))?;
        let restored = p.describe_pool(&self.blue).await.map_err(|e| fail("describe restored again", e))?;
        if restored.autoscaling != prior {
            return Err(fail("restore again", format!("restored {:?}, prior was {prior:?}", restored.autoscaling)));
        }

        p.delete_pool(&name).await.map_err(|e| fail("delete green", e))?;
        p.delete_pool(&name).await.map_err(|e| fail("delete green again", e))?;
        self.wait("green goes away", &name, |s| s.is_none()).await?;
        match p.delete_pool(&name).await {
            Ok(None) => {}
            r => return Err(fail("delete a deleted pool", format!("want Ok(None), got {r:?}"))),
        }
        Ok(())
    }

    async fn wait(&self, step: &str, pool: &str, done: impl Fn(Option<&PoolState>) -> bool) -> Result<(), String> {
        for _ in 0..self.max_ticks {
            let status = self.provider.pool_status(pool).await.map_err(|e| fail(step, e))?;
            let state = status.as_ref().map(|s| &s.state);
            if let Some(PoolState::Failed { reason }) = state {
                return Err(fail(step, format!("pool failed: {reason}")));
            }
            if done(state) {
                return Ok(());
            }
            (self.tick)().await;
        }
        Err(fail(step, format!("not reached after {} polls", self.max_ticks)))
    }
}
