//! The preflight of `plan`: every eviction the plan contains (and every blocked pod) sent to the API server
//! as a server-side dry run (`dryRun=All`), a bounded number at a time, so that the report shows what the
//! server answers now. A dry run changes nothing and consumes no budget; never a real eviction here.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;

use crate::model::plan::{Disposition, UpgradePlan};
use crate::model::review::{Preflight, PreflightAnswer};
use crate::ports::{Clock, Cluster, ClusterError, EvictOutcome, PodRef};

/// Dry-run evictions in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// A throttled or failed dry run is tried again this many times.
const RETRIES: usize = 3;
/// The longest wait between two tries, a server's Retry-After included: the preflight only reports.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Checks the plan's evictions against `cluster`, `concurrency` at a time; retries wait on `clock`.
pub async fn check(cluster: &dyn Cluster, clock: Arc<dyn Clock>, plan: &UpgradePlan, concurrency: usize) -> Preflight {
    let pods: Vec<_> =
        plan.pods().filter(|p| matches!(p.disposition, Disposition::Evict | Disposition::Blocked(_))).collect();
    let clock = &clock;
    let answers: Vec<Option<PreflightAnswer>> = futures::stream::iter(pods.iter().map(|p| async move {
        let pod = PodRef { namespace: p.namespace.clone(), name: p.name.clone(), uid: p.uid.clone() };
        let outcome = dry_run(cluster, clock.clone(), &pod).await;
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

/// One dry-run eviction; throttling and transient server errors are tried again with jittered backoff
/// (honouring the server's Retry-After, up to [`MAX_WAIT`]). After the last try its answer is the result.
async fn dry_run(cluster: &dyn Cluster, clock: Arc<dyn Clock>, pod: &PodRef) -> Result<EvictOutcome, ClusterError> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(MAX_WAIT)
        .with_max_times(RETRIES)
        .with_jitter();
    // A retryable answer travels as the error, so that backon retries it.
    let attempt = || async {
        match cluster.evict(pod, true).await {
            Ok(o @ (EvictOutcome::Throttled { .. } | EvictOutcome::Transient { .. })) => Err(o),
            other => Ok(other),
        }
    };
    let result = attempt
        .retry(backoff)
        .sleep(move |d| {
            let clock = clock.clone();
            async move { clock.sleep(d).await }
        })
        .adjust(|o, d| d.map(|d| retry_after(o).map_or(d, |r| r.min(MAX_WAIT))))
        .await;
    result.unwrap_or_else(Ok)
}

fn retry_after(o: &EvictOutcome) -> Option<Duration> {
    match o {
        EvictOutcome::Throttled { retry_after } | EvictOutcome::Transient { retry_after, .. } => *retry_after,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::model::snapshot::Snapshot;
    use crate::ports::LiveView;
    use crate::time::SteppingClock;

    /// Answers dry-run evictions from a script, then `Evicted`.
    struct Scripted(Mutex<Vec<EvictOutcome>>);

    fn unused<T>(operation: &str) -> Result<T, ClusterError> {
        Err(ClusterError::Transport { operation: operation.into(), object: String::new(), message: "unused".into() })
    }

    #[async_trait]
    impl Cluster for Scripted {
        async fn snapshot(&self) -> Result<Snapshot, ClusterError> {
            unused("snapshot")
        }
        async fn set_cordon(&self, _: &str, _: bool, _: &str) -> Result<(), ClusterError> {
            unused("cordon")
        }
        async fn evict(&self, _: &PodRef, dry_run: bool) -> Result<EvictOutcome, ClusterError> {
            assert!(dry_run, "the preflight never evicts for real");
            let mut script = self.0.lock().unwrap();
            Ok(if script.is_empty() { EvictOutcome::Evicted } else { script.remove(0) })
        }
        async fn delete_pod(&self, _: &PodRef) -> Result<(), ClusterError> {
            unused("delete")
        }
        async fn live(&self) -> Result<Arc<dyn LiveView>, ClusterError> {
            unused("live")
        }
        async fn annotate_node(&self, _: &str, _: &str, _: Option<&str>) -> Result<(), ClusterError> {
            unused("annotate")
        }
        async fn record_event(&self, _: &crate::ports::cluster::EventRecord) -> Result<(), ClusterError> {
            unused("event")
        }
    }

    fn pod() -> PodRef {
        PodRef { namespace: "shop".into(), name: "web-1".into(), uid: "u1".into() }
    }

    #[tokio::test]
    async fn throttled_dry_runs_wait_on_the_clock_with_jitter_and_honour_retry_after() {
        let cluster = Scripted(Mutex::new(vec![
            EvictOutcome::Throttled { retry_after: None },
            EvictOutcome::Transient { message: "etcd".into(), retry_after: Some(Duration::from_secs(2)) },
            EvictOutcome::Throttled { retry_after: Some(Duration::from_secs(60)) },
        ]));
        let clock = Arc::new(SteppingClock::default());
        let outcome = dry_run(&cluster, clock.clone(), &pod()).await.unwrap();
        assert_eq!(outcome, EvictOutcome::Evicted);
        let slept = clock.slept();
        assert_eq!(slept.len(), 3, "{slept:?}");
        assert!(slept[0] >= Duration::from_millis(500) && slept[0] <= Duration::from_secs(1), "jittered: {slept:?}");
        assert_eq!(slept[1], Duration::from_secs(2), "the server's Retry-After");
        assert_eq!(slept[2], MAX_WAIT, "a long Retry-After is capped: the preflight only reports");
    }

    #[tokio::test]
    async fn the_last_answer_is_reported_when_the_server_keeps_throttling() {
        let cluster = Scripted(Mutex::new(vec![EvictOutcome::Throttled { retry_after: None }; RETRIES + 1]));
        let clock = Arc::new(SteppingClock::default());
        let outcome = dry_run(&cluster, clock.clone(), &pod()).await.unwrap();
        assert_eq!(outcome, EvictOutcome::Throttled { retry_after: None });
        assert_eq!(clock.slept().len(), RETRIES);
    }
}
