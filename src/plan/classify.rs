//! What to do with each pod on a blue node (semantics.md §1.2, §7, scenarios 2, 3, 6, 13-17, 36, 37, 40).

use crate::model::plan::{BlockReason, Disposition, SkipReason};
use crate::model::policy::Allow;
use crate::model::snapshot::{PdbInfo, PodInfo};

/// Classifies `pod` given the PDBs that select it.
pub fn classify(pod: &PodInfo, pdbs: &[&PdbInfo], allow: &Allow) -> Disposition {
    if pod.mirror {
        return Disposition::Skip(SkipReason::Mirror);
    }
    if pod.finished() {
        return Disposition::Skip(SkipReason::Finished);
    }
    match pod.owner_kind() {
        Some("DaemonSet") => return Disposition::Skip(SkipReason::DaemonSet),
        Some("Job") => return Disposition::WaitForCompletion,
        _ => {}
    }
    if let Some(v) = &pod.do_not_disrupt
        && v != "false"
        && !allow.do_not_disrupt
    {
        return Disposition::Blocked(BlockReason::DoNotDisrupt { value: v.clone() });
    }
    let safe = pod.safe_to_evict.as_deref();
    if safe == Some("false") && !allow.safe_to_evict_false {
        return Disposition::Blocked(BlockReason::SafeToEvictFalse);
    }
    // safe-to-evict "true" overrides the controller and local-storage blockers (not PDBs), as the autoscaler does.
    if safe != Some("true") {
        if pod.controller.is_none() && !allow.bare_pods {
            return Disposition::Blocked(BlockReason::BarePod);
        }
        if pod.empty_dir && !allow.empty_dir {
            return Disposition::Blocked(BlockReason::EmptyDir);
        }
    }
    match pdbs {
        [] => Disposition::Evict,
        [pdb] => {
            if let Some(msg) = &pdb.sync_failed {
                return Disposition::Blocked(BlockReason::PdbSyncFailed { pdb: pdb.key(), message: msg.clone() });
            }
            // An unready pod under AlwaysAllow is evictable whatever the budget (semantics §2.4).
            let always = pdb.unhealthy_pod_eviction_policy.as_deref() == Some("AlwaysAllow");
            if (!always || pod.ready)
                && let Some(why) = pdb.structurally_blocked()
            {
                return Disposition::Blocked(BlockReason::ZeroBudget { pdb: pdb.key(), why });
            }
            Disposition::Evict
        }
        many => Disposition::Blocked(BlockReason::MultiplePdbs { pdbs: many.iter().map(|p| p.key()).collect() }),
    }
}
