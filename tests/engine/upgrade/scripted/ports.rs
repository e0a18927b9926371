//! The scripted ports of one test: a shared script, the in-memory checkpoint store and lease, and engines
//! (agents) wired to the simulator through the scripted cluster and provider.

use std::sync::Arc;
use std::time::Duration;

use poolshift::engine::{Engine, EngineError, Outcome};
use poolshift::kube::KubeCluster;
use poolshift::ports::CheckpointStore;
use poolshift::ports::fake::{
    Call, Calls, Fault, MemoryLock, MemoryStore, Script, ScriptedCluster, ScriptedProvider, Timing,
};
use poolshift_provider_sim::SimProvider;

use super::super::harness::{Rig, policy, rig, scenario};

pub const GREEN: &str = "blue-v1-31-4";

/// Four blue nodes (two batches), a Deployment and a StatefulSet under PDBs.
pub fn cluster() -> Rig {
    rig(&scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 8, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}
  - {kind: StatefulSet, name: db, namespace: data, replicas: 3, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        "",
    ))
}

/// One scripted fault: calls `calls` of `op` answered with `fault`, instead of or after the real call.
#[derive(Clone, Copy)]
pub struct Inject {
    pub op: &'static str,
    pub calls: Calls,
    pub timing: Timing,
    pub fault: fn() -> Fault,
}

impl Inject {
    /// `calls` of `op` fail with `fault` instead of being made.
    pub const fn on(op: &'static str, calls: Calls, fault: fn() -> Fault) -> Self {
        Self { op, calls, timing: Timing::Instead, fault }
    }

    /// Call `n` of `op` fails with `fault` instead of being made.
    pub const fn nth(op: &'static str, n: u64, fault: fn() -> Fault) -> Self {
        Self::on(op, Calls::Nth(n), fault)
    }

    /// The call is made, then its answer is replaced by the fault (the answer was lost).
    pub const fn after(self) -> Self {
        Self { timing: Timing::After, ..self }
    }
}

/// A fresh cluster and ports with `inject` scripted, and the outcome of a first agent's upgrade of it.
pub async fn upgrade_with(inject: &Inject) -> (Rig, Ports, Result<Outcome, EngineError>) {
    let r = cluster();
    let ports = Ports::new(&r);
    ports.script.fail(inject.op, inject.calls, inject.timing, (inject.fault)());
    let plan = r.plan(&policy()).await;
    let out = ports.engine(&r, "agent").start(plan).await;
    (r, ports, out)
}

pub struct Ports {
    pub script: Arc<Script>,
    pub store: Arc<MemoryStore>,
    pub lock: Arc<MemoryLock>,
}

impl Ports {
    pub fn new(r: &Rig) -> Self {
        let script = Arc::new(Script::new());
        let store = Arc::new(MemoryStore::scripted(script.clone()));
        let lock = Arc::new(MemoryLock::scripted("blue", r.clock.clone(), script.clone()));
        Self { script, store, lock }
    }

    /// An agent (a process: its own cluster client cache) named `holder`.
    pub fn engine(&self, r: &Rig, holder: &str) -> Engine {
        let cluster = ScriptedCluster::new(Arc::new(KubeCluster::new(r.client.clone())), self.script.clone());
        let provider = ScriptedProvider::new(Arc::new(SimProvider::new(r.client.clone())), self.script.clone());
        let mut e = Engine::new(
            Arc::new(cluster),
            Arc::new(provider),
            self.store.clone(),
            self.lock.clone(),
            r.clock.clone(),
            r.reporter.clone(),
            holder,
        );
        e.tick = Duration::from_secs(2);
        e
    }

    pub async fn checkpoint(&self) -> poolshift::model::checkpoint::Checkpoint {
        self.store.load().await.expect("the store reads").expect("a checkpoint").checkpoint
    }

    /// The calls answered with a fault; fails the test when the fault never fired (the row tested nothing).
    pub fn fired(&self, row: &str) -> Vec<Call> {
        let failed = self.script.failed();
        assert!(!failed.is_empty(), "{row}: the scripted fault never fired: {:?}", self.script.journal());
        failed
    }

    /// What every row checks at the end: the simulator's invariants, checkpoint seqs strictly increasing
    /// across every agent's saves, and exactly the green pool left (one, and blue deleted).
    pub fn assert_invariants(&self, r: &Rig, row: &str) {
        r.assert_safe();
        let seqs = self.store.saved_seqs();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{row}: saved seqs went backwards: {seqs:?}");
        assert_eq!(r.pools(), vec![GREEN.to_string()], "{row}: one green pool, blue deleted");
        assert!(r.workload_pods_on("blue").is_empty(), "{row}");
    }
}
