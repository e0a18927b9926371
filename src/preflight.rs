//! The preflight of `plan`: every eviction the plan contains (and every blocked pod) sent to the API server
//! as a server-side dry run (`dryRun=All`), a bounded number at a time, so that the report shows what the
//! server answers now. A dry run changes nothing and consumes no budget; never a real eviction here.

use std::time::Duration;

use futures::StreamExt;

use crate::model::plan::{Disposition, UpgradePlan};
use crate::model::review::{Preflight, PreflightAnswer};
use crate::ports::{Cluster, EvictOutcome, PodRef};

/// Dry-run evictions in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// A throttled or failed dry run is tried again this many times.
const RETRIES: u32 = 3;

/// Checks the plan's evictions against `cluster`, `concurrency` at a time.
pub async fn check(cluster: &dyn Cluster, plan: &UpgradePlan, concurrency: usize) -> Preflight {
    let pods: Vec<_> =
        plan.pods().filter(|p| matches!(p.disposition, Disposition::Evict | Disposition::Blocked(_))).collect();
    let answers: Vec<Option<PreflightAnswer>> = futures::stream::iter(pods.iter().map(|p| async move {
        let pod = PodRef { namespace: p.namespace.clone(), name: p.name.clone(), uid: p.uid.clone() };
        let outcome = dry_run(cluster, &pod).await;
        let answer = |answer: &str, message: String| {
            Some(PreflightAnswer { pod: p.key(), pdb: p.pdb.clone(), answer: answer.into(), message })
        };
        match outcome {
            Ok(EvictOutcome::Evicted) => None,
            Ok(EvictOutcome::Budget { message, .. }) => answer("budget", message),
            Ok(EvictOutcome::Gone) => answer("gone", "the pod is gone (or its name has a new UID)".into()),
            Ok(EvictOutcome::Throttled { .. }) => answer("throttled", "the API server kept throttling (429)".into()),
            Ok(EvictOutcome::Refused { code, message }) => answer("refused", format!("{code}: {message}")),
            Ok(EvictOutcome::NamespaceTerminating) => {
                answer("refused", "the namespace is terminating: its pods are being deleted".into())
            }
            Ok(EvictOutcome::Transient { message, .. }) => answer("error", message),
            Err(e) => answer("error", e.to_string()),
        }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await;
    let refused: Vec<PreflightAnswer> = answers.into_iter().flatten().collect();
    Preflight { checked: pods.len(), allowed: pods.len() - refused.len(), refused }
}

async fn dry_run(cluster: &dyn Cluster, pod: &PodRef) -> Result<EvictOutcome, crate::ports::ClusterError> {
    let mut attempt = 0;
    loop {
        let outcome = cluster.evict(pod, true).await;
        let wait = match &outcome {
            Ok(EvictOutcome::Throttled { retry_after } | EvictOutcome::Transient { retry_after, .. }) => {
                retry_after.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(5))
            }
            _ => return outcome,
        };
        attempt += 1;
        if attempt > RETRIES {
            return outcome;
        }
        tokio::time::sleep(wait).await;
    }
}
