//! The scheduled and gated modes through the binary against `sim serve` (whose clock starts on Thursday
//! 2026-01-01 00:00 UTC): a job outside every maintenance window changes nothing and exits 3 naming the
//! next opening; a window that closes mid-run stops it at a batch boundary (exit 3) and `upgrade --yes
//! --resume` continues it inside a window; a failing gate command blocks (exit 4) with its output shown;
//! a job takes the next minor only when the file says so.

use std::path::Path;

use crate::agent::SimCluster;
use crate::support::{stderr, stdout};

const POLICY: &str =
    "    to: latest-patch\n    batch: 1\n    batch_soak: 5s\n    pool_soak: 10s\n    drain_timeout: 10m\n";

/// Adds a `maintenance` section to the cluster's file (replacing one written before).
fn set_windows(cluster: &SimCluster, windows: &str) {
    let text = std::fs::read_to_string(&cluster.config).expect("read config");
    let text = match text.find("maintenance:") {
        Some(i) => format!("{}{}", &text[..i], &text[text.find("pools:").expect("pools")..]),
        None => text,
    };
    let text = text.replacen("pools:", &format!("maintenance:\n  time_zone: UTC\n  windows:\n{windows}pools:"), 1);
    std::fs::write(&cluster.config, text).expect("write config");
}

fn green_nodes(cluster: &SimCluster) -> usize {
    let names = cluster.served.kubectl_ok(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]);
    names.split_whitespace().filter(|n| n.starts_with("blue-v1-31-4-")).count()
}

#[test]
fn outside_every_window_a_job_changes_nothing_and_exits_3() {
    let cluster = SimCluster::start(POLICY);
    set_windows(&cluster, "    - {days: [mon, tue], start: \"00:00\", duration: 2h}\n");
    let o = cluster.run("upgrade", &["--yes"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{}", stderr(&o));
    // The simulated clock runs on (20x): the exact minute and the time left are not fixed.
    assert!(out.starts_with("not starting: outside every maintenance window (now 2026-01-01 00:0"), "{out}");
    assert!(out.contains(" UTC); the next opens at 2026-01-05 00:00 UTC (in 9"), "{out}");
    assert!(out.ends_with("); nothing changed (runbook: windows-and-gates)\n"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(cluster.pools(), vec!["blue".to_string()], "no green pool");
    let s = cluster.status();
    assert!(s["run"].is_null(), "no run recorded: {s}");
    // The operator's override for an emergency: the run goes ahead.
    let o = cluster.run("upgrade", &["--yes", "--ignore-windows"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    cluster.assert_invariants();
    cluster.assert_only_green();
}

#[test]
fn a_window_that_closes_mid_run_stops_at_a_batch_boundary_and_resume_continues_in_a_window() {
    let cluster = SimCluster::start(POLICY);
    // Thursday's window closes one simulated minute after the start: green is up by then, the batches not.
    set_windows(&cluster, "    - {days: [thu], start: \"00:00\", duration: 1m}\n");
    let o = cluster.run("upgrade", &["--yes"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{}", stderr(&o));
    assert!(out.contains("paused: outside every maintenance window (now 2026-01-01 00:0"), "{out}");
    assert!(out.contains("the next opens at 2026-01-08 00:00 UTC"), "{out}");
    let s = cluster.status();
    assert_eq!(s["run"]["status"], "paused", "{s}");
    let done = s["run"]["batches_done"].as_u64().expect("batches_done");
    assert!((1..4).contains(&done), "stopped between batches: {s}");
    assert!(s["run"]["phase"].as_str().expect("phase").starts_with("Draining batch"), "{s}");
    assert_eq!(green_nodes(&cluster), 4);
    assert_eq!(scale_down_disabled(&cluster), vec!["true"; 4], "a paused run keeps green from being scaled down");

    // The hourly job, still outside: nothing moves.
    let o = cluster.run("upgrade", &["--yes", "--resume"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{}", stderr(&o));
    assert!(out.starts_with("not resuming run blue-") && out.contains("outside every maintenance window"), "{out}");
    assert_eq!(cluster.status()["run"]["batches_done"].as_u64(), Some(done));

    // A window open now (the operator widened it): the same job continues the run to the end.
    set_windows(&cluster, "    - {days: [thu], start: \"00:00\", duration: 12h}\n");
    let o = cluster.run("upgrade", &["--yes", "--resume"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert!(out.contains("resuming run blue-"), "{out}");
    assert!(out.contains("done: pool blue upgraded to green pool blue-v1-31-4"), "{out}");
    cluster.assert_invariants();
    cluster.assert_only_green();
    assert!(scale_down_disabled(&cluster).is_empty(), "the mark is gone once the run is done");

    // The next hourly job: the configured pool is now the green one (blue was deleted), already at the
    // newest patch, so there is nothing to do; it does not fail looking for the deleted pool.
    let o = cluster.run("upgrade", &["--yes", "--resume"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert!(out.starts_with("pool blue-v1-31-4: "), "{out}");
    assert_eq!(cluster.pools(), vec!["blue-v1-31-4".to_string()], "nothing created");

    // What the cluster was told, read back with kubectl: on the checkpoint ConfigMap ...
    let on_checkpoint = events(
        &cluster,
        "poolshift-system",
        "involvedObject.kind=ConfigMap,involvedObject.name=poolshift-cli-test-blue",
    );
    let reasons: Vec<&str> = on_checkpoint.iter().map(|(_, reason, _)| reason.as_str()).collect();
    let done = done as usize;
    let mut want = vec!["UpgradeStarted", "GreenPoolCreating", "GreenPoolReady"];
    want.extend(std::iter::repeat_n("BatchDrained", done));
    want.extend(["Paused", "UpgradeResumed"]);
    want.extend(std::iter::repeat_n("BatchDrained", 4 - done));
    want.extend(["BluePoolDeleted", "UpgradeSucceeded"]);
    assert_eq!(reasons, want, "{on_checkpoint:?}");
    let paused = on_checkpoint.iter().find(|(_, r, _)| r == "Paused").expect("paused");
    assert!(paused.2.starts_with("paused: outside every maintenance window"), "{paused:?}");
    // ... and on each blue node: cordoned, then drained.
    let on_nodes = events(&cluster, "default", "involvedObject.kind=Node");
    for node in ["blue-a-0", "blue-b-1", "blue-a-2", "blue-b-3"] {
        let of: Vec<&str> = on_nodes.iter().filter(|(n, _, _)| n == node).map(|(_, r, _)| r.as_str()).collect();
        assert_eq!(of, vec!["Cordoned", "Draining"], "{node}: {on_nodes:?}");
    }
}

/// `cluster-autoscaler.kubernetes.io/scale-down-disabled` of every green node that has it.
fn scale_down_disabled(cluster: &SimCluster) -> Vec<String> {
    let nodes = cluster.served.kubectl_json(&["get", "nodes"]);
    crate::support::items(&nodes)
        .iter()
        .filter(|n| crate::support::text(n, "/metadata/name").starts_with("blue-v1-31-4-"))
        .filter_map(|n| n["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/scale-down-disabled"].as_str())
        .map(str::to_string)
        .collect()
}

/// (object, reason, message) of the Events in `namespace` matching `selector`, oldest first.
fn events(cluster: &SimCluster, namespace: &str, selector: &str) -> Vec<(String, String, String)> {
    let list = cluster.served.kubectl_json(&["get", "events", "-n", namespace, "--field-selector", selector]);
    let mut out: Vec<(String, String, String, String)> = crate::support::items(&list)
        .iter()
        .map(|e| {
            (
                crate::support::text(e, "/eventTime").to_string(),
                crate::support::text(e, "/involvedObject/name").to_string(),
                crate::support::text(e, "/reason").to_string(),
                crate::support::text(e, "/message").to_string(),
            )
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, o, r, m)| (o, r, m)).collect()
}

#[test]
fn a_failing_gate_command_blocks_with_its_output_and_resume_runs_it_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("gate.log");
    let fail = dir.path().join("fail");
    std::fs::write(&fail, "").expect("marker");
    let script = format!(
        "echo \"$POOLSHIFT_STOP ${{POOLSHIFT_BATCH:-}} $POOLSHIFT_POOL\" >> {log}; if [ -e {fail} ]; then echo 'smoke: checking shop'; echo 'smoke: 2 of 5 checks failed'; exit 7; fi",
        log = log.display(),
        fail = fail.display()
    );
    let policy = format!(
        "{POLICY}    gates:\n      commands:\n        - name: smoke\n          run: [sh, -c, {}]\n          timeout: 30s\n",
        serde_json::to_string(&script).expect("quoted")
    );
    let cluster = SimCluster::start(&policy);
    let o = cluster.run("upgrade", &["--yes"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(4), "{out}\n{}", stderr(&o));
    assert!(out.contains("gate smoke failed after green is Ready; its output:\n"), "{out}");
    assert!(out.contains("  | smoke: checking shop\n") && out.contains("  | smoke: 2 of 5 checks failed\n"), "{out}");
    assert!(
        out.contains(
            "blocked: gate smoke failed after green is Ready: sh exited with status 7: smoke: 2 of 5 checks failed\n"
        ),
        "{out}"
    );
    assert!(out.contains("(runbook: windows-and-gates)"), "{out}");
    let cordoned = cluster.served.kubectl_ok(&["get", "nodes", "-o", "jsonpath={.items[*].spec.unschedulable}"]);
    assert!(cordoned.trim().is_empty(), "nothing on blue changed: {cordoned:?}");
    assert_eq!(cluster.status()["run"]["status"], "blocked");

    std::fs::remove_file(&fail).expect("fixed");
    let o = cluster.run("resume", &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        read(&log),
        "green_ready  blue\ngreen_ready  blue\nafter_batch 1 blue\nafter_batch 2 blue\nafter_batch 3 blue\nafter_batch 4 blue\n",
        "asked again where it failed, then after every batch"
    );
    cluster.assert_invariants();
    cluster.assert_only_green();
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn a_job_takes_the_next_minor_only_when_the_file_says_so() {
    let cluster = SimCluster::start(POLICY);
    let o = cluster.run("upgrade", &["--yes", "--to", "next-minor"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{}\n{err}", stdout(&o));
    assert!(
        err.contains(&format!(
            "--to next-minor: an unattended run (--yes without a terminal) moves to the next minor version only when {} sets `to: next-minor` for pool blue; nothing changed (runbook: scheduled-upgrades)",
            cluster.config.display()
        )),
        "{err}"
    );
    assert_eq!(cluster.pools(), vec!["blue".to_string()]);
}
