//! The cluster configuration file as the commands see it: a bad file is exit 2 with file, line and field,
//! before anything is contacted; `plan` and `snapshot` read the configured cluster.

use crate::agent::{SimCluster, write_config};
use crate::support::{run, stderr, stdout};

const POLICY: &str = "    batch: 2\n    batch_soak: 10s\n    pool_soak: 10s\n";

#[test]
fn a_bad_config_is_exit_2_with_its_position_and_nothing_is_contacted() {
    let cluster = SimCluster::start(POLICY);
    let before = cluster.recorder()["requests"].clone();
    let kc = cluster.served.kubeconfig.display().to_string();
    let cases = [
        (
            format!(
                "cluster:\n  name: cli-test\n  kubeconfig: {kc}\nprovider:\n  kind: sim\npools:\n  - name: blue\n    batch_soak: 5 minutes\n"
            ),
            "8:17: pools[0].batch_soak: invalid duration \"5 minutes\": expected a number and a unit such as 90s, 5m, 1h",
        ),
        (
            format!(
                "cluster:\n  name: cli-test\n  kubeconfig: {kc}\nprovider:\n  kind: sim\npools:\n  - name: blue\n    to: 1.31\n"
            ),
            "8:9: pools[0].to: invalid target 1.31: expected latest-patch, next-minor or a version X.Y.Z such as 1.31.4",
        ),
        (
            format!(
                "cluster:\n  name: cli-test\n  kubeconfig: {kc}\nprovider:\n  kind: sim\n  region: eu\npools:\n  - name: blue\n"
            ),
            "6:11: provider.region: does not apply to provider kind sim (kind sim takes no settings)",
        ),
    ];
    for (i, (text, message)) in cases.iter().enumerate() {
        let path = write_config(cluster.dir.path(), &format!("bad{i}.yaml"), text);
        let expected = format!("poolshift: {}:{message}\n", path.display());
        for command in
            [&["upgrade", "--yes"][..], &["plan"], &["status"], &["pause"], &["resume"], &["rollback"], &["abort"]]
        {
            let o = run(&[&command[..1], &["-c", path.to_str().unwrap()], &command[1..]].concat());
            assert_eq!(o.status.code(), Some(2), "{command:?}: {}", stderr(&o));
            assert_eq!(stderr(&o), expected, "{command:?}");
            assert!(stdout(&o).is_empty(), "{command:?}: {}", stdout(&o));
        }
    }
    // Without a terminal to confirm on, a job must pass --yes: refused before anything is contacted.
    let o = run(&["upgrade", "-c", cluster.config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "poolshift: no terminal to ask for confirmation: pass --yes to run unattended (runbook: scheduled-upgrades)\n"
    );
    assert_eq!(cluster.recorder()["requests"], before, "the simulator saw no request at all");
}

#[test]
fn commands_without_a_config_say_how_to_give_one() {
    for args in [&["upgrade", "--yes"][..], &["plan"], &["status"], &["pause"], &["resume"], &["rollback"], &["abort"]]
    {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o),
            "poolshift: no configuration file: pass -c FILE or set POOLSHIFT_CONFIG (there is no ./poolshift.yaml)\n",
            "{args:?}"
        );
    }
    let o = run(&["plan", "-c", "no/such/cluster.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("poolshift: cannot read configuration no/such/cluster.yaml: "), "{}", stderr(&o));
}

#[test]
fn plan_prints_text_or_json_and_snapshot_writes_the_cluster() {
    let cluster = SimCluster::start(POLICY);
    let config = cluster.config.to_str().unwrap();
    let o = run(&["plan", "-c", config]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("poolshift plan: cluster cli-test, pool blue: 1.31.1 -> 1.31.4 (plan "), "{out}");
    assert!(out.contains("4 blue nodes in 2 batches (batch 2 nodes); 23 pods to move, 0 blocked"), "{out}");

    let o = run(&["plan", "-c", config, "--to", "1.31.3", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(plan["target"]["version"], "1.31.3", "--to overrides the file");
    assert_eq!(plan["green"]["name"], "blue-v1-31-3");
    assert_eq!(plan["batches"].as_array().unwrap().len(), 2);

    let o = run(&["plan", "-c", config, "-o", "markdown"]);
    assert!(stdout(&o).starts_with("# Upgrade plan: pool `blue` of cluster `cli-test`\n"), "{}", stdout(&o));

    let snap = cluster.dir.path().join("snap.json");
    let o = run(&["snapshot", "-c", config, "-o", snap.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("wrote the snapshot of 4 nodes, "), "{}", stdout(&o));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    assert_eq!(s["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(s["server_version"], "v1.31.4");

    // Planning and snapshots only read (server-side dry-run evictions check the plan, persisting nothing).
    let writes: Vec<String> = cluster.recorder()["requests"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| ["create", "update", "patch", "delete"].iter().any(|v| k.starts_with(v)))
        .filter(|k| !k.ends_with("(dry-run)"))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "plan and snapshot wrote: {writes:?}");
}
