//! Rollback: uncordon blue -> cordon green -> drain green -> delete green -> restore blue's autoscaling.

use poolshift_provider_api::PoolState;

use super::drain::DrainEnd;
use super::{Engine, EngineError, Outcome, steps};
use crate::model::checkpoint::{Blocker, Phase, RollbackStep};
use crate::ports::Stored;

impl Engine {
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
            let mut v: Vec<String> = live
                .nodes()
                .iter()
                .filter(|n| n.labels.get(&m.label) == Some(&m.value))
                .map(|n| n.name.clone())
                .collect();
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
                if st.checkpoint.green.created {
                    for n in nodes_of(&green) {
                        self.cluster.set_cordon(&n, true, &run_id).await?;
                    }
                }
            }
            RollbackStep::DrainGreen => {
                if st.checkpoint.green.created {
                    let nodes = nodes_of(&green);
                    let policy = st.checkpoint.plan.policy.clone();
                    let r = self.drain_nodes(st, &nodes, &policy).await?;
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
                if st.checkpoint.green.created {
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
