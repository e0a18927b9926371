//! `status` over a fleet: a directory of cluster files (one per cluster, as an operator keeps them in Git),
//! three simulated clusters in three states, one table and `-o json`; a cluster out of reach gets its own
//! row and exit 1 without hiding the others.

use serde_json::Value;

use crate::agent::SimCluster;
use crate::support::{stderr, stdout};

const POLICY: &str =
    "    to: latest-patch\n    batch: 2\n    batch_soak: 5s\n    pool_soak: 5s\n    drain_timeout: 10m\n";

/// Renames the cluster in `c`'s file (and adds `extra` top-level lines), then copies the file into `dir`.
fn enlist(c: &SimCluster, name: &str, extra: &str, dir: &std::path::Path) {
    let text = std::fs::read_to_string(&c.config).expect("config");
    let text =
        text.replacen("name: cli-test", &format!("name: {name}"), 1).replacen("pools:", &format!("{extra}pools:"), 1);
    std::fs::write(&c.config, &text).expect("config");
    std::fs::write(dir.join(format!("{name}.yaml")), &text).expect("fleet file");
}

#[test]
fn status_over_a_directory_of_cluster_files_is_one_table() {
    let fleet = tempfile::tempdir().expect("tempdir");
    let eu = SimCluster::start(POLICY);
    let us = SimCluster::start(&format!(
        "{POLICY}    gates:\n      commands:\n        - {{name: smoke, run: [\"false\"]}}\n"
    ));
    let ap = SimCluster::start(POLICY);
    enlist(&eu, "eu", "", fleet.path());
    enlist(&us, "us", "", fleet.path());
    enlist(
        &ap,
        "ap",
        "maintenance:\n  time_zone: UTC\n  windows:\n    - {days: [mon], start: \"02:00\", duration: 3h}\n",
        fleet.path(),
    );
    let o = eu.run("upgrade", &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let o = us.run("upgrade", &["--yes"]);
    assert_eq!(o.status.code(), Some(4), "the gate blocks: {}\n{}", stdout(&o), stderr(&o));

    let o = crate::support::poolshift().args(["status", "--dir"]).arg(fleet.path()).output().expect("run");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "a header and a row per cluster:\n{out}");
    let cols = |l: &str| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cols(lines[0]),
        [
            "CLUSTER",
            "POOL",
            "VERSION",
            "PHASE",
            "BATCH",
            "MOVED",
            "BLOCKERS",
            "PAUSED",
            "LEASE",
            "UPDATED",
            "NEXT WINDOW"
        ]
    );
    // Files in name order: ap, eu, us.
    let ap_row = cols(lines[1]);
    assert_eq!(ap_row[..5], ["ap", "blue", "-", "never upgraded", "-"], "{out}");
    assert_eq!(ap_row.last().map(String::as_str), Some("2026-01-05T02:00:00Z"), "{out}");
    let eu_row = cols(lines[2]);
    assert_eq!(eu_row[..8], ["eu", "blue", "1.31.1 -> 1.31.4", "Done (done)", "2/2", "23", "0", "no"], "{out}");
    assert_eq!(eu_row[8], "free");
    assert_eq!(eu_row.last().map(String::as_str), Some("any time"));
    let us_row = cols(lines[3]);
    assert_eq!(
        us_row[..8],
        ["us", "blue", "1.31.1 -> 1.31.4", "Validating (blocked)", "0/2", "0", "0", "yes"],
        "{out}"
    );

    let o =
        crate::support::poolshift().args(["status", "-o", "json", "--dir"]).arg(fleet.path()).output().expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let rows = v.as_array().expect("an array");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["cluster"], "ap");
    assert!(rows[0]["run"].is_null());
    assert_eq!(rows[0]["window"]["open"], false);
    assert_eq!(rows[0]["window"]["next_opens_at"], "2026-01-05T02:00:00Z");
    assert_eq!(rows[1]["run"]["status"], "done");
    assert!(rows[1]["window"].is_null());
    assert_eq!(rows[2]["run"]["status"], "blocked");
    assert!(
        rows[2]["run"]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("gate smoke failed after green is Ready: false exited with status 1"),
        "{}",
        rows[2]
    );

    // A cluster out of reach: its own row, the others still shown, exit 1.
    let broken = std::fs::read_to_string(fleet.path().join("eu.yaml")).expect("eu");
    let broken = broken.replacen("name: eu", "name: zz", 1);
    let broken = broken
        .lines()
        .map(|l| if l.trim_start().starts_with("kubeconfig:") { "  kubeconfig: /nonexistent/kubeconfig" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(fleet.path().join("zz.yaml"), broken).expect("broken file");
    let o = crate::support::poolshift().args(["status", "--dir"]).arg(fleet.path()).output().expect("run");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(&o));
    assert_eq!(out.lines().count(), 5, "{out}");
    let last = out.lines().last().expect("a row");
    assert!(
        last.starts_with("zz") && last.contains("unreadable: kubeconfig: reading /nonexistent/kubeconfig"),
        "{out}"
    );

    // Two files naming one cluster are refused before anything is contacted.
    std::fs::write(fleet.path().join("zz.yaml"), std::fs::read_to_string(fleet.path().join("eu.yaml")).expect("eu"))
        .expect("dup");
    let o = crate::support::poolshift().args(["status", "--dir"]).arg(fleet.path()).output().expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("eu.yaml and ") && stderr(&o).contains("zz.yaml both name cluster eu"),
        "{}",
        stderr(&o)
    );
}

/// The `server:` URL of a simulator's kubeconfig.
fn server(c: &SimCluster) -> String {
    let text = std::fs::read_to_string(&c.served.kubeconfig).expect("kubeconfig");
    text.lines().find_map(|l| l.trim().strip_prefix("server: ")).expect("server").to_string()
}

#[test]
fn status_over_every_context_of_the_kubeconfig() {
    let a = SimCluster::start(POLICY);
    let b = SimCluster::start(POLICY);
    let o = b.run("upgrade", &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, c) in [("a", &a), ("b", &b)] {
        text.push_str(&format!("- name: sim-{name}\n  cluster:\n    server: {}\n", server(c)));
    }
    text.push_str("contexts:\n");
    for name in ["a", "b"] {
        text.push_str(&format!("- name: ctx-{name}\n  context:\n    cluster: sim-{name}\n    user: kubesim\n"));
    }
    text.push_str("current-context: ctx-a\nusers:\n- name: kubesim\n  user:\n    token: kubesim\n");
    std::fs::write(&kubeconfig, text).expect("kubeconfig");
    let config = dir.path().join("cluster.yaml");
    let file = format!(
        "cluster:\n  name: cli-test\n  kubeconfig: {}\nprovider:\n  kind: sim\npools:\n  - name: blue\n",
        kubeconfig.display()
    );
    std::fs::write(&config, file).expect("config");
    let o = crate::support::poolshift().args(["status", "--all-contexts", "-c"]).arg(&config).output().expect("run");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].starts_with("cli-test (ctx-a)") && rows[0].contains("never upgraded"), "{out}");
    assert!(rows[1].starts_with("cli-test (ctx-b)") && rows[1].contains("Done (done)"), "{out}");
}
