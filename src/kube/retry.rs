//! Retries of Kubernetes API calls that failed transiently (429, 5xx, a dropped connection): jittered,
//! capped exponential backoff with backon, honouring the server's `retryAfterSeconds`. Conflicts, not-found
//! and validation errors are answers, never retried here.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Attempts after the first one.
const RETRIES: usize = 6;

pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn retry_after(e: &kube::Error) -> Option<Duration> {
    match e {
        kube::Error::Api(s) => s
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(u64::from(s))),
        _ => None,
    }
}

/// Runs `call` until it succeeds, fails with a non-transient error, or the retries are spent.
pub async fn transient<T, F, Fut>(what: &str, call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(RETRIES)
        .with_jitter();
    call.retry(policy)
        .when(is_transient)
        .adjust(|e, d| d.map(|d| retry_after(e).unwrap_or(d)))
        .notify(|e, d| tracing::warn!(error = %e, "{what} failed transiently; retrying in {d:?}"))
        .await
}
