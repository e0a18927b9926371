use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, NodeMatcher, OfferedVersions, PoolDescription, PoolSize,
};

use super::*;
use crate::model::plan::{BlockReason, Disposition, Severity, SkipReason};
use crate::model::policy::BatchSize;
use crate::model::snapshot::{OwnerRef, PdbInfo, Resources};

pub(crate) fn node(name: &str, zone: &str, pool: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        uid: String::new(),
        labels: [("pool".to_string(), pool.to_string()), ("topology.kubernetes.io/zone".to_string(), zone.to_string())]
            .into(),
        unschedulable: false,
        ready: true,
        kubelet_version: "v1.30.2".into(),
        allocatable: Resources { cpu_millis: 4000, memory_bytes: 16 << 30, pods: 110 },
        taints: vec![],
    }
}

pub(crate) fn pod(ns: &str, name: &str, node: &str, owner: Option<(&str, &str)>, app: &str) -> PodInfo {
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
        workload: owner.map(|(k, n)| crate::model::identity::WorkloadRef::new(k, n)),
        requests: Resources { cpu_millis: 100, memory_bytes: 128 << 20, pods: 1 },
        empty_dir: false,
        pvcs: vec![],
        mirror: false,
        do_not_disrupt: None,
        safe_to_evict: None,
        tolerates_all: false,
        priority_class: None,
        unschedulable: None,
        node_selector: BTreeMap::new(),
        spread: vec![],
    }
}

pub(crate) fn pdb(
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

pub(super) fn snapshot() -> Snapshot {
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
        volumes: None,
        providers: vec![],
    }
}

pub(super) fn plan_with(snap: &Snapshot, policy: &Policy, target: &str) -> Result<UpgradePlan, PlanError> {
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

fn finding<'a>(plan: &'a UpgradePlan, code: &str) -> Option<&'a crate::model::plan::Finding> {
    plan.findings.iter().find(|f| f.code == code)
}

#[test]
fn capacity_per_zone_counts_moving_requests_against_green_after_daemonsets() {
    let plan = plan_with(&snapshot(), &Policy::default(), "1.31.4").unwrap();
    let cap = &plan.review.capacity;
    assert_eq!(cap.per_node, Resources { cpu_millis: 4000, memory_bytes: 16 << 30, pods: 110 });
    assert_eq!(cap.daemonset_overhead, Resources { cpu_millis: 100, memory_bytes: 128 << 20, pods: 1 });
    assert_eq!(cap.green_nodes, 4);
    let zones: Vec<(&str, u32, u32, u32, u64, u64, u32)> = cap
        .zones
        .iter()
        .map(|z| {
            (
                z.zone.as_str(),
                z.blue_nodes,
                z.green_nodes,
                z.moving_pods,
                z.moving.cpu_millis,
                z.green_free.cpu_millis,
                z.nodes_needed,
            )
        })
        .collect();
    // Zone a: web-1 moves (solo and bare are blocked); zone b: web-2 and both (cache is blocked).
    assert_eq!(zones, vec![("a", 2, 2, 1, 100, 2 * 3900, 1), ("b", 2, 2, 2, 200, 2 * 3900, 1)]);
    assert_eq!(cap.nodes_needed, 2);
    assert!(finding(&plan, "capacity-short").is_none());
    assert!(finding(&plan, "capacity").is_some_and(|f| f.severity == Severity::Info));
    // The versions section: offered, blue's kubelets, the skew.
    let v = &plan.review.versions;
    assert_eq!(v.offered.iter().map(ToString::to_string).collect::<Vec<_>>(), ["1.30.2", "1.30.8", "1.31.4"]);
    assert_eq!(v.blue_kubelets.get("1.30.2"), Some(&4));
    assert_eq!((v.skew.minors_behind, v.skew.max_behind), (0, 3));
}

fn plan_blue_in(snap: &Snapshot, zones: &[&str], policy: &Policy) -> UpgradePlan {
    let mut blue = blue();
    blue.zones = zones.iter().map(|z| z.to_string()).collect();
    let matcher = NodeMatcher { label: "pool".into(), value: "blue".into() };
    let offered = OfferedVersions { control_plane: "1.31.4".into(), node_versions: vec!["1.31.4".into()] };
    let name = |v: &str| poolshift_provider_api::default_green_name("blue", v, 63);
    build(&PlanInput {
        cluster: "c",
        snapshot: snap,
        blue: &blue,
        matcher: &matcher,
        offered: &offered,
        target: &"1.31.4".parse().unwrap(),
        policy,
        green_name: &name,
    })
    .unwrap()
}

#[test]
fn volumes_zones_and_spread_green_lacks_are_risks() {
    use crate::model::review::VolumeSource;
    use crate::model::snapshot::{Spread, VolumeInfo};
    let mut snap = snapshot();
    for p in &mut snap.pods {
        match p.name.as_str() {
            "web-1" => p.pvcs = vec!["data".into()],
            "both" => p.pvcs = vec!["scratch".into()],
            "web-2" => p.spread = vec![Spread { key: "topology.kubernetes.io/zone".into(), max_skew: 1 }],
            _ => {}
        }
    }
    // The provider describes blue in zone a only: green will have no node in zone b.
    let plan = plan_blue_in(&snap, &["a"], &Policy::default());
    assert_eq!(plan.review.volumes.source, VolumeSource::AssumedNodeZone);
    let problems: Vec<(&str, Option<&str>)> =
        plan.review.volumes.claims.iter().map(|c| (c.claim.as_str(), c.problem.as_deref())).collect();
    assert_eq!(
        problems,
        vec![
            ("data", None),
            ("scratch", Some("volume in zone b (assumed: its pod's node zone), where green has no node"))
        ]
    );
    assert_eq!(finding(&plan, "zonal-volume").unwrap().objects, ["shop/both (claim scratch)"]);
    assert_eq!(finding(&plan, "topology-spread").unwrap().objects, ["shop/web-2"]);
    assert!(finding(&plan, "capacity-zone-missing").unwrap().message.contains("b (2 pods)"));
    let zone_b = plan.review.capacity.zones.iter().find(|z| z.zone == "b").unwrap();
    assert_eq!((zone_b.green_nodes, zone_b.moving_pods), (0, 2));
    // Green's 4 nodes all go to zone a.
    assert_eq!(plan.review.capacity.zones[0].green_nodes, 4);

    // With PersistentVolumes read: a local volume, and a zonal one whose zone green has.
    snap.volumes = Some(vec![
        VolumeInfo {
            namespace: "shop".into(),
            claim: "data".into(),
            volume: Some("pv-data".into()),
            zone: Some("a".into()),
            local: false,
            node: None,
        },
        VolumeInfo {
            namespace: "shop".into(),
            claim: "scratch".into(),
            volume: Some("pv-local".into()),
            zone: None,
            local: true,
            node: Some("b4".into()),
        },
    ]);
    let plan = plan_blue_in(&snap, &["a", "b"], &Policy::default());
    assert_eq!(plan.review.volumes.source, VolumeSource::PersistentVolumes);
    assert_eq!(finding(&plan, "local-volume").unwrap().objects, ["shop/both (claim scratch)"]);
    assert!(finding(&plan, "zonal-volume").is_none());
    assert!(finding(&plan, "topology-spread").is_none());
}

#[test]
fn budgets_are_reported_with_their_findings() {
    let mut snap = snapshot();
    snap.pdbs.push(pdb("shop", "web-dup", "web", Some(IntOrString::Int(1)), None, (4, 1, 4, 3)));
    let mut failing = pdb("shop", "broken", "cache", Some(IntOrString::String("50%".into())), None, (0, 0, 0, 0));
    failing.sync_failed = Some("found no controllers for pod cache".into());
    snap.pdbs.push(failing);
    let plan = plan_with(&snap, &Policy::default(), "1.31.4").unwrap();
    let report = |name: &str| plan.review.pdbs.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{name}"));
    let web = report("shop/web");
    assert_eq!((web.rule.as_str(), web.expected, web.desired, web.allowed), ("maxUnavailable 1", 4, 3, 1));
    assert_eq!(web.findings, ["overlapping"]);
    assert!(web.notes[0].contains("shop/web-dup"), "{:?}", web.notes);
    assert_eq!(web.pods_in_plan, 3, "web-1, web-2 and both");
    assert_eq!(report("shop/solo").findings, ["zero-budget"]);
    assert_eq!(report("shop/nobody").findings, ["matches-nothing"]);
    assert_eq!(report("shop/broken").findings, ["sync-failed"]);
    assert_eq!(plan.review.pdbs.len(), 5, "every budget here guards a pod of the plan or selects nothing");
}

#[test]
fn selectors_jobs_and_allowed_evictions_are_risks() {
    let mut snap = snapshot();
    snap.nodes[1].labels.insert("disk".into(), "ssd".into());
    for p in &mut snap.pods {
        match p.name.as_str() {
            "web-1" => p.node_selector = [("pool".to_string(), "blue".to_string())].into(),
            "web-2" => p.node_selector = [("disk".to_string(), "ssd".to_string())].into(),
            _ => {}
        }
    }
    let policy =
        Policy { allow: crate::model::policy::Allow { bare_pods: true, ..Default::default() }, ..Default::default() };
    let plan = plan_with(&snap, &policy, "1.31.4").unwrap();
    let selectors: Vec<(&str, &[String])> = plan
        .findings
        .iter()
        .filter(|f| f.code == "node-selector")
        .map(|f| (f.message.as_str(), f.objects.as_slice()))
        .collect();
    assert_eq!(selectors.len(), 2, "{selectors:?}");
    assert!(selectors.iter().any(|(m, o)| m.contains("pool=blue, blue's own pool label") && *o == ["shop/web-1"]));
    assert!(selectors.iter().any(|(m, o)| m.contains("disk=ssd, a label blue's nodes carry") && *o == ["shop/web-2"]));
    assert_eq!(finding(&plan, "job-running").unwrap().objects, ["batch/job-1"]);
    assert_eq!(finding(&plan, "evicting-bare-pod").unwrap().objects, ["shop/bare"]);
    assert!(finding(&plan, "bare-pod").is_none(), "allowed: not a blocker");
}
