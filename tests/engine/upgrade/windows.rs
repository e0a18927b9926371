//! Maintenance windows on the simulator's clock (virtual time): a run inside a window goes on; when the
//! window closes it stops at the next stop point (a batch boundary) with a pause; resume outside every
//! window stops again at once, naming the next opening; resume inside the next window finishes.

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use poolshift::engine::Outcome;
use poolshift::model::checkpoint::{BatchState, Phase, RunStatus};
use poolshift::model::policy::{BatchSize, Policy};
use poolshift::ports::Clock;
use poolshift::ports::report::Event;
use poolshift::schedule::{Schedule, Window, WindowGate};

use super::harness::{Rig, policy, rig, scenario};

fn cluster() -> String {
    scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 6, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        "",
    )
}

/// The simulator starts on Thursday 2026-01-01 00:00 UTC. Thursday's window closes after 60 s, before the
/// run is through; Friday's lasts an hour.
fn schedule() -> Schedule {
    let window = |day, minutes: u64| Window {
        days: vec![day],
        start: Time::constant(0, 0, 0, 0),
        duration: Duration::from_secs(minutes * 60),
    };
    Schedule {
        time_zone: TimeZone::UTC,
        zone_name: "UTC".into(),
        windows: vec![window(Weekday::Thursday, 1), window(Weekday::Friday, 60)],
        exclude: Default::default(),
    }
}

async fn session_with_window(r: &Rig, holder: &str) -> poolshift::session::Session {
    let mut agent = r.session(holder);
    agent.engine.gatekeepers = vec![Arc::new(WindowGate::new(schedule()))];
    agent
}

#[tokio::test(start_paused = true)]
async fn a_closing_window_stops_at_a_batch_boundary_and_the_next_window_finishes() {
    let r = rig(&cluster());
    assert_eq!(r.clock.now().to_string(), "2026-01-01T00:00:00Z", "the simulator's start, a Thursday");
    // One node per batch: four batches, so the window closes between two of them.
    let plan = r.plan(&Policy { batch: BatchSize::Nodes(1), ..policy() }).await;
    let out = session_with_window(&r, "agent-1").await.engine.start(plan).await.expect("engine runs");
    let Outcome::Paused(reason) = out else { panic!("{out:?}") };
    assert!(
        reason.starts_with("outside every maintenance window (now 2026-01-01 00:0")
            && reason.contains("; the next opens at 2026-01-02 00:00 UTC (in 23h5")
            && reason.ends_with(") (runbook: windows-and-gates)"),
        "{reason}"
    );
    let cp = r.checkpoint().await;
    assert_eq!(cp.status, RunStatus::Paused(reason.clone()));
    // Stopped between batches: the batch before is done, the next has not started.
    let Phase::Draining { batch, .. } = cp.phase else { panic!("stopped at {}", cp.phase) };
    assert!(batch >= 1, "green and the first batch were inside the window");
    assert_eq!(cp.batches[batch - 1].state, BatchState::Done);
    assert_eq!(cp.batches[batch].state, BatchState::Pending);
    let moved_then = cp.moved;
    let passed: Vec<_> = r
        .reporter
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::StopPassed { by, .. } if by == &["maintenance window".to_string()]))
        .collect();
    assert!(passed.len() >= 3, "green Ready, before the first batch, after batch 1 passed inside: {passed:?}");

    // Still Thursday: resume stops again at once, nothing moves.
    let out = session_with_window(&r, "agent-2").await.engine.resume().await.expect("engine resumes");
    assert!(
        matches!(&out, Outcome::Paused(reason) if reason.contains("the next opens at 2026-01-02 00:00 UTC")),
        "{out:?}"
    );
    assert_eq!(r.checkpoint().await.moved, moved_then);

    // Friday's window: the run finishes.
    let until_friday =
        jiff::Timestamp::from_second(1_767_312_000).expect("2026-01-02T00:00:00Z").duration_since(r.clock.now());
    tokio::time::sleep(Duration::try_from(until_friday).expect("ahead") + Duration::from_secs(1)).await;
    let out = session_with_window(&r, "agent-3").await.engine.resume().await.expect("engine resumes");
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    assert!(r.clock.now() < jiff::Timestamp::from_second(1_767_312_000 + 3600).expect("Friday 01:00"));
    r.assert_safe();
}
