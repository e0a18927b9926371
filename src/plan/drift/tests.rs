//! The drift rules, case by case: one change to the cluster (or the configuration) against the plan made
//! before it, and what the comparison concludes.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::super::tests::{node, pdb, plan_with, pod, snapshot};
use super::*;
use crate::model::snapshot::Snapshot;

const MADE: &str = "2026-12-01T10:00:00Z";

fn reviewed() -> UpgradePlan {
    let mut plan = plan_with(&snapshot(), &Policy::default(), "latest-patch").expect("plans");
    crate::model::plan_id::stamp(&mut plan, MADE);
    plan
}

fn check_at(now: &str) -> (Policy, jiff::Timestamp) {
    (Policy::default(), now.parse().expect("a time"))
}

/// The start check after `change` was applied to the snapshot (and the configuration's policy/target).
fn start_drift(change: impl Fn(&mut Snapshot, &mut Policy, &mut String)) -> Drift {
    let reviewed = reviewed();
    let mut snap = snapshot();
    let (mut policy, now) = check_at("2026-12-01T11:00:00Z");
    let mut target = "latest-patch".to_string();
    change(&mut snap, &mut policy, &mut target);
    let fresh = plan_with(&snap, &policy, &target).expect("plans");
    let observed = Observed::from_plan(&fresh, &snap.pdbs);
    before_start(
        &reviewed,
        &fresh,
        &observed,
        &StartCheck { policy_now: &policy, now, max_age: Duration::from_secs(24 * 3600) },
    )
}

fn kinds(changes: &[Change]) -> Vec<ChangeKind> {
    changes.iter().map(|c| c.kind).collect()
}

#[test]
fn an_unchanged_cluster_has_no_drift() {
    assert_eq!(start_drift(|_, _, _| {}), Drift::default());
}

#[test]
fn each_change_is_material_or_benign_as_documented() {
    type Change = fn(&mut Snapshot, &mut Policy, &mut String);
    /// (what, the change, material kinds, benign kinds, a phrase the report says)
    type Case = (&'static str, Change, Vec<ChangeKind>, Vec<ChangeKind>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "a pod replaced by its controller on the same node",
            |s, _, _| {
                let i = s.pods.iter().position(|p| p.name == "web-1").expect("web-1");
                s.pods[i].name = "web-1b".into();
                s.pods[i].uid = "uid-web-1b".into();
            },
            vec![],
            vec![ChangeKind::PodReplaced],
            "pod shop/web-1 was replaced by shop/web-1b",
        ),
        (
            "a replica scaled away",
            |s, _, _| s.pods.retain(|p| p.name != "web-2"),
            vec![],
            vec![ChangeKind::PodGone],
            "pod shop/web-2 on node b2 is gone",
        ),
        (
            "a new replica that moves too",
            |s, _, _| s.pods.push(pod("shop", "web-3", "b3", Some(("ReplicaSet", "web-abc")), "other")),
            vec![],
            vec![ChangeKind::PodAdded],
            "pod shop/web-3 appeared on blue node b3",
        ),
        (
            "a blocker removed",
            |s, _, _| s.pods.retain(|p| p.name != "bare"),
            vec![],
            vec![ChangeKind::PodGone],
            "pod shop/bare on node b3 is gone",
        ),
        (
            "a blue node added",
            |s, _, _| s.nodes.push(node("b5", "a", "blue")),
            vec![ChangeKind::BlueNodeAdded],
            vec![],
            "blue node b5 was added after the plan was made",
        ),
        (
            "a blue node gone",
            |s, _, _| {
                s.nodes.retain(|n| n.name != "b4");
                s.pods.retain(|p| p.node.as_deref() != Some("b4"));
            },
            vec![ChangeKind::BlueNodeGone],
            vec![],
            "blue node b4 of the plan is gone",
        ),
        (
            "a budget's rule changed",
            |s, _, _| s.pdbs[0].max_unavailable = Some(IntOrString::Int(2)),
            vec![ChangeKind::PdbChanged],
            vec![],
            "PodDisruptionBudget shop/web changed: max_unavailable: 1 -> 2",
        ),
        (
            "a budget's status changed (allowed disruptions move all the time)",
            |s, _, _| s.pdbs[0].disruptions_allowed = 0,
            vec![],
            vec![],
            "",
        ),
        (
            "a budget added",
            |s, _, _| s.pdbs.push(pdb("shop", "cache", "cache", Some(IntOrString::Int(1)), None, (1, 1, 1, 0))),
            vec![ChangeKind::PdbAdded],
            vec![],
            "PodDisruptionBudget shop/cache was added (minAvailable 1)",
        ),
        (
            "a budget removed",
            |s, _, _| s.pdbs.retain(|p| p.name != "nobody"),
            vec![ChangeKind::PdbRemoved],
            vec![],
            "PodDisruptionBudget shop/nobody was removed",
        ),
        (
            "a pod that becomes blocked",
            |s, _, _| {
                let i = s.pods.iter().position(|p| p.name == "web-2").expect("web-2");
                s.pods[i].do_not_disrupt = Some("true".into());
            },
            vec![ChangeKind::PodBlocked],
            vec![],
            "pod shop/web-2 on node b2 is blocked now: annotated karpenter.sh/do-not-disrupt=true",
        ),
        (
            "another target version",
            |_, _, t| *t = "1.31.4".into(),
            vec![ChangeKind::Target],
            vec![],
            "the target is 1.31.4 now",
        ),
        (
            "another policy in the configuration",
            |_, p, _| p.max_in_flight = 5,
            vec![ChangeKind::Policy],
            vec![],
            "max_in_flight: 50 -> 5",
        ),
        ("force enabled for the run is not a policy change", |_, p, _| p.force_allowed = true, vec![], vec![], ""),
        (
            "a newer control plane",
            |s, _, _| s.server_version = "v1.31.5".into(),
            vec![ChangeKind::ControlPlane],
            vec![],
            "the control plane is at 1.31.5 now",
        ),
    ];
    for (name, change, material, benign, says) in cases {
        let drift = start_drift(change);
        assert_eq!(kinds(&drift.material), material, "{name}: {drift:#?}");
        assert_eq!(kinds(&drift.benign), benign, "{name}: {drift:#?}");
        let text = drift.lines("");
        assert!(text.contains(says), "{name}: {text}");
        assert_eq!(drift.is_material(), !material.is_empty(), "{name}");
    }
}

#[test]
fn a_plan_older_than_the_allowed_age_is_refused() {
    let reviewed = reviewed();
    let fresh = plan_with(&snapshot(), &Policy::default(), "latest-patch").expect("plans");
    let observed = Observed::from_plan(&fresh, &snapshot().pdbs);
    let at = |now: &str, hours: u64| {
        let (policy, now) = check_at(now);
        before_start(
            &reviewed,
            &fresh,
            &observed,
            &StartCheck { policy_now: &policy, now, max_age: Duration::from_secs(hours * 3600) },
        )
    };
    assert_eq!(at("2026-12-02T09:59:59Z", 24), Drift::default());
    let old = at("2026-12-02T10:00:01Z", 24);
    assert_eq!(kinds(&old.material), vec![ChangeKind::PlanTooOld]);
    assert!(old.lines("").contains("plans older than 24h are not executed"), "{}", old.lines(""));
    let mut undated = reviewed.clone();
    undated.planned_at = "yesterday".into();
    let (policy, now) = check_at("2026-12-01T11:00:00Z");
    let d = before_start(
        &undated,
        &fresh,
        &observed,
        &StartCheck { policy_now: &policy, now, max_age: Duration::from_secs(3600) },
    );
    assert_eq!(kinds(&d.material), vec![ChangeKind::PlanTooOld]);
}

/// Before a batch only its nodes and the later ones count: a drained batch's node may go.
#[test]
fn before_a_batch_only_the_remaining_nodes_and_their_pods_count() {
    let reviewed = reviewed();
    assert!(reviewed.batches.len() >= 2, "{:?}", reviewed.batches);
    let first: Vec<String> = reviewed.batches[0].nodes.clone();
    let later: Vec<String> = reviewed.batches[1].nodes.clone();
    let snap = snapshot();
    let live = |drop: &[String], bless: &str| {
        let blue: BTreeSet<String> = reviewed.blue_nodes.iter().filter(|n| !drop.contains(n)).cloned().collect();
        let mut pods: Vec<crate::model::snapshot::PodInfo> =
            snap.pods.iter().filter(|p| p.node.as_ref().is_some_and(|n| blue.contains(n))).cloned().collect();
        for p in pods.iter_mut().filter(|p| p.name == bless) {
            p.safe_to_evict = Some("false".into());
        }
        let refs: Vec<&crate::model::snapshot::PodInfo> = pods.iter().collect();
        Observed::from_live(blue, &refs, &snap.pdbs, &Policy::default().allow)
    };
    assert_eq!(before_batch(&reviewed, 1, &live(&first, "")), Drift::default(), "batch 1's node may be gone");
    let d = before_batch(&reviewed, 0, &live(&first, ""));
    assert_eq!(kinds(&d.material), vec![ChangeKind::BlueNodeGone; first.len()]);
    let d = before_batch(&reviewed, 1, &live(&later[..1], ""));
    assert_eq!(kinds(&d.material), vec![ChangeKind::BlueNodeGone]);
    // A pod of a later batch that became blocked counts from the start; before its batch too.
    let on_later = reviewed.batches[1].pods.iter().find(|p| p.disposition == Disposition::Evict).expect("a pod");
    let d = before_batch(&reviewed, 1, &live(&[], &on_later.name));
    assert_eq!(kinds(&d.material), vec![ChangeKind::PodBlocked], "{d:#?}");
    // Terminating pods are going: not compared (the planner leaves them out too).
    let blue: BTreeSet<String> = reviewed.blue_nodes.iter().cloned().collect();
    let mut pods: Vec<crate::model::snapshot::PodInfo> = snap.pods.clone();
    pods.iter_mut().for_each(|p| p.terminating = p.name == "web-2");
    pods.retain(|p| p.node.as_ref().is_some_and(|n| blue.contains(n)));
    let refs: Vec<&crate::model::snapshot::PodInfo> = pods.iter().collect();
    let of_web_2 = reviewed.batches.iter().position(|b| b.pods.iter().any(|p| p.name == "web-2")).expect("planned");
    let d = before_batch(&reviewed, of_web_2, &Observed::from_live(blue, &refs, &snap.pdbs, &Policy::default().allow));
    assert_eq!(kinds(&d.benign), vec![ChangeKind::PodGone], "{d:#?}");
}
