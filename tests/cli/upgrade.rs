//! `upgrade`, `pause`, `resume`, `status`, `abort` as an operator runs them: separate processes against
//! `poolshift sim serve`, configured by a cluster file with `provider: {kind: sim}`.

use crate::agent::SimCluster;
use crate::support::{stderr, stdout};

/// Four batches of one node, short soaks (simulated time, at 20x).
const POLICY: &str =
    "    to: latest-patch\n    batch: 1\n    batch_soak: 20s\n    pool_soak: 30s\n    drain_timeout: 10m\n";

#[test]
fn upgrade_yes_runs_to_done_without_breaking_a_budget() {
    let cluster = SimCluster::start(POLICY);
    let o = cluster.run("upgrade", &["--yes"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{}", stderr(&o));
    assert!(out.starts_with("plan: cluster cli-test pool blue 1.31.1 -> 1.31.4"), "{out}");
    assert!(out.contains("4 blue nodes in 4 batches (batch 1 node), 23 pods to move, 0 blocked"), "{out}");
    for line in ["phase: CreatingGreen", "batch 4/4: done", "blue pool blue deleted", "phase: Done"] {
        assert!(out.contains(line), "missing {line:?}:\n{out}");
    }
    assert!(out.contains("done: pool blue upgraded to green pool blue-v1-31-4: 23 pods moved in 4 batches"), "{out}");
    cluster.assert_invariants();
    cluster.assert_only_green();
    assert_eq!(cluster.recorder()["evictions_by_pool"], serde_json::json!({"blue": 23}));

    let s = cluster.status();
    assert_eq!(s["pool"], "blue");
    assert_eq!(s["checkpoint"], "configmap poolshift-system/poolshift-cli-test-blue");
    assert_eq!(s["run"]["status"], "done");
    assert_eq!(s["run"]["phase"], "Done");
    assert_eq!(s["run"]["batches_done"], 4);
    assert_eq!(s["run"]["pods_moved"], 23);
    assert_eq!(s["run"]["to_version"], "1.31.4");
    assert_eq!(s["lease"]["holder"], serde_json::Value::Null, "the lease is released");

    // Done: the pool is gone, so does a second upgrade of it; resume has nothing to do.
    let o = cluster.run("resume", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("is already done: nothing to resume"), "{}", stdout(&o));
}

#[test]
fn pause_from_another_process_stops_the_run_and_resume_finishes_it() {
    let cluster = SimCluster::start(POLICY);
    let mut agent = cluster.spawn("upgrade", &["--yes"]);
    agent.wait_for("phase: Draining batch 1 of 4");

    let o = cluster.run("pause", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("pause requested for run blue-"), "{}", stdout(&o));

    let (code, out, err) = agent.finish();
    assert_eq!(code, Some(3), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("paused: paused by "), "{out}");
    assert!(out.contains(&format!("`poolshift resume -c {}` continues", cluster.config.display())), "{out}");
    assert!(!out.contains("phase: Done"), "{out}");

    let s = cluster.status();
    assert_eq!(s["run"]["status"], "paused");
    assert!(s["run"]["reason"].as_str().unwrap().starts_with("paused by "), "{s}");
    assert!(s["run"]["phase"].as_str().unwrap().starts_with("Draining batch"), "{s}");
    assert!(s["run"]["pause_requested"]["by"].is_string(), "{s}");
    assert_eq!(s["run"]["green_created"], true);
    assert_eq!(s["lease"]["holder"], serde_json::Value::Null, "a paused agent releases the lease");
    let text = stdout(&cluster.run("status", &[]));
    assert!(text.contains("pool blue of cluster cli-test\n  run blue-"), "{text}");
    assert!(text.contains(": paused at phase Draining batch"), "{text}");

    // A new upgrade is refused while this run is unfinished.
    let o = cluster.run("upgrade", &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("pool blue has an unfinished run blue-"), "{}", stderr(&o));
    assert!(stderr(&o).contains("`poolshift resume -c "), "{}", stderr(&o));

    let o = cluster.run("resume", &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{}", stderr(&o));
    assert!(out.starts_with("resuming run blue-"), "{out}");
    assert!(out.contains("phase: Done"), "{out}");
    cluster.assert_invariants();
    cluster.assert_only_green();
    assert_eq!(cluster.status()["run"]["status"], "done");
}

/// kill -9 of the agent during the green wait, right after a batch started draining, after a batch
/// finished, and during the pool soak; each time `resume` (once the dead agent's lease expired) takes over.
#[test]
fn kill_9_at_several_points_then_resume_finishes_the_upgrade() {
    let cluster = SimCluster::start(POLICY);
    let mut agent = cluster.spawn("upgrade", &["--yes"]);
    agent.wait_for("phase: WaitingGreenReady");
    agent.kill9();
    let s = cluster.status();
    assert_eq!(s["run"]["status"], "running", "a killed agent could not record anything else: {s}");
    assert!(s["lease"]["holder"].is_string(), "the dead agent's lease stays until it expires: {s}");

    for point in ["phase: Draining batch 1 of 4", "batch 2/4: done", "phase: PoolSoaking"] {
        let mut agent = cluster.resume_after_lease_expiry();
        agent.wait_for(point);
        agent.kill9();
    }
    let (code, out, err) = cluster.resume_after_lease_expiry().finish();
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("phase: Done"), "{out}");

    cluster.assert_invariants();
    cluster.assert_only_green();
    // Every blue workload pod was evicted once; nothing on green was touched.
    assert_eq!(cluster.recorder()["evictions_by_pool"], serde_json::json!({"blue": 23}));
    let s = cluster.status();
    assert_eq!(s["run"]["status"], "done");
    assert_eq!(s["run"]["batches_done"], 4);
}

#[test]
fn abort_ends_the_run_and_says_what_it_leaves() {
    let cluster = SimCluster::start(POLICY);
    let mut agent = cluster.spawn("upgrade", &["--yes"]);
    agent.wait_for("phase: Draining batch 1 of 4");
    agent.kill9();
    let o = cluster.run("abort", &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.starts_with("aborted run blue-"), "{out}");
    assert!(out.contains("  - green pool blue-v1-31-4 exists\n"), "{out}");
    assert!(out.contains("  - blue nodes of pool blue are cordoned\n"), "{out}");
    assert_eq!(cluster.status()["run"]["status"], "aborted");
    // The cluster is left as it is: both pools exist.
    let mut pools = cluster.pools();
    pools.sort();
    assert_eq!(pools, ["blue", "blue-v1-31-4"]);
    cluster.assert_invariants();
    let o = cluster.run("resume", &[]);
    assert!(stdout(&o).contains("is already aborted: nothing to resume"), "{}", stdout(&o));
}
