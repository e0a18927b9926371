//! `poolshift upgrade --yes` through the on-prem exec provider: the simulator is the cluster, the reference
//! plugin `poolshift-provider-kubesim` creates and deletes its nodes.

use crate::agent::SimCluster;
use crate::support::{repo_root, stderr, stdout};

/// No soaks: the agent runs on real time here (only the sim provider uses the simulator's clock).
const POLICY: &str =
    "    to: latest-patch\n    batch: 2\n    batch_soak: 0s\n    pool_soak: 0s\n    drain_timeout: 10m\n";

#[test]
fn upgrade_through_the_exec_plugin_reaches_done_without_breaking_a_budget() {
    let plugin = repo_root().join("providers/onprem/plugins/poolshift-provider-kubesim");
    let cluster = SimCluster::start_with(POLICY, |url| {
        format!(
            "  kind: onprem\n  plugin_path: {}\n  node_label: kubesim.io/pool\n  timeout: 60s\n  settings: {{kubesim_url: \"{url}\"}}\n",
            plugin.display()
        )
    });
    let o = cluster.run("upgrade", &["--yes"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{}", stderr(&o));
    assert!(out.contains("phase: Done"), "{out}");
    assert!(out.contains("blue pool blue deleted"), "{out}");
    cluster.assert_invariants();
    cluster.assert_only_green();
}
