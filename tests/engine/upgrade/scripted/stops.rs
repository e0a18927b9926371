//! Faults that stop the run: the engine returns the error, the run is left recorded (failed, or running for
//! the next holder when the lease was lost) and resumable, and a new agent on the same store finishes it
//! without a second green pool.

use poolshift::engine::{EngineError, Outcome};
use poolshift::model::checkpoint::RunStatus;
use poolshift::ports::fake::{Calls, Fault};
use poolshift::ports::{ClusterError, Lock, LockError, StoreError};
use poolshift_provider_api::ErrorKind;

use super::ports::{Inject, upgrade_with};

struct Row {
    name: &'static str,
    inject: Inject,
    /// The error the run stops with.
    error: fn(&EngineError) -> bool,
    /// Recorded as failed (a lost lease leaves the checkpoint to whoever holds the lease now).
    recorded_failed: bool,
}

const fn row(name: &'static str, inject: Inject, error: fn(&EngineError) -> bool) -> Row {
    Row { name, inject, error, recorded_failed: true }
}

fn store_io(e: &EngineError) -> bool {
    matches!(e, EngineError::Store(StoreError::Io { .. }))
}

fn cluster_api(e: &EngineError) -> bool {
    matches!(e, EngineError::Cluster(ClusterError::Api { code: 500, .. }))
}

fn etcd_timeout() -> Fault {
    Fault::api(500, "etcdserver: request timed out")
}

fn internal() -> Fault {
    Fault::api(500, "InternalError")
}

const ROWS: &[Row] = &[
    row("save 2 fails (entering CreatingGreen)", Inject::nth("save", 2, etcd_timeout), store_io),
    row("save 4 fails", Inject::nth("save", 4, etcd_timeout), store_io),
    row("save 7 fails", Inject::nth("save", 7, etcd_timeout), store_io),
    row("save 10 fails", Inject::nth("save", 10, etcd_timeout), store_io),
    row("save 14 fails", Inject::nth("save", 14, etcd_timeout), store_io),
    row("save 6 is written but its answer is lost", Inject::nth("save", 6, etcd_timeout).after(), store_io),
    row("version 5 fails (polling requests)", Inject::nth("version", 5, etcd_timeout), store_io),
    row("set_cordon 2 answers 500", Inject::nth("set_cordon", 2, internal), cluster_api),
    row("live 2 answers 500", Inject::nth("live", 2, internal), cluster_api),
    row(
        "freeze_autoscaling fails for good",
        Inject::on("freeze_autoscaling", Calls::From(1), || {
            Fault::provider(ErrorKind::Failed, "the autoscaling API answered garbage")
        }),
        |e| matches!(e, EngineError::Provider(p) if p.kind == ErrorKind::Failed && p.message.contains("garbage")),
    ),
    row(
        "pool_status throttled past every retry",
        Inject::on("pool_status", Calls::From(1), || Fault::provider(ErrorKind::Transient, "throttled")),
        |e| matches!(e, EngineError::Provider(p) if p.kind == ErrorKind::Transient),
    ),
    row("renew 6 answers 500", Inject::nth("renew", 6, internal), |e| {
        matches!(e, EngineError::Lock(LockError::Api { .. }))
    }),
    Row {
        recorded_failed: false,
        ..row(
            "renew 6: the lease was lost",
            Inject::nth("renew", 6, || Fault::lease_lost("it is now held by thief/9")),
            |e| matches!(e, EngineError::Lock(LockError::Lost { .. })),
        )
    },
];

#[tokio::test(start_paused = true)]
async fn faults_that_stop_the_run_leave_it_resumable() {
    for row in ROWS {
        let (r, ports, out) = upgrade_with(&row.inject).await;
        let err = out.expect_err(row.name);
        assert!((row.error)(&err), "{}: stopped with {err:?}", row.name);
        ports.fired(row.name);
        let cp = ports.checkpoint().await;
        if row.recorded_failed {
            let RunStatus::Failed(reason) = &cp.status else { panic!("{}: recorded {:?}", row.name, cp.status) };
            assert_eq!(reason, &err.to_string(), "{}", row.name);
        } else {
            assert_eq!(cp.status, RunStatus::Running, "{}: not this agent's to record any more", row.name);
        }
        assert_eq!(ports.lock.holder().await.expect("lease"), None, "{}: the lease is released", row.name);
        let stopped_at = cp.phase.clone();

        ports.script.heal();
        let out = ports.engine(&r, "rescuer").resume().await;
        assert!(matches!(out, Ok(Outcome::Done(_))), "{} (stopped at {stopped_at}): {out:?}", row.name);
        assert_eq!(ports.checkpoint().await.status, RunStatus::Done, "{}", row.name);
        let created = ports.script.calls("create_pool").iter().filter(|c| c.fault.is_none()).count();
        assert_eq!(created, 1, "{}: green pool creations (the resumed run adopts the pool)", row.name);
        ports.assert_invariants(&r, row.name);
    }
}
