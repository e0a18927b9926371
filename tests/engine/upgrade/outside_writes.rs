//! Writes by processes that do not run the pool (`pause`, `rollback`, `abort`) while the agent writes its
//! progress: the request lands, and the agent's progress is never replaced by the older copy they read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use poolshift::engine::{Engine, Outcome};
use poolshift::kube::KubeCluster;
use poolshift::model::checkpoint::{Checkpoint, Phase, RunStatus};
use poolshift::ports::fake::{MemoryLock, MemoryStore};
use poolshift::ports::{CheckpointStore, Lock, StoreError, Stored};
use poolshift_provider_sim::SimProvider;

use super::harness::{policy, rig, scenario};

/// A store in which the running agent writes its next step between this process's read and its write,
/// once: the first save finds a newer checkpoint (Draining batch 2, 42 pods moved).
struct AgentWritesFirst {
    inner: MemoryStore,
    raced: AtomicBool,
}

#[async_trait]
impl CheckpointStore for AgentWritesFirst {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn load(&self) -> Result<Option<Stored>, StoreError> {
        self.inner.load().await
    }
    async fn save(&self, cp: &Checkpoint, expected: Option<&str>) -> Result<String, StoreError> {
        if !self.raced.swap(true, Ordering::SeqCst)
            && let Some(mut agent) = self.inner.load().await?
        {
            agent.checkpoint.seq += 1;
            agent.checkpoint.phase = Phase::Draining { batch: 1, of: 2 };
            agent.checkpoint.moved = 42;
            self.inner.save(&agent.checkpoint, Some(&agent.version)).await?;
        }
        self.inner.save(cp, expected).await
    }
    async fn delete(&self) -> Result<(), StoreError> {
        self.inner.delete().await
    }
}

#[tokio::test(start_paused = true)]
async fn pause_and_abort_written_while_the_agent_writes_keep_its_progress() {
    let r = rig(&scenario(2, "  - {kind: Deployment, name: web, namespace: shop, replicas: 2}", ""));
    let plan = r.plan(&policy()).await;
    for action in ["pause", "rollback", "abort"] {
        let inner = MemoryStore::new();
        let mut cp = Checkpoint::new("run-1", plan.clone(), "2026-12-01T10:00:00Z");
        cp.phase = Phase::Draining { batch: 0, of: 2 };
        cp.seq = 7;
        inner.save(&cp, None).await.expect("the first checkpoint");
        let store = Arc::new(AgentWritesFirst { inner, raced: AtomicBool::new(false) });
        // The agent runs the pool: it holds the lease.
        let lock = Arc::new(MemoryLock::new("blue", r.clock.clone()));
        lock.acquire("agent").await.expect("the agent holds the lease");
        let engine = Engine::new(
            Arc::new(KubeCluster::new(r.client.clone())),
            Arc::new(SimProvider::new(r.client.clone())),
            store.clone(),
            lock.clone(),
            r.clock.clone(),
            r.reporter.clone(),
            "ops/1",
        );
        match action {
            "pause" => engine.request_pause().await.expect("the pause request is written"),
            "rollback" => {
                let out = engine.rollback().await.expect("the rollback request is written");
                assert!(matches!(out, Outcome::Paused(_)), "{out:?}");
            }
            _ => {
                engine.abort().await.expect("the abort is written");
            }
        }
        let st = store.load().await.expect("reads").expect("a checkpoint").checkpoint;
        assert_eq!(st.phase, Phase::Draining { batch: 1, of: 2 }, "{action}: the agent's phase stands");
        assert_eq!(st.moved, 42, "{action}: the agent's count stands");
        assert_eq!(st.seq, 9, "{action}: written after the agent's seq 8");
        match action {
            "pause" => assert!(st.requests.pause.as_ref().is_some_and(|r| r.by == "ops/1"), "{st:?}"),
            "rollback" => assert!(st.requests.rollback.is_some(), "{:?}", st.requests),
            _ => assert_eq!(st.status, RunStatus::Aborted),
        }
    }
}
