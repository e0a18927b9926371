//! [`Webhooks`]: posts the notifications each configured webhook subscribed to, from a background task so
//! that a slow or failing receiver never holds the run. Each post is retried with jittered exponential
//! backoff (honouring a 429's Retry-After) a few times, then given up with a warning in the log.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::background::Background;
use super::message::{Origin, Topic, body, describe};
use crate::ports::Clock;
use crate::ports::report::{Event, Reporter};
use crate::ports::webhook::{WebhookError, WebhookPoster};

/// Tries per notification: the first post and this many retries.
const RETRIES: usize = 4;

/// A webhook and what it is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub url: String,
    pub topics: BTreeSet<Topic>,
}

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(30))
        .with_max_times(RETRIES)
        .with_jitter()
}

pub struct Webhooks {
    origin: Origin,
    subscriptions: Vec<Subscription>,
    /// (URL, body) posts, delivered in order.
    poster: Background<(String, serde_json::Value)>,
}

/// Posts `body` to `url`, retrying transient failures on `clock`. Boxed as a `Send` future where its
/// lifetimes are concrete, for `tokio::spawn` (as `engine::retry` does).
fn deliver<'a>(
    poster: &'a dyn WebhookPoster,
    clock: &Arc<dyn Clock>,
    url: &'a str,
    body: &'a serde_json::Value,
) -> BoxFuture<'a, Result<(), WebhookError>> {
    let sleeper = clock.clone();
    Box::pin(
        (move || poster.post(url, body))
            .retry(backoff())
            .sleep(move |d| {
                let clock = sleeper.clone();
                async move { clock.sleep(d).await }
            })
            .when(|e| matches!(e, WebhookError::Transient { .. }))
            // A receiver that says when to come back is believed (within reason).
            .adjust(|e, d| match e {
                WebhookError::Transient { retry_after: Some(after), .. } => {
                    Some((*after).min(Duration::from_secs(300)))
                }
                _ => d,
            })
            .notify(|e, d| tracing::warn!(error = %e, "webhook post failed, retrying in {d:?}")),
    )
}

impl Webhooks {
    pub fn start(
        origin: Origin,
        subscriptions: Vec<Subscription>,
        poster: Arc<dyn WebhookPoster>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let worker = Background::start(|mut rx: mpsc::UnboundedReceiver<(String, serde_json::Value)>| async move {
            while let Some((url, body)) = rx.recv().await {
                if let Err(e) = deliver(poster.as_ref(), &clock, &url, &body).await {
                    tracing::warn!(error = %e, url = %redact(&url), "webhook notification given up");
                }
            }
        });
        Arc::new(Self { origin, subscriptions, poster: worker })
    }

    /// Stops taking events and waits (at most `limit`) for the queued notifications to be delivered.
    pub async fn flush(&self, limit: Duration) {
        self.poster.flush(limit).await;
    }
}

/// A webhook URL for the log: scheme and host only (the path of a Slack webhook is its secret).
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}/...", rest.split('/').next().unwrap_or("")),
        None => "(not a URL)".into(),
    }
}

impl Reporter for Webhooks {
    fn event(&self, e: &Event) {
        let Some((topic, text)) = describe(e) else { return };
        let body = body(&self.origin, topic, &text);
        for s in self.subscriptions.iter().filter(|s| s.topics.contains(&topic)) {
            self.poster.send((s.url.clone(), body.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use std::sync::Mutex;

    use super::*;
    use crate::ports::report::RunEnd;
    use crate::time::SteppingClock;

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fails the first `fail` posts with `error`, then records the bodies.
    struct Receiver {
        fail: usize,
        error: WebhookError,
        calls: AtomicUsize,
        got: Mutex<Vec<(String, serde_json::Value)>>,
    }

    #[async_trait]
    impl WebhookPoster for Receiver {
        async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), WebhookError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail {
                return Err(self.error.clone());
            }
            lock(&self.got).push((url.to_string(), body.clone()));
            Ok(())
        }
    }

    fn receiver(fail: usize, error: WebhookError) -> Arc<Receiver> {
        Arc::new(Receiver { fail, error, calls: AtomicUsize::new(0), got: Mutex::new(Vec::new()) })
    }

    fn origin() -> Origin {
        Origin { cluster: "prod-eu".into(), pool: "workers".into() }
    }

    #[tokio::test]
    async fn each_webhook_gets_its_topics_after_transient_failures() {
        let r =
            receiver(2, WebhookError::Transient { message: "503".into(), retry_after: Some(Duration::from_secs(7)) });
        let clock = Arc::new(SteppingClock::default());
        let subs = vec![
            Subscription { url: "https://hooks.example/all".into(), topics: Topic::ALL.into_iter().collect() },
            Subscription {
                url: "https://hooks.example/ends".into(),
                topics: [Topic::Done, Topic::Failed].into_iter().collect(),
            },
        ];
        let hooks = Webhooks::start(origin(), subs, r.clone(), clock.clone());
        hooks.event(&Event::RunStarted {
            run_id: "r1".into(),
            from: "1.30.8".into(),
            to: "1.31.4".into(),
            resumed: false,
        });
        hooks.event(&Event::PodMoved { pod: "shop/web-1".into() });
        hooks.event(&Event::RunEnded { run_id: "r1".into(), end: RunEnd::Done });
        hooks.flush(Duration::from_secs(10)).await;
        let got = lock(&r.got).clone();
        let urls: Vec<&str> = got.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(urls, ["https://hooks.example/all", "https://hooks.example/all", "https://hooks.example/ends"]);
        assert_eq!(got[0].1["text"], "poolshift prod-eu/workers: run r1 started: 1.30.8 -> 1.31.4");
        assert_eq!(got[2].1["poolshift"]["event"], "done");
        assert_eq!(clock.slept(), vec![Duration::from_secs(7); 2], "Retry-After is honoured");
    }

    #[tokio::test]
    async fn a_rejected_post_is_not_retried_and_never_reaches_the_run() {
        let r = receiver(usize::MAX, WebhookError::Rejected { message: "404".into() });
        let clock = Arc::new(SteppingClock::default());
        let subs =
            vec![Subscription { url: "https://hooks.example/x".into(), topics: [Topic::Paused].into_iter().collect() }];
        let hooks = Webhooks::start(origin(), subs, r.clone(), clock.clone());
        hooks.event(&Event::Paused { reason: "window closed".into() });
        hooks.flush(Duration::from_secs(10)).await;
        assert_eq!(r.calls.load(Ordering::SeqCst), 1);
        assert!(clock.slept().is_empty());
        assert_eq!(redact("https://hooks.slack.com/services/T0/B0/secret"), "https://hooks.slack.com/...");
    }

    #[tokio::test]
    async fn a_block_is_told_by_its_own_event_not_by_the_runs_end() {
        let r = receiver(0, WebhookError::Rejected { message: "unused".into() });
        let clock = Arc::new(SteppingClock::default());
        let subs = vec![Subscription {
            url: "https://hooks.example/b".into(),
            topics: [Topic::Blocked, Topic::GateFailed].into_iter().collect(),
        }];
        let hooks = Webhooks::start(origin(), subs, r.clone(), clock);
        hooks.event(&Event::RunBlocked { reason: "green pool x: 2 of 3 nodes Ready".into() });
        hooks.event(&Event::RunEnded { run_id: "r1".into(), end: RunEnd::Blocked("green pool x".into()) });
        hooks.event(&Event::GateFailed {
            at: crate::model::stop::StopPoint::GreenReady,
            gate: "gate smoke".into(),
            reason: "gate smoke failed after green is Ready: smoke.sh exited with status 1".into(),
            output: String::new(),
        });
        hooks.event(&Event::RunEnded { run_id: "r1".into(), end: RunEnd::Blocked("gate smoke failed".into()) });
        hooks.flush(Duration::from_secs(10)).await;
        let got: Vec<(String, String)> = lock(&r.got)
            .iter()
            .map(|(_, b)| {
                (b["poolshift"]["event"].to_string(), b["poolshift"]["message"].as_str().unwrap_or("").to_string())
            })
            .collect();
        assert_eq!(
            got,
            [
                ("\"blocked\"".to_string(), "blocked: green pool x: 2 of 3 nodes Ready".to_string()),
                (
                    "\"gate_failed\"".to_string(),
                    "blocked: gate smoke failed after green is Ready: smoke.sh exited with status 1".to_string()
                )
            ]
        );
    }
}
