//! `plan --rehearse` against the real thing: the demo cluster is upgraded by the engine on the simulator,
//! and the plan is rehearsed on a copy seeded from the snapshot taken just before; both in virtual time.
//!
//! The demo's blocking PDB (finance/legacy-reporting, one replica with minAvailable 1) is left out of the
//! cluster: with it, both runs would only wait for the drain timeout and stop for an operator, which
//! compares nothing but a timeout. Without it, the whole upgrade runs in both.

use std::sync::Arc;
use std::time::Duration;

use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift::engine::Outcome;
use poolshift::model::policy::{BatchSize, Policy};
use poolshift::plan::target::TargetPolicy;
use poolshift::ports::{Clock, RecordingReporter, Reporter};
use poolshift::rehearsal::timeline::{self, TimedReporter};
use poolshift::rehearsal::{Options, rehearse};
use poolshift::session::{Session, StateLocation};
use poolshift::time::TokioClock;
use poolshift_provider_sim::SimProvider;

fn within(what: &str, rehearsed: f64, real: f64, tolerance: f64) {
    let diff = (rehearsed - real).abs();
    assert!(
        diff <= tolerance * real,
        "{what}: rehearsed {rehearsed:.1}s vs real {real:.1}s ({:.1}% apart, at most {:.0}%)",
        100.0 * diff / real,
        100.0 * tolerance
    );
}

#[tokio::test(start_paused = true)]
async fn the_rehearsed_demo_takes_what_the_real_run_takes_within_ten_percent() {
    let mut sc = Scenario::builtin("demo").unwrap();
    sc.workloads.retain(|w| w.name != "legacy-reporting");
    let sim = Simulator::from_scenario(&sc, SimOptions { seed: sc.seed, speed: 1.0 }).unwrap();
    let client = sim.client();
    let clock = Arc::new(TokioClock::starting_at(sim.store().clock().now(), 1.0));
    let provider = Arc::new(SimProvider::new(client.clone()));
    let session_with = |reporter: Arc<dyn Reporter>| {
        Session::new(
            client.clone(),
            provider.clone(),
            "demo",
            "blue",
            StateLocation::ConfigMap,
            clock.clone(),
            reporter,
            "agent",
        )
    };
    let planner = session_with(Arc::new(RecordingReporter::new()));
    let policy = Policy {
        batch: BatchSize::Percent(30),
        batch_soak: Duration::from_secs(10),
        pool_soak: Duration::from_secs(30),
        ..Default::default()
    };
    let target = TargetPolicy::Exact("1.31.4".parse().unwrap());
    let (plan, snapshot) = planner.plan_and_snapshot(&target, &policy).await.unwrap();
    assert_eq!(plan.blocked().count(), 0);

    // The rehearsal, with the demo's timings (its scenario's `timings`).
    let options = Options::from(&sc.timings);
    let matcher = poolshift_provider_api::Provider::node_matcher(provider.as_ref(), "blue");
    let rehearsal = rehearse(&snapshot, &plan, &matcher, &options).await.unwrap();
    assert_eq!(rehearsal.outcome, "done", "{rehearsal:?}");

    // The real run, timed from its start.
    let reporter = Arc::new(TimedReporter::new(clock.clone() as Arc<dyn Clock>));
    let outcome = session_with(reporter.clone()).engine.start(plan.clone()).await.unwrap();
    assert!(matches!(outcome, Outcome::Done(_)), "{outcome:?}");
    let real_total = reporter.now();
    let (_, real_batches) = timeline::build(&reporter.events(), real_total);
    let r = sim.store().lock().recorder.summary();
    assert_eq!((r.pdb_violations, r.lost_pods), (0, 0));

    assert_eq!(rehearsal.batches.len(), real_batches.len());
    assert_eq!(rehearsal.batches.len(), plan.batches.len());
    for (a, b) in rehearsal.batches.iter().zip(&real_batches) {
        assert_eq!((a.nodes, a.pods), (b.nodes, b.pods), "batch {} has the same nodes and pods", a.batch);
    }
    within("total", rehearsal.total_seconds, real_total, 0.10);
    let drain = |bs: &[poolshift::model::review::RehearsedBatch]| {
        bs.last().map(|b| b.end).unwrap_or(0.0) - bs.first().map(|b| b.start).unwrap_or(0.0)
    };
    within("drain, first batch start to last batch end", drain(&rehearsal.batches), drain(&real_batches), 0.10);
    eprintln!(
        "rehearsed {:.1}s, real {real_total:.1}s; batches rehearsed/real: {:?}",
        rehearsal.total_seconds,
        rehearsal
            .batches
            .iter()
            .zip(&real_batches)
            .map(|(a, b)| (a.end - a.start, b.end - b.start))
            .collect::<Vec<_>>()
    );
}
