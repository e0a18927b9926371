use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, NodeMatcher, OfferedVersions, PoolDescription, PoolSize,
};

use super::*;
use crate::model::plan::{BlockReason, Disposition, Severity, SkipReason};
use crate::model::policy::BatchSize;
use crate::model::snapshot::{OwnerRef, Resources};

fn node(name: &str, zone: &str, pool: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        labels: [("pool".to_string(), pool.to_string()), ("topology.kubernetes.io/zone".to_string(), zone.to_string())]
            .into(),
        unschedulable: false,
        ready: true,
        kubelet_version: "v1.30.2".into(),
        allocatable: Resources { cpu_millis: 4000, memory_bytes: 16 << 30, pods: 110 },
        taints: vec![],
    }
}

fn pod(ns: &str, name: &str, node: &str, owner: Option<(&str, &str)>, app: &str) -> PodInfo {
    PodInfo {
        namespace: ns.into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        node: Some(node.into()),
        phase: "Running".into(),
        ready: true,
        terminating: false,
        labels: [("app".to_string(), app.to_string())].into(),
        controller: owner.map(|(k, n)| OwnerRef { kind: k.into(), name: n.into(), uid: format!("uid-{n}") }),
        workload: owner.map(|(k, n)| format!("{k}/{n}")),
        requests: Resources { cpu_millis: 100, memory_bytes: 128 << 20, pods: 1 },
        empty_dir: false,
        pvcs: vec![],
        mirror: false,
        do_not_disrupt: None,
        safe_to_evict: None,
        tolerates_all: false,
        priority_class: None,
        unschedulable: None,
    }
}

fn pdb(
    ns: &str,
    name: &str,
    app: &str,
    min: Option<IntOrString>,
    max: Option<IntOrString>,
    st: (i32, i32, i32, i32),
) -> PdbInfo {
    PdbInfo {
        namespace: ns.into(),
        name: name.into(),
        selector: Some(LabelSelector {
            match_labels: Some([("app".to_string(), app.to_string())].into()),
            ..Default::default()
        }),
        min_available: min,
        max_unavailable: max,
        unhealthy_pod_eviction_policy: None,
        expected_pods: st.0,
        desired_healthy: st.1,
        current_healthy: st.2,
        disruptions_allowed: st.3,
        generation: 1,
        observed_generation: 1,
        sync_failed: None,
        resource_version: String::new(),
    }
}

fn blue() -> PoolDescription {
    PoolDescription {
        name: "blue".into(),
        version: "1.30.2".into(),
        instance_types: vec!["m5.xlarge".into()],
        zones: vec!["a".into(), "b".into()],
        capacity_type: CapacityType::OnDemand,
        labels: BTreeMap::new(),
        taints: vec![],
        size: PoolSize { min: 4, max: 4, desired: 4 },
        autoscaling: AutoscalingSettings::default(),
        disk_gb: None,
        extra: BTreeMap::new(),
    }
}

fn snapshot() -> Snapshot {
    let mut pods = vec![
        pod("shop", "web-1", "b1", Some(("ReplicaSet", "web-abc")), "web"),
        pod("shop", "web-2", "b2", Some(("ReplicaSet", "web-abc")), "web"),
        pod("shop", "solo", "b1", Some(("ReplicaSet", "solo-x")), "solo"),
        pod("shop", "bare", "b3", None, "bare"),
        pod("shop", "both", "b4", Some(("ReplicaSet", "both-x")), "web"),
        pod("kube-system", "agent-1", "b1", Some(("DaemonSet", "agent")), "agent"),
        pod("batch", "job-1", "b2", Some(("Job", "nightly")), "job"),
        pod("shop", "green-web", "g1", Some(("ReplicaSet", "web-abc")), "web"),
    ];
    let mut done = pod("shop", "done", "b3", Some(("ReplicaSet", "x")), "done");
    done.phase = "Succeeded".into();
    pods.push(done);
    let mut cache = pod("shop", "cache", "b4", Some(("ReplicaSet", "cache")), "cache");
    cache.empty_dir = true;
    pods.push(cache);
    let mut both = pdb("shop", "web-extra", "web", Some(IntOrString::Int(1)), None, (4, 1, 4, 3));
    both.selector = Some(LabelSelector {
        match_expressions: Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
            key: "app".into(),
            operator: "In".into(),
            values: Some(vec!["web".into()]),
        }]),
        ..Default::default()
    });
    // `both` only: give it a label that only web-extra selects? Keep: web-1/web-2 are matched by two PDBs too.
    Snapshot {
        schema: 1,
        server_version: "v1.31.4".into(),
        nodes: vec![
            node("b1", "a", "blue"),
            node("b2", "b", "blue"),
            node("b3", "a", "blue"),
            node("b4", "b", "blue"),
            node("g1", "a", "green"),
        ],
        pods,
        pdbs: vec![
            pdb("shop", "web", "web", None, Some(IntOrString::Int(1)), (4, 3, 4, 1)),
            pdb("shop", "solo", "solo", Some(IntOrString::Int(1)), None, (1, 1, 1, 0)),
            pdb("shop", "nobody", "ghost", Some(IntOrString::Int(1)), None, (0, 1, 0, 0)),
        ],
        scales: BTreeMap::new(),
    }
}

fn plan_with(snap: &Snapshot, policy: &Policy, target: &str) -> Result<UpgradePlan, PlanError> {
    let blue = blue();
    let matcher = NodeMatcher { label: "pool".into(), value: "blue".into() };
    let offered = OfferedVersions {
        control_plane: "1.31.4".into(),
        node_versions: vec!["1.30.2".into(), "1.30.8".into(), "1.31.4".into()],
    };
    let tp: TargetPolicy = target.parse().unwrap();
    let name = |v: &str| poolshift_provider_api::default_green_name("blue", v, 63);
    build(&PlanInput {
        cluster: "c",
        snapshot: snap,
        blue: &blue,
        matcher: &matcher,
        offered: &offered,
        target: &tp,
        policy,
        green_name: &name,
    })
}

fn disposition<'a>(plan: &'a UpgradePlan, name: &str) -> &'a Disposition {
    &plan.pods().find(|p| p.name == name).unwrap_or_else(|| panic!("{name} not planned")).disposition
}

#[test]
fn classifies_every_kind_of_pod() {
    let plan = plan_with(&snapshot(), &Policy::default(), "latest-patch").unwrap();
    assert_eq!(plan.target.version.to_string(), "1.30.8");
    assert_eq!(plan.green.name, "blue-v1-30-8");
    assert_eq!(disposition(&plan, "web-1"), &Disposition::Evict);
    assert_eq!(disposition(&plan, "agent-1"), &Disposition::Skip(SkipReason::DaemonSet));
    assert_eq!(disposition(&plan, "done"), &Disposition::Skip(SkipReason::Finished));
    assert_eq!(disposition(&plan, "job-1"), &Disposition::WaitForCompletion);
    assert_eq!(disposition(&plan, "bare"), &Disposition::Blocked(BlockReason::BarePod));
    assert_eq!(disposition(&plan, "cache"), &Disposition::Blocked(BlockReason::EmptyDir));
    assert!(
        matches!(disposition(&plan, "solo"), Disposition::Blocked(BlockReason::ZeroBudget { pdb, .. }) if pdb == "shop/solo")
    );
    // Pods on green nodes are not part of the plan.
    assert!(plan.pods().all(|p| p.name != "green-web"));
    assert!(
        plan.findings
            .iter()
            .any(|f| f.severity == Severity::Blocker && f.code == "bare-pod" && f.objects == ["shop/bare"])
    );
    assert!(plan.findings.iter().any(|f| f.code == "pdb-matches-nothing" && f.objects == ["shop/nobody"]));
}

#[test]
fn overlapping_pdbs_block_and_allow_flags_unblock() {
    let mut snap = snapshot();
    snap.pdbs.push(pdb("shop", "web-dup", "web", Some(IntOrString::Int(1)), None, (4, 1, 4, 3)));
    let plan = plan_with(&snap, &Policy::default(), "1.31.4").unwrap();
    assert!(
        matches!(disposition(&plan, "web-1"), Disposition::Blocked(BlockReason::MultiplePdbs { pdbs }) if pdbs == &["shop/web", "shop/web-dup"])
    );
    let policy = Policy {
        allow: crate::model::policy::Allow { bare_pods: true, empty_dir: true, ..Default::default() },
        ..Default::default()
    };
    let plan = plan_with(&snapshot(), &policy, "1.31.4").unwrap();
    assert_eq!(disposition(&plan, "bare"), &Disposition::Evict);
    assert_eq!(disposition(&plan, "cache"), &Disposition::Evict);
}

#[test]
fn batches_interleave_zones_and_are_deterministic() {
    let policy = Policy { batch: BatchSize::Percent(50), ..Default::default() };
    let a = plan_with(&snapshot(), &policy, "1.31.4").unwrap();
    assert_eq!(a.blue_nodes, ["b1", "b2", "b3", "b4"]);
    assert_eq!(a.batches.len(), 2);
    assert_eq!(a.batches[0].nodes, ["b1", "b2"]);
    let b = plan_with(&snapshot(), &policy, "1.31.4").unwrap();
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    // And it round-trips through JSON unchanged.
    let back: UpgradePlan = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(back, a);
}

#[test]
fn refuses_without_blue_nodes_or_with_bad_target() {
    let mut snap = snapshot();
    snap.nodes.retain(|n| n.name == "g1");
    assert!(matches!(plan_with(&snap, &Policy::default(), "1.31.4"), Err(PlanError::NoBlueNodes { .. })));
    let e = plan_with(&snapshot(), &Policy::default(), "1.32.0").unwrap_err();
    assert!(e.to_string().contains("not offered"), "{e}");
}
