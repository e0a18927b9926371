//! Green's creation: the idempotency token the engine sends (one per run and attempt, the same for a retry of
//! an attempt), and green's autoscaling at the end of a run (blue's, not off).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use poolshift::engine::Outcome;
use poolshift::ports::report::Event;
use poolshift::session::{Session, StateLocation};
use poolshift_provider_api::{
    AutoscalingSettings, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSpec, PoolStatus,
    Provider, ProviderError,
};
use poolshift_provider_sim::SimProvider;

use super::harness::{Rig, policy, rig, scenario};

fn cluster() -> String {
    scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 8, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}, ready_delay: 4s}",
        "",
    )
}

/// The sim provider, recording the token of every create it is asked for and failing the next creates with
/// the queued error kinds.
struct Recording {
    inner: SimProvider,
    tokens: Mutex<Vec<String>>,
    fail_creates: Mutex<Vec<ErrorKind>>,
}

impl Recording {
    fn new(r: &Rig) -> Arc<Self> {
        Arc::new(Self {
            inner: SimProvider::new(r.client.clone()),
            tokens: Mutex::new(Vec::new()),
            fail_creates: Mutex::new(Vec::new()),
        })
    }

    fn fail_next_creates(&self, kinds: &[ErrorKind]) {
        self.fail_creates.lock().unwrap().extend_from_slice(kinds);
    }

    fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}

#[async_trait]
impl Provider for Recording {
    fn kind(&self) -> &str {
        self.inner.kind()
    }
    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        self.inner.describe_pool(pool).await
    }
    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        self.inner.versions().await
    }
    async fn create_pool(&self, spec: &PoolSpec, token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        self.tokens.lock().unwrap().push(token.to_string());
        let fail = {
            let mut queue = self.fail_creates.lock().unwrap();
            (!queue.is_empty()).then(|| queue.remove(0))
        };
        if let Some(kind) = fail {
            return Err(ProviderError::new("sim", "create", kind, "injected by the test"));
        }
        self.inner.create_pool(spec, token).await
    }
    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        self.inner.pool_status(pool).await
    }
    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        self.inner.delete_pool(pool).await
    }
    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        self.inner.freeze_autoscaling(pool).await
    }
    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        self.inner.restore_autoscaling(pool, prior).await
    }
    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        self.inner.node_matcher(pool)
    }
}

fn session(r: &Rig, provider: &Arc<Recording>, holder: &str) -> Session {
    let mut s = Session::new(
        r.client.clone(),
        provider.clone(),
        "test",
        "blue",
        StateLocation::ConfigMap,
        r.clock.clone(),
        r.reporter.clone(),
        holder,
    );
    s.engine.tick = Duration::from_secs(2);
    s
}

/// A retry of a create (its answer was a transient error) sends the same token; a new run after a rollback
/// deleted that green pool sends another one, so the provider cannot answer it with the deleted pool.
#[tokio::test(start_paused = true)]
async fn green_creation_tokens_are_per_run_and_attempt() {
    let r = rig(&cluster());
    let provider = Recording::new(&r);
    provider.fail_next_creates(&[ErrorKind::Transient]);
    let plan = r.plan(&policy()).await;
    let engine = session(&r, &provider, "agent-1").engine.clone();
    let run = tokio::spawn(async move { engine.start(plan).await });
    r.wait_for_event(|e| matches!(e, Event::GreenCreated { .. })).await;
    session(&r, &provider, "operator").engine.request_pause().await.unwrap();
    assert!(matches!(run.await.unwrap().unwrap(), Outcome::Paused(_)));
    let first = provider.tokens();
    assert_eq!(first.len(), 2, "a failed create and its retry: {first:?}");
    assert_eq!(first[0], first[1], "a retry of the attempt sends its token");
    assert!(first[0].ends_with("/1"), "{first:?}");

    assert_eq!(session(&r, &provider, "operator").engine.rollback().await.unwrap(), Outcome::RolledBack);
    assert_eq!(r.pools(), vec!["blue".to_string()], "green deleted");

    // Some time later, a new run creates green again.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let plan = r.plan(&policy()).await;
    let out = session(&r, &provider, "agent-2").engine.start(plan).await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let tokens = provider.tokens();
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    assert_ne!(tokens[2], first[0], "the new run's create does not reuse the deleted pool's token");
    r.assert_safe_evicting_from(&["blue", "blue-v1-31-4"]);
}

/// A create that failed (the run blocked) and is tried again after `resume` is a new attempt: a new token.
#[tokio::test(start_paused = true)]
async fn a_create_tried_again_after_a_failed_one_sends_a_new_token() {
    let r = rig(&cluster());
    let provider = Recording::new(&r);
    provider.fail_next_creates(&[ErrorKind::Quota]);
    let plan = r.plan(&policy()).await;
    let out = session(&r, &provider, "agent-1").engine.start(plan).await.unwrap();
    assert!(matches!(out, Outcome::Blocked { .. }), "{out:?}");
    let out = session(&r, &provider, "agent-1").engine.resume().await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let tokens = provider.tokens();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    let (run, attempt) = tokens[0].rsplit_once('/').unwrap();
    assert_eq!(attempt, "1");
    assert_eq!(tokens[1], format!("{run}/2"), "the same run, its second attempt");
    let st = r.session("reader").engine.store.load().await.unwrap().unwrap();
    assert_eq!(st.checkpoint.green.attempt, 2);
}

/// Blue scales (4..20): at the end of the run green, which replaced it, scales within the same bounds.
#[tokio::test(start_paused = true)]
async fn green_ends_the_run_with_blues_autoscaling() {
    let r = rig(&cluster());
    let sim = SimProvider::new(r.client.clone());
    let blue = sim.describe_pool("blue").await.unwrap().autoscaling;
    assert!(blue.enabled);
    let out = r.upgrade(&policy()).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert_eq!(r.pools(), vec!["blue-v1-31-4".to_string()]);
    let green = sim.describe_pool("blue-v1-31-4").await.unwrap().autoscaling;
    assert!(green.enabled, "green's autoscaling is on: {green:?}");
    assert_eq!((green.size.min, green.size.max), (blue.size.min, blue.size.max), "with blue's bounds");
    r.assert_safe();
}
