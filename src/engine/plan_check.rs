//! A run of a reviewed plan (`upgrade --plan FILE`) compares each batch with the live cluster before the
//! batch starts: the comparison is [`crate::plan::drift`]; this gathers the live view's side of it.

use std::collections::BTreeSet;

use super::{Engine, EngineError};
use crate::model::snapshot::{PdbInfo, PodInfo};
use crate::plan::drift::{self, Drift, Observed};
use crate::ports::Stored;

impl Engine {
    /// `None` for a run that planned by itself; otherwise how batch `i` and the rest of blue differ from the
    /// reviewed plan now.
    pub(crate) async fn reviewed_batch_drift(&self, st: &Stored, i: usize) -> Result<Option<Drift>, EngineError> {
        let cp = &st.checkpoint;
        if cp.reviewed.is_none() {
            return Ok(None);
        }
        let plan = &cp.plan;
        let live = self.cluster.live().await?;
        let matcher = self.provider.node_matcher(&plan.pool);
        let blue: BTreeSet<String> =
            live.nodes().into_iter().filter(|n| matcher.matches(&n.labels)).map(|n| n.name).collect();
        let nodes = plan.batches.get(i).map(|b| b.nodes.as_slice()).unwrap_or_default();
        let pods: Vec<std::sync::Arc<PodInfo>> = nodes.iter().flat_map(|n| live.pods_on(n)).collect();
        let namespaces: BTreeSet<&str> = pods
            .iter()
            .map(|p| p.namespace.as_str())
            .chain(plan.batches.get(i).into_iter().flat_map(|b| b.pods.iter().map(|p| p.namespace.as_str())))
            .collect();
        let pdbs: Vec<PdbInfo> = namespaces.iter().flat_map(|ns| live.pdbs(ns)).map(|p| (*p).clone()).collect();
        let refs: Vec<&PodInfo> = pods.iter().map(|p| p.as_ref()).collect();
        let observed = Observed::from_live(blue, &refs, &pdbs, &plan.policy.allow);
        Ok(Some(drift::before_batch(plan, i, &observed)))
    }
}
