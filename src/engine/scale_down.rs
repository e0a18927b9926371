//! Green's nodes carry `cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"` while a run is live
//! (from green Ready until blue is deleted, paused and blocked runs included), so a cluster autoscaler does
//! not remove a green node it finds under-used in the middle of the migration; the mark comes off when the
//! run is done.

use super::{Engine, EngineError};
use crate::ports::Stored;

/// The cluster autoscaler's per-node opt-out from scale-down.
pub const SCALE_DOWN_DISABLED: &str = "cluster-autoscaler.kubernetes.io/scale-down-disabled";

impl Engine {
    /// Sets (`protect`) the mark on every node of green as the watch-fed view shows them now that this
    /// process has not marked yet (nodes that joined since the last call), or removes it from all of them.
    /// Setting it again (a resumed run, another process) is harmless.
    pub(crate) async fn mark_green(&self, st: &Stored, protect: bool) -> Result<(), EngineError> {
        let matcher = self.provider.node_matcher(&st.checkpoint.green.name);
        let live = self.cluster.live().await?;
        let green: Vec<String> =
            live.nodes().iter().filter(|n| matcher.matches(&n.labels)).map(|n| n.name.clone()).collect();
        let marked = || self.marked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for node in green {
            if protect && marked().contains(&node) {
                continue;
            }
            self.cluster.annotate_node(&node, SCALE_DOWN_DISABLED, protect.then_some("true")).await?;
            if protect {
                marked().insert(node);
            } else {
                marked().remove(&node);
            }
        }
        Ok(())
    }
}
