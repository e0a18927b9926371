//! `poolshift plan` against `sim serve`: the report of the demo cluster in three formats (golden files),
//! read-only (the simulator's request log), offline from a snapshot file, and rehearsed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::agent::SimCluster;
use crate::support::{Served, demo_scenario, poolshift, stderr, stdout};

#[path = "../support/golden.rs"]
mod golden;

/// The demo cluster served, with a configuration for its pool blue.
pub fn demo() -> (Served, tempfile::TempDir, PathBuf) {
    let served = Served::start(&demo_scenario(), 1.0);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("demo.yaml");
    let text = format!(
        "cluster:\n  name: demo\n  kubeconfig: {}\nprovider:\n  kind: sim\npools:\n  - name: blue\n    to: 1.31.4\n",
        served.kubeconfig.display()
    );
    std::fs::write(&config, text).unwrap();
    (served, dir, config)
}

fn plan(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = poolshift().arg("plan").arg("-c").arg(config).args(args).output().unwrap();
    (o.status.code(), stdout(&o), stderr(&o))
}

/// Only reads and dry runs: every request the simulator logged is a get, list or watch, or a dry run.
fn assert_read_only(recorder: &Value) {
    let requests = recorder["summary"]["requests"].as_object().expect("request counts");
    assert!(!requests.is_empty());
    for key in requests.keys() {
        let read = ["get ", "list ", "watch "].iter().any(|v| key.starts_with(v));
        assert!(read || key.ends_with("(dry-run)"), "plan sent a mutating request: {key} ({requests:?})");
    }
    assert!(requests.contains_key("create pods/eviction (dry-run)"), "the preflight ran: {requests:?}");
    assert_eq!(recorder["summary"]["evictions_by_pool"], serde_json::json!({}), "nothing was evicted");
}

/// The moment a plan was made is the one line that differs from run to run.
fn without_planned_at(out: &str) -> String {
    out.lines()
        .map(|l| if l.trim_start().starts_with("\"planned_at\": ") { "  \"planned_at\": \"(when)\"," } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn the_demo_report_in_three_formats_is_read_only_and_exits_5() {
    let (served, _dir, config) = demo();
    for (format, file) in [("text", "demo.txt"), ("markdown", "demo.md"), ("json", "demo.json")] {
        let (code, out, err) = plan(&config, &["-o", format]);
        assert_eq!(code, Some(5), "the demo's blocking PDB is a blocker:\n{err}\n{out}");
        if format == "text" {
            golden::assert_fits_100_columns(&out);
        }
        golden::check(file, &without_planned_at(&out));
    }
    let rec: Value = serde_json::from_str(&served.kubectl_ok(&["get", "--raw", "/sim/v1/recorder"])).unwrap();
    assert_read_only(&rec);
    let pools: Value = serde_json::from_str(&served.kubectl_ok(&["get", "--raw", "/sim/v1/pools"])).unwrap();
    let names: Vec<&str> = pools["items"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["blue"], "no pool was created");
}

#[test]
fn plan_from_a_snapshot_file_is_the_live_plan_without_the_preflight() {
    let (_served, dir, config) = demo();
    let file = dir.path().join("snapshot.json");
    let o = poolshift().arg("snapshot").arg("-c").arg(&config).arg("-o").arg(&file).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("with the provider's description of pool blue"), "{}", stdout(&o));

    let (code, live, err) = plan(&config, &["-o", "json"]);
    assert_eq!(code, Some(5), "{err}");
    let (code, offline, err) = plan(&config, &["-o", "json", "--from-snapshot", file.to_str().unwrap()]);
    assert_eq!(code, Some(5), "{err}");
    let mut live: Value = serde_json::from_str(&live).unwrap();
    let offline: Value = serde_json::from_str(&offline).unwrap();
    assert!(offline["review"].get("preflight").is_none(), "offline: no dry runs");
    live["review"].as_object_mut().unwrap().remove("preflight");
    // The same plan (same id), made at two moments.
    assert_eq!(live["plan_id"], offline["plan_id"]);
    let mut offline = offline;
    for plan in [&mut live, &mut offline] {
        plan.as_object_mut().unwrap().remove("planned_at").expect("planned_at");
    }
    assert_eq!(live, offline);

    // Without a configuration: the snapshot's only pool, latest-patch, the default policy.
    let o = poolshift()
        .current_dir(dir.path())
        .args(["plan", "--from-snapshot", "snapshot.json", "-o", "text"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("poolshift plan: cluster snapshot, pool blue: 1.30.8 -> 1.30.12"), "{}", stdout(&o));
    assert!(stdout(&o).contains("not checked: the plan was made offline"), "{}", stdout(&o));

    // A file that is not a snapshot is a usage error naming it.
    std::fs::write(dir.path().join("bad.json"), "{}").unwrap();
    let (code, _, err) = plan(&config, &["--from-snapshot", dir.path().join("bad.json").to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.json: not a poolshift snapshot"), "{err}");
}

#[test]
fn rehearse_reports_the_timeline_and_touches_nothing_live() {
    let cluster = SimCluster::start("    to: 1.31.4\n    batch: 2\n    batch_soak: 10s\n    pool_soak: 30s\n");
    let o = cluster.run("plan", &["--rehearse", "--pool-provision", "20s", "--node-ready", "10s", "-o", "markdown"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}\n{out}", stderr(&o));
    assert!(out.contains("| Rehearsed duration |"), "{out}");
    assert!(out.contains("Rehearsed by the upgrade engine on a simulated copy"), "{out}");
    assert!(out.contains("| batch 2 (2 nodes,"), "{out}");
    assert!(out.contains("green's nodes appear 20s after it is created"), "{out}");
    assert_read_only(&cluster.recorder());
    assert_eq!(cluster.pools(), ["blue"]);
}
