//! `poolshift upgrade`, `pause`, `resume`, `rollback` on the real control plane, each checked by the watcher.

use std::time::{Duration, Instant};

use crate::support::{LIMIT, TestWorld, demo, stderr, stdout};

/// Two batches of five nodes, no soaks. A batch drains in 20 to 40 s here (budgets of one pod at a time wait
/// for each replacement to be Ready); the drain timeout leaves room for a loaded 2-core machine.
const POLICY: &str = "    to: 1.36.3\n    batch: 50%\n    batch_soak: 0s\n    pool_soak: 0s\n    drain_timeout: 5m\n    escalation: pause\n";
/// The same, with a blocked pod escalating to a pause (exit 4) after 2 minutes.
const BLOCKING_POLICY: &str = "    to: 1.36.3\n    batch: 50%\n    batch_soak: 0s\n    pool_soak: 0s\n    drain_timeout: 2m\n    escalation: pause\n";

/// Every node of the world is in `pool`, schedulable.
fn assert_only_pool(w: &TestWorld, pool: &str) {
    let nodes = w.nodes();
    assert!(!nodes.is_empty());
    for (name, p, cordoned) in &nodes {
        assert_eq!(p, pool, "node {name} belongs to {p}, expected only {pool}: {nodes:?}");
        assert!(!cordoned, "node {name} is still cordoned");
    }
}

#[test]
fn upgrade_blocks_on_the_single_replica_budget_until_the_operator_scales_then_resume_finishes() {
    let mut w = TestWorld::load("demo", &demo(&[]), BLOCKING_POLICY);
    // The plan has a blocker: an unattended upgrade refuses it and changes nothing.
    let o = w.run("upgrade", &["--yes"]);
    assert_eq!(o.status.code(), Some(5), "refused:\n{}\n{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("--accept-blockers"), "{}", stderr(&o));
    for (name, _, cordoned) in &w.nodes() {
        assert!(!cordoned, "node {name} was cordoned by a refused upgrade");
    }
    assert_eq!(w.nodes().len(), w.nodes().iter().filter(|(_, p, _)| *p == w.blue).count(), "no green pool");
    let o = w.run("upgrade", &["--yes", "--accept-blockers"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(4), "blocked, waiting for an operator:\n{out}\n{}", stderr(&o));
    let finance = w.ns("finance");
    assert!(out.contains("blocked: "), "{out}");
    assert!(out.contains(&format!("{finance}/legacy-reporting")), "the blocker names the pod: {out}");
    assert!(out.contains(&format!("PDB {finance}/legacy-reporting")), "and its PDB: {out}");

    // The operator gives the budget room, as one would with kubectl.
    let scaled = w.kubectl_ok(&["scale", "deployment/legacy-reporting", "-n", &finance, "--replicas=2"]);
    assert!(scaled.contains("scaled"), "{scaled}");
    let o = w.run("resume", &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert!(out.contains("phase: Done"), "{out}");

    let green = w.status()["run"]["green_pool"].as_str().expect("green pool named").to_string();
    assert_eq!(w.status()["run"]["status"], "done");
    assert_only_pool(&w, &green);
    assert_eq!(w.pools(), vec![green.clone()], "one pool left, the green one");
    w.wait_settled();
    let blue = w.blue.clone();
    let report = w.check_watcher(&[&blue]);
    assert!(report.deletions.len() >= 140, "the demo's pods moved: {}", report.deletions.len());
}

#[test]
fn pause_from_another_process_then_resume_finishes() {
    let mut w = TestWorld::load("pause", &demo(&["legacy-reporting"]), POLICY);
    let mut agent = w.spawn("upgrade", &["--yes"]);
    agent.wait_for("phase: Draining batch 1 of 2");
    let o = w.run("pause", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (code, out, err) = agent.finish();
    assert_eq!(code, Some(3), "paused:\n{out}\n{err}");
    assert!(out.contains("paused: paused by "), "{out}");
    let s = w.status();
    assert_eq!(s["run"]["status"], "paused", "{s}");

    let o = w.run("resume", &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert!(out.contains("phase: Done"), "{out}");
    let green = w.status()["run"]["green_pool"].as_str().expect("green").to_string();
    assert_only_pool(&w, &green);
    w.wait_settled();
    let blue = w.blue.clone();
    w.check_watcher(&[&blue]);
}

#[test]
fn sigkill_mid_drain_then_resume_after_the_lease_expires_finishes_with_one_green_pool() {
    let mut w = TestWorld::load("kill", &demo(&["legacy-reporting"]), POLICY);
    let mut agent = w.spawn("upgrade", &["--yes"]);
    agent.wait_for("phase: Draining batch 1 of 2");
    agent.kill9();
    let s = w.status();
    assert_eq!(s["run"]["status"], "running", "a killed agent records nothing else: {s}");

    let (code, out, err) = w.resume_after_lease_expiry().finish();
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("phase: Done"), "{out}");
    let green = w.status()["run"]["green_pool"].as_str().expect("green").to_string();
    assert_eq!(w.pools(), vec![green.clone()], "exactly one pool: the green one");
    assert_only_pool(&w, &green);
    w.wait_settled();
    let blue = w.blue.clone();
    w.check_watcher(&[&blue]);
}

#[test]
fn rollback_mid_drain_puts_blue_back_removes_green_and_restores_autoscaling() {
    let mut w = TestWorld::load("rollb", &demo(&["legacy-reporting"]), POLICY);
    let before = w.pool_record(&w.blue.clone())["autoscaling"].clone();
    assert_eq!(before["enabled"], true, "{before}");
    let mut agent = w.spawn("upgrade", &["--yes"]);
    agent.wait_for("phase: Draining batch 1 of 2");
    let o = w.run("rollback", &[]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let (code, out, err) = agent.finish();
    assert!(matches!(code, Some(0) | Some(3)), "the running agent stops for the rollback ({code:?}):\n{out}\n{err}");
    // The rollback ran in the agent (requested) or in the rollback command; finish it if it is pending.
    let start = Instant::now();
    while w.status()["run"]["status"] != "rolled_back" {
        let o = w.run("rollback", &[]);
        assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
        assert!(start.elapsed() < LIMIT, "never rolled back: {}", w.status());
        std::thread::sleep(Duration::from_millis(500));
    }
    let blue = w.blue.clone();
    assert_only_pool(&w, &blue);
    assert_eq!(w.pools(), vec![blue.clone()], "green is gone");
    assert_eq!(w.pool_record(&blue)["autoscaling"], before, "blue's autoscaling restored");
    w.wait_settled();
    let green = w.status()["run"]["green_pool"].as_str().unwrap_or("").to_string();
    w.check_watcher(&[&blue, &green]);
}
