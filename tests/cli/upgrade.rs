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
    let expires: jiff::Timestamp =
        s["lease"]["expires_at"].as_str().and_then(|t| t.parse().ok()).expect("status says when the lease expires");
    let renewed: jiff::Timestamp = s["lease"]["renewed_at"].as_str().and_then(|t| t.parse().ok()).expect("renewed");
    assert!(expires > renewed, "{s}");

    for point in ["phase: Draining batch 1 of 4", "batch 2/4: done", "phase: PoolSoaking"] {
        let mut agent = cluster.resume_after_lease_expiry();
        agent.wait_for(point);
        agent.kill9();
    }
    let (code, out, err) = cluster.resume_after_lease_expiry().finish();
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("phase: Done"), "{out}");
    // The resumed run says whose run it took over, and when that agent's lease expired.
    assert!(out.starts_with("resuming run blue-"), "{out}");
    assert!(out.contains("] took over from ") && out.contains(", whose lease expired at 20"), "{out}");

    cluster.assert_invariants();
    cluster.assert_only_green();
    // Every blue workload pod was evicted once; nothing on green was touched.
    assert_eq!(cluster.recorder()["evictions_by_pool"], serde_json::json!({"blue": 23}));
    let s = cluster.status();
    assert_eq!(s["run"]["status"], "done");
    assert_eq!(s["run"]["batches_done"], 4);
    assert_eq!(s["run"]["pods_moved"], 23, "pods moved before each kill count too");
}

#[test]
fn abort_ends_the_run_and_says_what_it_leaves() {
    let cluster = SimCluster::start(POLICY);
    let mut agent = cluster.spawn("upgrade", &["--yes"]);
    agent.wait_for("phase: Draining batch 1 of 4");
    agent.kill9();
    cluster.wait_for_lease_expiry();
    let o = cluster.run("abort", &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.starts_with("aborted run blue-"), "{out}");
    // The dead agent's lease is released, and said to be.
    assert!(out.contains("; the lease of agent ") && out.contains(" is released.\n"), "{out}");
    assert!(out.contains("  - green pool blue-v1-31-4 exists, in state Ready\n"), "{out}");
    assert!(out.contains("  - blue nodes of pool blue are cordoned\n"), "{out}");
    // What stays frozen, and the values to put back (the scenario's blue: autoscaling on, 3 to 6, 4 nodes).
    assert!(
        out.contains(
            "  - autoscaling of pool blue stays frozen at min=max=desired=4 (autoscaling disabled); to restore: min 3, max 6, desired 4 (autoscaling enabled)\n"
        ),
        "{out}"
    );
    let s = cluster.status();
    assert_eq!(s["run"]["status"], "aborted");
    assert_eq!(s["lease"]["holder"], serde_json::Value::Null, "no lease is left behind: {s}");
    // The cluster is left as it is: both pools exist.
    let mut pools = cluster.pools();
    pools.sort();
    assert_eq!(pools, ["blue", "blue-v1-31-4"]);
    cluster.assert_invariants();
    let o = cluster.run("resume", &[]);
    assert!(stdout(&o).contains("is already aborted: nothing to resume"), "{}", stdout(&o));
}

/// `whole` seconds in "renewed Ns ago".
fn renewed_whole_seconds(text: &str) -> bool {
    text.split("renewed ").nth(1).is_some_and(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        !digits.is_empty() && rest[digits.len()..].starts_with("s ago")
    })
}

#[test]
fn a_live_run_is_named_and_left_alone_by_a_second_upgrade_and_by_resume() {
    // A long batch soak keeps the first agent running while the others are refused.
    let cluster = SimCluster::start(
        "    to: latest-patch\n    batch: 1\n    batch_soak: 10m\n    pool_soak: 30s\n    drain_timeout: 10m\n",
    );
    let mut agent = cluster.spawn("upgrade", &["--yes"]);
    agent.wait_for("batch 1/4: done");
    let holder = cluster.status()["lease"]["holder"].as_str().expect("the agent holds the lease").to_string();
    let args = format!("-c {}", cluster.config.display());

    for command in ["upgrade", "resume"] {
        let extra: &[&str] = if command == "upgrade" { &["--yes"] } else { &[] };
        let o = cluster.run(command, extra);
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(2), "{command} refuses, changing nothing:\n{out}\n{err}");
        assert!(!out.contains("resuming"), "{command} says nothing about resuming a run it cannot take:\n{out}");
        assert!(err.contains(&format!("pool blue is held by agent {holder} (run blue-")), "{command}: {err}");
        assert!(renewed_whole_seconds(&err), "{command}: the lease's age in whole seconds: {err}");
        assert!(err.contains("and expires at 20"), "{command}: when the lease expires: {err}");
        for hint in [
            format!("`poolshift status {args}`"),
            format!("`poolshift pause {args}`"),
            format!("`poolshift resume {args}` takes over once the lease has expired"),
        ] {
            assert!(err.contains(&hint), "{command}: {hint}: {err}");
        }
        assert!(!err.contains("abort"), "{command} must not suggest ending the live run: {err}");
    }

    // The live run was not disturbed: paused, it stops at its next safe point.
    let o = cluster.run("pause", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (code, out, err) = agent.finish();
    assert_eq!(code, Some(3), "stdout:\n{out}\nstderr:\n{err}");
    cluster.assert_invariants();
}
