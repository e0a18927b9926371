//! EKS AMI release versions as targets (`1.31.4-20250123`): `--to` and `to:` take them with provider kind
//! eks and the plan's green pool carries the release (the EKS provider's moto tests show it is sent as
//! `releaseVersion`); with any other provider they are a usage error naming the value and the provider,
//! before anything is changed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Served, demo_scenario, poolshift, stderr, stdout};

const RELEASE: &str = "1.31.4-20250123";

fn config(dir: &Path, file: &str, kubeconfig: &Path, provider: &str, to: &str) -> PathBuf {
    let path = dir.join(file);
    let text = format!(
        "cluster:\n  name: demo\n  kubeconfig: {}\nprovider:\n{provider}pools:\n  - name: blue\n    to: {to}\n",
        kubeconfig.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

const SIM: &str = "  kind: sim\n";
const EKS: &str = "  kind: eks\n  region: eu-west-1\n  cluster: demo\n  endpoint_url: http://127.0.0.1:9\n";

fn plan(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = poolshift().arg("plan").arg("-c").arg(config).args(args).output().unwrap();
    (o.status.code(), stdout(&o), stderr(&o))
}

fn pools(served: &Served) -> Value {
    serde_json::from_str(&served.kubectl_ok(&["get", "--raw", "/sim/v1/pools"])).unwrap()
}

#[test]
fn a_release_target_reaches_the_green_pool_with_eks_and_is_a_usage_error_elsewhere() {
    let served = Served::start(&demo_scenario(), 1.0);
    let dir = tempfile::tempdir().unwrap();
    let sim = config(dir.path(), "sim.yaml", &served.kubeconfig, SIM, "1.31.4");
    let snapshot = dir.path().join("snapshot.json");
    let o = poolshift().arg("snapshot").arg("-c").arg(&sim).arg("-o").arg(&snapshot).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let offline = ["-o", "json", "--from-snapshot", snapshot.to_str().unwrap()];

    // eks: `--to` over the file's target, and `to:` in the file; planned offline (nothing contacted).
    let eks = config(dir.path(), "eks.yaml", &served.kubeconfig, EKS, "1.31.4");
    let eks_release = config(dir.path(), "eks-release.yaml", &served.kubeconfig, EKS, RELEASE);
    for (file, extra) in [(&eks, &["--to", RELEASE][..]), (&eks_release, &[][..])] {
        let (code, out, err) = plan(file, &[&offline[..], extra].concat());
        assert_eq!(code, Some(5), "the demo's blocker, not a refusal: {err}");
        let plan: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(plan["target"]["version"], RELEASE, "{}", plan["target"]);
        assert_eq!(plan["target"]["policy"], RELEASE);
        assert_eq!(plan["green"]["version"], RELEASE, "green is created at the release");
        assert_eq!(plan["green"]["name"], "blue-v1-31-4-20250123");
    }

    // Any other provider: exit 2 naming the value and the provider, and nothing changed.
    let before = pools(&served);
    let (code, out, err) = plan(&sim, &["--to", RELEASE]);
    assert_eq!(code, Some(2), "{err}\n{out}");
    assert_eq!(
        err,
        format!(
            "poolshift: --to {RELEASE}: target {RELEASE} names a provider release (an EKS AMI release version), \
             which provider kind sim does not take: use the kubelet version 1.31.4\n"
        )
    );
    assert!(out.is_empty(), "{out}");
    let o = poolshift().args(["upgrade", "--yes", "-c"]).arg(&sim).args(["--to", RELEASE]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("provider kind sim does not take"), "{}", stderr(&o));
    let file = config(dir.path(), "sim-release.yaml", &served.kubeconfig, SIM, RELEASE);
    let (code, _, err) = plan(&file, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "poolshift: {}:8:9: pools[0].to: target {RELEASE} names a provider release (an EKS AMI release \
             version), which provider kind sim does not take: use the kubelet version 1.31.4\n",
            file.display()
        )
    );
    assert_eq!(pools(&served), before, "no pool created or changed");
    let checkpoints = served.kubectl_ok(&["get", "configmaps", "-A", "-o", "name"]);
    assert!(!checkpoints.contains("poolshift-demo-blue"), "no run started: {checkpoints}");
}
