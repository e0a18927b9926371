//! Faults that are answers to wait on: the failed call is made again (the same pod, the same pool) and the
//! run ends Done as if nothing had happened.

use std::time::Duration;

use poolshift::engine::Outcome;
use poolshift::model::checkpoint::RunStatus;
use poolshift::ports::EvictOutcome;
use poolshift::ports::fake::{Calls, Fault, Script, Timing};
use poolshift_provider_api::ErrorKind;

use super::ports::{Ports, cluster};

struct Row {
    name: &'static str,
    op: &'static str,
    calls: Calls,
    timing: Timing,
    fault: fn() -> Fault,
    /// The retry comes no sooner than this after the failed call (the server's Retry-After).
    waits: Duration,
    /// Whether the retry has the same argument (a checkpoint save retries with the next seq).
    same_arg: bool,
}

const fn row(name: &'static str, op: &'static str, calls: Calls, fault: fn() -> Fault) -> Row {
    Row { name, op, calls, timing: Timing::Instead, fault, waits: Duration::ZERO, same_arg: true }
}

fn transient() -> Fault {
    Fault::provider(ErrorKind::Transient, "the provider API is throttling (scripted)")
}

const ROWS: &[Row] = &[
    row("evict 3 answers 503", "evict", Calls::Nth(3), || Fault::evict_unavailable(None)),
    Row {
        waits: Duration::from_secs(7),
        ..row("evict 3 answers 503 with Retry-After 7s", "evict", Calls::Nth(3), || {
            Fault::evict_unavailable(Some(Duration::from_secs(7)))
        })
    },
    Row {
        waits: Duration::from_secs(9),
        ..row("evict 3 answers 429 with Retry-After 9s", "evict", Calls::Nth(3), || {
            Fault::evict_throttled(Some(Duration::from_secs(9)))
        })
    },
    row("evicts 2 to 6 answer 429", "evict", Calls::Range(2, 6), || Fault::evict_throttled(None)),
    row("evict 3 loses its connection", "evict", Calls::Nth(3), || Fault::transport("connection reset by peer")),
    row("evict 3 answers 500", "evict", Calls::Nth(3), || Fault::api(500, "InternalError")),
    row("evict 3 answers 429 DisruptionBudget", "evict", Calls::Nth(3), || {
        Fault::evict(EvictOutcome::Budget {
            message: "Cannot evict pod as it would violate the pod's disruption budget (scripted)".into(),
            retry_after: None,
        })
    }),
    Row {
        timing: Timing::After,
        ..row("evict 3 is done but its answer is lost", "evict", Calls::Nth(3), || Fault::transport("timeout"))
    },
    row("create_pool 1 is throttled", "create_pool", Calls::Nth(1), transient),
    row("create_pools 1 to 3 are throttled", "create_pool", Calls::Range(1, 3), transient),
    Row {
        timing: Timing::After,
        ..row("create_pool 1 is done but its answer is lost", "create_pool", Calls::Nth(1), transient)
    },
    row("pool_status 2 is throttled", "pool_status", Calls::Nth(2), transient),
    row("freeze_autoscaling 1 is throttled", "freeze_autoscaling", Calls::Nth(1), transient),
    row("describe_pool 1 answers 503", "describe_pool", Calls::Nth(1), || Fault::api(503, "ServiceUnavailable")),
    row("delete_pool 1 is throttled", "delete_pool", Calls::Nth(1), transient),
    Row {
        timing: Timing::After,
        ..row("delete_pool 1 is done but its answer is lost", "delete_pool", Calls::Nth(1), transient)
    },
    Row { same_arg: false, ..row("save 4 conflicts", "save", Calls::Nth(4), || Fault::Conflict) },
    Row { same_arg: false, ..row("saves 3 to 5 conflict", "save", Calls::Range(3, 5), || Fault::Conflict) },
];

/// Every failed call of `row` was made again later (the same object unless the row says otherwise), no
/// sooner than the row's wait.
fn assert_retried(script: &Script, failed: &[poolshift::ports::fake::Call], row: &Row) {
    let calls = script.calls(row.op);
    for f in failed {
        let again = calls.iter().find(|c| c.seq > f.seq && (!row.same_arg || c.arg == f.arg) && c.fault.is_none());
        let Some(again) = again else {
            panic!("{}: call {} of {} ({}) was never made again: {calls:?}", row.name, f.n, row.op, f.arg)
        };
        assert!(
            again.at.duration_since(f.at) >= row.waits,
            "{}: retried {:?} after the failure, sooner than {:?}",
            row.name,
            again.at.duration_since(f.at),
            row.waits
        );
    }
}

#[tokio::test(start_paused = true)]
async fn faults_answered_by_retrying_end_done() {
    for row in ROWS {
        let r = cluster();
        let ports = Ports::new(&r);
        ports.script.fail(row.op, row.calls, row.timing, (row.fault)());
        let plan = r.plan(&super::super::harness::policy()).await;
        let out = ports.engine(&r, "agent").start(plan).await;
        assert!(matches!(out, Ok(Outcome::Done(_))), "{}: {out:?}", row.name);
        let failed = ports.fired(row.name);
        assert!(failed.iter().all(|c| c.op == row.op), "{}: {failed:?}", row.name);
        assert_retried(&ports.script, &failed, row);
        assert_eq!(ports.checkpoint().await.status, RunStatus::Done, "{}", row.name);
        ports.assert_invariants(&r, row.name);
    }
}
