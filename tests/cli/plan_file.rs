//! The reviewed plan is the executed plan: `plan --out FILE`, then `upgrade --plan FILE` against `sim serve`.
//! A material change to the cluster refuses (exit 6, nothing changed, the change listed); a benign one
//! proceeds and is reported; the plan id is in the checkpoint, `status -o json` and the summary. A plan with
//! blockers is refused without `--accept-blockers` (exit 5, nothing changed).

use serde_json::Value;

use crate::agent::SimCluster;
use crate::support::{poolshift, stderr, stdout};

const POLICY: &str =
    "    to: latest-patch\n    batch: 1\n    batch_soak: 20s\n    pool_soak: 30s\n    drain_timeout: 10m\n";

/// Nothing was changed by a refused upgrade: no green pool, no eviction, no checkpoint.
fn assert_untouched(cluster: &SimCluster) {
    assert_eq!(cluster.pools(), ["blue"], "no pool was created");
    assert_eq!(cluster.recorder()["evictions_by_pool"], serde_json::json!({}), "nothing was evicted");
    assert_eq!(cluster.status()["run"], Value::Null, "no run was recorded");
}

#[test]
fn a_reviewed_plan_refuses_material_drift_proceeds_on_benign_drift_and_is_what_runs() {
    let cluster = SimCluster::start(POLICY);
    let file = cluster.dir.path().join("plan.json");
    let o = cluster.run("plan", &["-o", "json", "--out", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let printed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(written, printed, "the file holds what -o json prints");
    let id = written["plan_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 16, "{id}");
    assert!(stderr(&o).contains(&format!("plan {id} written to {}", file.display())), "{}", stderr(&o));
    let plan = file.to_str().unwrap();

    // Material: a budget added for pods of the plan. Refused, listed, nothing changed.
    // Posted as JSON: kubectl 1.36's `create pdb` sends protobuf, which kubesim does not read.
    let pdb = cluster.dir.path().join("pdb.json");
    let body = r#"{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "worker", "namespace": "batch"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "worker"}}}}"#;
    std::fs::write(&pdb, body).unwrap();
    let pdbs = "/apis/policy/v1/namespaces/batch/poddisruptionbudgets";
    cluster.served.kubectl_ok(&["create", "--raw", pdbs, "-f", pdb.to_str().unwrap()]);
    let o = cluster.run("upgrade", &["--yes", "--plan", plan]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(6), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains(&format!("executing reviewed plan {id} ({plan})")), "{out}");
    assert!(out.contains("refuses: PodDisruptionBudget batch/worker was added (minAvailable 1)"), "{out}");
    assert!(err.contains(&format!("plan {id} ({plan}) is not executed: 1 material change(s)")), "{err}");
    assert_untouched(&cluster);

    // Too old: the simulated clock runs at 20x, so a second of age is soon passed.
    cluster.served.kubectl_ok(&["delete", "pdb", "worker", "-n", "batch"]);
    let o = cluster.run("upgrade", &["--yes", "--plan", plan, "--max-plan-age", "1s"]);
    assert_eq!(o.status.code(), Some(6), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("plans older than 1s are not executed"), "{}", stdout(&o));
    assert_untouched(&cluster);

    // A plan edited after review: a usage error, nothing contacted.
    let mut other = written.clone();
    other["pool"] = "red".into();
    let other_file = cluster.dir.path().join("other.json");
    std::fs::write(&other_file, other.to_string()).unwrap();
    let o = cluster.run("upgrade", &["--yes", "--plan", other_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not match its plan_id"), "{}", stderr(&o));

    // Benign: a pod replaced by its controller. Proceeds, says so, and runs the reviewed plan to the end.
    let pods = cluster.served.kubectl_json(&["get", "pods", "-n", "shop", "-l", "app=web"]);
    let victim = pods["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    cluster.served.kubectl_ok(&["delete", "pod", "-n", "shop", &victim, "--wait=true"]);
    let o = cluster.run("upgrade", &["--yes", "--plan", plan]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains(&format!("proceeds: pod shop/{victim}")), "{out}");
    assert!(!out.contains("refuses:"), "{out}");
    assert!(out.contains("23 pods moved in 4 batches"), "{out}");
    assert!(out.contains(&format!(", plan {id}\n")), "the summary names the plan: {out}");
    cluster.assert_invariants();
    cluster.assert_only_green();

    let s = cluster.status();
    assert_eq!(s["run"]["plan_id"], id.as_str());
    assert_eq!(s["run"]["plan_file"], plan);
    let o = cluster.run("status", &[]);
    assert!(stdout(&o).contains(&format!("  plan {id} (reviewed: {plan})")), "{}", stdout(&o));
    let cm = cluster.served.kubectl_json(&["get", "configmap", "-n", "poolshift-system", "poolshift-cli-test-blue"]);
    let checkpoint: Value = serde_json::from_str(cm["data"]["checkpoint.json"].as_str().unwrap()).unwrap();
    assert_eq!(checkpoint["plan_id"], id.as_str());
    assert_eq!(checkpoint["plan"]["plan_id"], id.as_str());
    assert!(checkpoint["plan"].get("review").is_none(), "the checkpoint keeps no review data");
    assert_eq!(checkpoint["plan"]["batches"], written["batches"], "the batches that ran are the reviewed ones");
}

#[test]
fn a_plan_with_blockers_is_refused_unless_accepted() {
    let (served, _dir, config) = crate::plan::demo();
    let o = poolshift().arg("upgrade").arg("-c").arg(&config).arg("--yes").output().unwrap();
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(5), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("blocked pods:\n"), "{out}");
    assert!(err.contains("pass --accept-blockers to start anyway; nothing was changed"), "{err}");
    let pools: Value = serde_json::from_str(&served.kubectl_ok(&["get", "--raw", "/sim/v1/pools"])).unwrap();
    assert_eq!(pools["items"].as_array().unwrap().len(), 1, "no green pool: {pools}");
    let nodes = served.kubectl_json(&["get", "nodes"]);
    for n in nodes["items"].as_array().unwrap() {
        assert_ne!(n["spec"]["unschedulable"], true, "no node was cordoned: {}", n["metadata"]["name"]);
    }

    // Accepted: the run starts (it is stopped once green is being created).
    let mut cmd = poolshift();
    cmd.arg("upgrade").arg("-c").arg(&config).args(["--yes", "--accept-blockers"]);
    let mut agent = crate::support::Agent::spawn(cmd);
    agent.wait_for("phase: CreatingGreen");
    agent.kill9();
}
