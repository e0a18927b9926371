//! Rollback: uncordon blue -> cordon green -> drain green -> delete green -> restore blue's autoscaling.

use poolshift_provider_api::PoolState;

use super::drain::{DrainEnd, Scope};
use super::{Engine, EngineError, Outcome, steps};
use crate::model::checkpoint::{Blocker, Phase, RollbackStep};
use crate::model::version::Version;
use crate::ports::Stored;

impl Engine {
    /// Whether the green pool exists and is this run's. The checkpoint's word is not enough: a crash after
    /// the provider accepted green but before the checkpoint recorded it leaves a pool the checkpoint does
    /// not know, so the provider is asked (as `create_green` does on resume); a pool found there at the
    /// plan's version is recorded as created.
    async fn find_green(&self, st: &mut Stored) -> Result<bool, EngineError> {
        if st.checkpoint.green.created {
            return Ok(true);
        }
        let name = st.checkpoint.green.name.clone();
        let Some(status) = self.pool_status(&name).await? else { return Ok(false) };
        let want = st.checkpoint.plan.green.version.parse::<Version>().ok();
        let now = self.now();
        if status.version.parse::<Version>().ok() != want {
            st.checkpoint.note(
                &now,
                format!(
                    "rollback leaves pool {name} alone: it is at version {}, not {}, so this run did not create it",
                    status.version, st.checkpoint.plan.green.version
                ),
            );
            return Ok(false);
        }
        st.checkpoint.green.created = true;
        st.checkpoint.note(
            &now,
            format!(
                "rollback found green pool {name} (provider state {:?}) that the checkpoint had not recorded",
                status.state
            ),
        );
        self.save(st).await?;
        Ok(true)
    }

    /// Performs one rollback step; returns the next phase (`None` when interrupted, to re-enter the loop).
    pub(crate) async fn rollback_step(
        &self,
        st: &mut Stored,
        step: RollbackStep,
    ) -> Result<Result<Option<Phase>, Outcome>, EngineError> {
        let run_id = st.checkpoint.run_id.clone();
        let blue = st.checkpoint.pool.clone();
        let green = st.checkpoint.green.name.clone();
        let live = self.cluster.live().await?;
        let nodes_of = |pool: &str| {
            let m = self.provider.node_matcher(pool);
            let mut v: Vec<String> =
                live.nodes().iter().filter(|n| m.matches(&n.labels)).map(|n| n.name.clone()).collect();
            v.sort();
            v
        };
        match step {
            RollbackStep::UncordonBlue => {
                for n in nodes_of(&blue) {
                    self.cluster.set_cordon(&n, false, &run_id).await?;
                }
            }
            RollbackStep::CordonGreen => {
                if self.find_green(st).await? {
                    for n in nodes_of(&green) {
                        self.cluster.set_cordon(&n, true, &run_id).await?;
                    }
                }
            }
            RollbackStep::DrainGreen => {
                if st.checkpoint.green.created {
                    let nodes = nodes_of(&green);
                    let policy = st.checkpoint.plan.policy.clone();
                    let scope = Scope { nodes: &nodes, cordoned: &nodes, batch: None };
                    let r = self.drain_nodes(st, &scope, &policy).await?;
                    st.checkpoint.moved += r.moved as u64;
                    match r.end {
                        DrainEnd::Done => {}
                        DrainEnd::Interrupted => return Ok(Ok(None)),
                        DrainEnd::Stuck { stuck, .. } => {
                            let blockers = stuck
                                .into_iter()
                                .map(|s| Blocker { pod: s.pod, node: s.node, pdb: s.pdb, reason: s.reason })
                                .collect();
                            let reason = format!(
                                "rollback: green pool {green} cannot be drained; resolve and `poolshift rollback` again"
                            );
                            return Ok(Err(self.block(st, reason, blockers).await?));
                        }
                    }
                }
            }
            RollbackStep::DeleteGreen => {
                if self.find_green(st).await? {
                    let provider = self.provider.clone();
                    let g = green.clone();
                    self.provider_call(|| {
                        let p = provider.clone();
                        let g = g.clone();
                        async move { p.delete_pool(&g).await }
                    })
                    .await?;
                    loop {
                        let provider = self.provider.clone();
                        let g = green.clone();
                        match self
                            .provider_call(|| {
                                let p = provider.clone();
                                let g = g.clone();
                                async move { p.pool_status(&g).await }
                            })
                            .await?
                        {
                            None => break,
                            Some(s) if matches!(s.state, PoolState::Failed { .. }) => {
                                let reason = format!("rollback: deleting green pool {green} failed: {:?}", s.state);
                                return Ok(Err(self.block(st, reason, Vec::new()).await?));
                            }
                            Some(_) => {
                                self.clock.sleep(self.tick).await;
                                self.lock.renew(&self.holder).await?;
                            }
                        }
                    }
                    st.checkpoint.green.created = false;
                }
            }
            RollbackStep::RestoreAutoscaling => {
                if let Some(prior) = st.checkpoint.autoscaling_prior.clone() {
                    let provider = self.provider.clone();
                    let b = blue.clone();
                    self.provider_call(|| {
                        let p = provider.clone();
                        let b = b.clone();
                        let prior = prior.clone();
                        async move { p.restore_autoscaling(&b, &prior).await }
                    })
                    .await?;
                }
            }
        }
        Ok(Ok(Some(match steps::next_rollback_step(step) {
            Some(s) => Phase::RollingBack { step: s },
            None => Phase::RolledBack,
        })))
    }
}
