//! Retries of provider calls: transient failures (throttling, a server error) are retried with jittered,
//! capped exponential backoff through backon, sleeping on the run's clock (so virtual-time tests and the
//! accelerated demo wait in their own time); any other failure, and the last transient one, is returned.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::future::BoxFuture;
use poolshift_provider_api::ProviderError;

use crate::ports::Clock;

/// Transient failures are retried this many times before the error is returned (and the run stops).
const RETRIES: usize = 8;

/// 1 s doubling to 32 s, jittered, [`RETRIES`] times: about two to four minutes in all.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(32))
        .with_max_times(RETRIES)
        .with_jitter()
}

/// Runs `call` until it succeeds, fails with an error that is not retryable, or the retries are spent.
///
/// Boxed as a `Send` future here, where its lifetimes are concrete: left to inference, the retry future
/// inside the engine's futures cannot be proven `Send` for every lifetime, which `tokio::spawn` needs.
pub(crate) fn provider<'a, T, F, Fut>(clock: Arc<dyn Clock>, call: F) -> BoxFuture<'a, Result<T, ProviderError>>
where
    F: FnMut() -> Fut + Send + 'a,
    Fut: Future<Output = Result<T, ProviderError>> + Send + 'a,
    T: Send + 'a,
{
    Box::pin(
        call.retry(backoff())
            .sleep(move |d| {
                let clock = clock.clone();
                async move { clock.sleep(d).await }
            })
            .when(|e: &ProviderError| e.kind.is_retryable())
            .notify(|e, d| tracing::warn!(error = %e, "provider call failed, retrying in {d:?}")),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use poolshift_provider_api::ErrorKind;

    use super::*;
    use crate::time::SteppingClock;

    fn failing(kind: ErrorKind) -> ProviderError {
        ProviderError::new("test", "describe", kind, "no")
    }

    /// The waits of one call that fails transiently five times, then succeeds.
    async fn waits() -> Vec<Duration> {
        let clock = Arc::new(SteppingClock::default());
        let calls = AtomicUsize::new(0);
        let result = provider(clock.clone(), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 5 { Err(failing(ErrorKind::Transient)) } else { Ok(n) } }
        })
        .await;
        assert_eq!(result.unwrap(), 5);
        clock.slept()
    }

    #[tokio::test]
    async fn transient_errors_are_retried_with_jittered_backoff_on_the_runs_clock() {
        let first = waits().await;
        assert_eq!(first.len(), 5, "one wait per retry, on the run's clock: {first:?}");
        // Exponential from 1 s, each wait lengthened by a random part of its base delay.
        for (i, d) in first.iter().enumerate() {
            let base = Duration::from_secs(1 << i);
            assert!(*d >= base && *d < base * 2, "wait {i}: {d:?}");
        }
        // Jittered: two agents failing alike do not retry in lockstep.
        let second = waits().await;
        assert_ne!(first, second, "the same waits twice: no jitter");
    }

    #[tokio::test]
    async fn other_errors_are_not_retried_and_retries_end() {
        let clock = Arc::new(SteppingClock::default());
        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = provider(clock.clone(), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(failing(ErrorKind::Quota)) }
        })
        .await;
        assert_eq!(result.unwrap_err().kind, ErrorKind::Quota);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(clock.slept().is_empty());

        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = provider(clock.clone(), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(failing(ErrorKind::Transient)) }
        })
        .await;
        assert_eq!(result.unwrap_err().kind, ErrorKind::Transient);
        assert_eq!(calls.load(Ordering::SeqCst), RETRIES + 1);
    }
}
