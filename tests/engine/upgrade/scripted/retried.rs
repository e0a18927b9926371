//! Faults that are answers to wait on: the failed call is made again (the same pod, the same pool) and the
//! run ends Done as if nothing had happened.

use std::time::Duration;

use poolshift::engine::Outcome;
use poolshift::model::checkpoint::RunStatus;
use poolshift::ports::EvictOutcome;
use poolshift::ports::fake::{Call, Calls, Fault, Script};
use poolshift::ports::report::Event;
use poolshift_provider_api::ErrorKind;

use super::ports::{Inject, upgrade_with};

struct Row {
    name: &'static str,
    inject: Inject,
    /// The retry comes no sooner than this after the failed call (the server's Retry-After).
    waits: Duration,
    /// Whether the retry has the same argument (a checkpoint save retries with the next seq).
    same_arg: bool,
    /// An eviction whose answer was lost did evict: the pod goes, and nothing is retried.
    done_anyway: bool,
}

const fn row(name: &'static str, inject: Inject) -> Row {
    Row { name, inject, waits: Duration::ZERO, same_arg: true, done_anyway: false }
}

impl Row {
    const fn waits(self, secs: u64) -> Self {
        Row { waits: Duration::from_secs(secs), ..self }
    }

    const fn other_arg(self) -> Self {
        Row { same_arg: false, ..self }
    }

    const fn done_anyway(self) -> Self {
        Row { done_anyway: true, ..self }
    }
}

fn transient() -> Fault {
    Fault::provider(ErrorKind::Transient, "the provider API is throttling (scripted)")
}

fn reset() -> Fault {
    Fault::transport("connection reset by peer")
}

const ROWS: &[Row] = &[
    row("evict 3 answers 503", Inject::nth("evict", 3, || Fault::evict_unavailable(None))),
    row(
        "evict 3 answers 503 with Retry-After 7s",
        Inject::nth("evict", 3, || Fault::evict_unavailable(Some(Duration::from_secs(7)))),
    )
    .waits(7),
    row(
        "evict 3 answers 429 with Retry-After 9s",
        Inject::nth("evict", 3, || Fault::evict_throttled(Some(Duration::from_secs(9)))),
    )
    .waits(9),
    row("evicts 2 to 6 answer 429", Inject::on("evict", Calls::Range(2, 6), || Fault::evict_throttled(None))),
    row("evict 3 loses its connection", Inject::nth("evict", 3, reset)),
    row("evict 3 answers 500", Inject::nth("evict", 3, || Fault::api(500, "InternalError"))),
    row(
        "evict 3 answers 429 DisruptionBudget",
        Inject::nth("evict", 3, || {
            Fault::evict(EvictOutcome::Budget {
                message: "Cannot evict pod as it would violate the pod's disruption budget (scripted)".into(),
                retry_after: None,
            })
        }),
    ),
    row("evict 3 is done but its answer is lost", Inject::nth("evict", 3, reset).after()).done_anyway(),
    row("create_pool 1 is throttled", Inject::nth("create_pool", 1, transient)),
    row("create_pools 1 to 3 are throttled", Inject::on("create_pool", Calls::Range(1, 3), transient)),
    row("create_pool 1 is done but its answer is lost", Inject::nth("create_pool", 1, transient).after()),
    row("pool_status 2 is throttled", Inject::nth("pool_status", 2, transient)),
    row("freeze_autoscaling 1 is throttled", Inject::nth("freeze_autoscaling", 1, transient)),
    row("describe_pool 1 answers 503", Inject::nth("describe_pool", 1, || Fault::api(503, "ServiceUnavailable"))),
    row("delete_pool 1 is throttled", Inject::nth("delete_pool", 1, transient)),
    row("delete_pool 1 is done but its answer is lost", Inject::nth("delete_pool", 1, transient).after()),
    row("save 4 conflicts", Inject::nth("save", 4, || Fault::Conflict)).other_arg(),
    row("saves 3 to 5 conflict", Inject::on("save", Calls::Range(3, 5), || Fault::Conflict)).other_arg(),
];

/// Every failed call of `row` was made again later (the same object unless the row says otherwise), no
/// sooner than the row's wait.
fn assert_retried(script: &Script, failed: &[Call], row: &Row) {
    let calls = script.calls(row.inject.op);
    for f in failed {
        let again = calls.iter().find(|c| c.seq > f.seq && (!row.same_arg || c.arg == f.arg) && c.fault.is_none());
        let Some(again) = again else {
            panic!("{}: call {} of {} ({}) was never made again: {calls:?}", row.name, f.n, f.op, f.arg)
        };
        let after = again.at.duration_since(f.at);
        assert!(after >= row.waits, "{}: retried {after:?} after the failure, sooner than {:?}", row.name, row.waits);
    }
}

#[tokio::test(start_paused = true)]
async fn faults_answered_by_retrying_end_done() {
    for row in ROWS {
        let (r, ports, out) = upgrade_with(&row.inject).await;
        assert!(matches!(out, Ok(Outcome::Done(_))), "{}: {out:?}", row.name);
        let failed = ports.fired(row.name);
        assert!(failed.iter().all(|c| c.op == row.inject.op), "{}: {failed:?}", row.name);
        if row.done_anyway {
            for f in &failed {
                let moved = r.reporter.matching(|e| matches!(e, Event::PodMoved { pod } if *pod == f.arg));
                assert_eq!(moved.len(), 1, "{}: {} is reported moved once", row.name, f.arg);
            }
        } else {
            assert_retried(&ports.script, &failed, row);
        }
        assert_eq!(ports.checkpoint().await.status, RunStatus::Done, "{}", row.name);
        ports.assert_invariants(&r, row.name);
    }
}
