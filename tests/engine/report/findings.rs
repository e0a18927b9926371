//! Golden reports of a cluster with every finding the report knows. The cluster is the scenario
//! `tests/golden/findings.scenario.yaml`, planned with the preflight against the live simulator. Three things
//! the simulator cannot serve are added to its snapshot (and the test says where):
//! - PersistentVolumes: one claim bound to a local volume, one to a volume in zone eu-west-1c;
//! - a Job pod on a blue node;
//! - the provider describing blue without zone eu-west-1c (as when a zone is taken out of a node group), so
//!   that green has no node in a zone where blue has one.

use std::collections::BTreeMap;
use std::time::Duration;

use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift::kube::KubeCluster;
use poolshift::model::plan::{Severity, UpgradePlan};
use poolshift::model::policy::{BatchSize, Policy};
use poolshift::model::snapshot::{OwnerRef, PodInfo, Resources, Snapshot, VolumeInfo};
use poolshift::plan::target::TargetPolicy;
use poolshift::ports::Cluster;
use poolshift::report::{self, Format};
use poolshift::session::{plan_offline, provider_record};
use poolshift_provider_sim::SimProvider;

use super::golden;

pub const SCENARIO: &str = "tests/golden/findings.scenario.yaml";

/// The simulated cluster and its snapshot with what the simulator cannot serve added.
pub async fn cluster() -> (Simulator, Snapshot) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO);
    let sc = Scenario::load(&path).expect("scenario");
    let sim = Simulator::from_scenario(&sc, SimOptions { seed: sc.seed, speed: 1.0 }).expect("loads");
    let client = sim.client();
    let mut snap = KubeCluster::new(client.clone()).snapshot().await.expect("snapshot");
    assert!(snap.volumes.is_none(), "the simulator serves no PersistentVolumes");
    let zone_c = snap.nodes.iter().find(|n| n.zone() == Some("eu-west-1c")).map(|n| n.name.clone()).unwrap();
    // PersistentVolumes: db-0's claim is a local volume on its node; a pod in zone c has a zonal one.
    let db0 = snap.pods.iter_mut().find(|p| p.name == "db-0").unwrap();
    db0.pvcs = vec!["data-db-0".into()];
    let db0_node = db0.node.clone();
    let in_c = snap
        .pods
        .iter_mut()
        .find(|p| p.node.as_deref() == Some(zone_c.as_str()) && p.name.starts_with("spread-"))
        .expect("a pod of Deployment spread in zone c");
    in_c.pvcs = vec!["uploads".into()];
    let in_c_ns = in_c.namespace.clone();
    snap.volumes = Some(vec![
        VolumeInfo {
            namespace: "data".into(),
            claim: "data-db-0".into(),
            volume: Some("pv-local-db-0".into()),
            zone: None,
            local: true,
            node: db0_node,
        },
        VolumeInfo {
            namespace: in_c_ns,
            claim: "uploads".into(),
            volume: Some("pv-uploads".into()),
            zone: Some("eu-west-1c".into()),
            local: false,
            node: None,
        },
    ]);
    // A Job pod on the first blue node.
    let first_blue = snap.nodes.iter().find(|n| n.name.starts_with("blue-")).map(|n| n.name.clone());
    snap.pods.push(PodInfo {
        namespace: "batch".into(),
        name: "nightly-report-x7k2p".into(),
        uid: "00000000-0000-4000-8000-00000000j0b1".into(),
        node: first_blue,
        phase: "Running".into(),
        ready: true,
        labels: BTreeMap::from([("job-name".to_string(), "nightly-report".to_string())]),
        controller: Some(OwnerRef { kind: "Job".into(), name: "nightly-report".into(), uid: "job-uid".into() }),
        workload: Some("Job/nightly-report".into()),
        requests: Resources { cpu_millis: 500, memory_bytes: 512 << 20, pods: 1 },
        ..Default::default()
    });
    // The provider's record, describing blue without zone c.
    let mut record = provider_record(&SimProvider::new(client), "blue").await.expect("describe");
    record.blue.zones.retain(|z| z != "eu-west-1c");
    snap.providers = vec![record];
    (sim, snap)
}

pub fn policy() -> Policy {
    Policy {
        batch: BatchSize::Nodes(2),
        batch_soak: Duration::from_secs(10),
        pool_soak: Duration::from_secs(60),
        drain_timeout: Duration::from_secs(300),
        ..Default::default()
    }
}

pub async fn plan() -> (Simulator, Snapshot, UpgradePlan) {
    let (sim, snap) = cluster().await;
    let target: TargetPolicy = "1.31.4".parse().unwrap();
    let mut plan = plan_offline("2026-01-01T00:00:00Z", "findings", &snap, "blue", &target, &policy()).expect("plans");
    let cluster = KubeCluster::new(sim.client());
    let clock = std::sync::Arc::new(poolshift::time::TokioClock::new(1.0));
    plan.review.preflight = Some(poolshift::preflight::check(&cluster, clock, &plan, 4).await);
    (sim, snap, plan)
}

#[tokio::test(start_paused = true)]
async fn every_finding_shows_in_the_three_formats() {
    let (sim, _, plan) = plan().await;
    let text = report::render(&plan, Format::Text).unwrap();
    golden::check("findings.txt", &text);
    golden::check("findings.md", &report::render(&plan, Format::Markdown).unwrap());
    golden::check("findings.json", &report::render(&plan, Format::Json).unwrap());
    golden::assert_fits_100_columns(&text);
    let codes = |s: Severity| -> Vec<&str> {
        plan.findings.iter().filter(|f| f.severity == s).map(|f| f.code.as_str()).collect()
    };
    assert_eq!(
        codes(Severity::Blocker),
        [
            "bare-pod",
            "do-not-disrupt",
            "empty-dir",
            "multiple-pdbs",
            "pdb-sync-failed",
            "safe-to-evict-false",
            "zero-budget",
            "zero-budget"
        ]
    );
    for risk in [
        "capacity-zone-missing",
        "job-running",
        "local-volume",
        "node-selector",
        "pdb-at-budget",
        "pdb-matches-nothing",
        "tolerates-everything",
        "topology-spread",
        "zonal-volume",
    ] {
        assert!(codes(Severity::Risk).contains(&risk), "no {risk} in {:?}", codes(Severity::Risk));
    }
    let pdb_findings: Vec<(&str, Vec<&str>)> = plan
        .review
        .pdbs
        .iter()
        .map(|p| (p.name.as_str(), p.findings.iter().map(String::as_str).collect()))
        .filter(|(_, f): &(&str, Vec<&str>)| !f.is_empty())
        .collect();
    for (pdb, finding) in [
        ("shop/locked", "zero-budget"),
        ("finance/solo", "zero-budget"),
        ("shop/web", "overlapping"),
        ("shop/ghost", "matches-nothing"),
        ("batch/tier-batch", "sync-failed"),
        ("shop/flaky", "at-budget"),
    ] {
        assert!(
            pdb_findings.iter().any(|(p, f)| *p == pdb && f.contains(&finding)),
            "{pdb} should have {finding}: {pdb_findings:?}"
        );
    }
    // The API server's own answers: budgets refuse, the overlapping budgets make it answer 500.
    let pre = plan.review.preflight.as_ref().unwrap();
    let answers: Vec<(&str, &str)> = pre.refused.iter().map(|a| (a.pod.as_str(), a.answer.as_str())).collect();
    assert!(answers.iter().any(|(p, a)| p.starts_with("shop/web-") && *a == "refused"), "{answers:?}");
    assert!(answers.iter().any(|(p, a)| p.starts_with("shop/locked-") && *a == "budget"), "{answers:?}");
    assert!(answers.iter().any(|(p, a)| p.starts_with("shop/flaky-") && *a == "budget"), "{answers:?}");
    assert_eq!(pre.checked, pre.allowed + pre.refused.len());
    // A preflight is dry runs only: nothing was evicted.
    let rec = sim.store().lock().recorder.summary();
    assert!(rec.evictions_by_pool.is_empty(), "{rec:?}");
    assert!(
        rec.requests.keys().all(|k| k.starts_with("list ") || k.starts_with("get ") || k.ends_with("(dry-run)")),
        "{rec:?}"
    );
}
