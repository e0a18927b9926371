//! A workload that tolerates every taint: its replacements are scheduled back onto cordoned blue nodes (as
//! the real scheduler does; kubesim's NodeUnschedulable filter lets a pod that tolerates
//! node.kubernetes.io/unschedulable through). The engine notices within the batch, does not count them as
//! moved, stops evicting that workload, and reports the pods as blockers with the reason.

use poolshift::engine::Outcome;
use poolshift::model::checkpoint::{Phase, RunStatus};
use poolshift::ports::report::Event;

use super::harness::{policy, rig, scenario};

#[tokio::test(start_paused = true)]
async fn replacements_landing_back_on_cordoned_blue_block_the_batch_and_are_not_moved() {
    // `sticky` may only run on blue (pinned) and tolerates every taint, the cordon's included: each
    // replacement can only land back on a cordoned blue node.
    let yaml = scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 6, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}
  - {kind: Deployment, name: sticky, namespace: ops, replicas: 4, requests: {cpu: 100m, memory: 64Mi}, pool: blue, tolerations: [{operator: Exists}]}",
        "",
    );
    let r = rig(&yaml);
    let out = r.upgrade(&policy()).await;
    let Outcome::Blocked { reason, blockers } = out else { panic!("expected Blocked, got {out:?}") };
    assert!(reason.starts_with("batch "), "{reason}");

    let cp = r.checkpoint().await;
    assert!(matches!(cp.phase, Phase::Draining { .. }), "seen within the batch, not at blue deletion: {:?}", cp.phase);
    assert!(matches!(cp.status, RunStatus::Blocked(_)));

    // The replacement that landed back is a blocker, with the reason, on a cordoned blue node.
    let landed: Vec<_> =
        blockers.iter().filter(|b| b.reason.starts_with("landed back on cordoned blue node")).collect();
    assert_eq!(landed.len(), 1, "{blockers:?}");
    assert!(landed[0].pod.to_string().starts_with("ops/sticky-"), "{landed:?}");
    assert!(
        landed[0].reason.contains("tolerates every taint, node.kubernetes.io/unschedulable included"),
        "{landed:?}"
    );
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(r.client.clone());
    let node = nodes.get(&landed[0].node).await.unwrap();
    assert_eq!(node.spec.and_then(|s| s.unschedulable), Some(true), "kubesim placed it on a cordoned node");

    // One sticky pod was evicted; once its replacement landed back no other one was (no loop), and the pod
    // that landed back was never evicted.
    let sticky_evicted =
        r.reporter.matching(|e| matches!(e, Event::PodEvicted { pod, .. } if pod.starts_with("ops/sticky-"))).len();
    assert_eq!(sticky_evicted, 1);
    assert!(
        r.reporter
            .matching(|e| matches!(e, Event::PodEvicted { pod, .. } if *pod == landed[0].pod.to_string()))
            .is_empty(),
        "the pod that landed back is not evicted"
    );
    // The other sticky pods of the batch are held back, with why.
    assert!(
        blockers
            .iter()
            .filter(|b| b.pod.to_string().starts_with("ops/sticky-"))
            .all(|b| b.reason.contains("back on cordoned blue")),
        "{blockers:?}"
    );

    // Moved counts only pods that left blue: every web pod evicted, no sticky one.
    let web_evicted =
        r.reporter.matching(|e| matches!(e, Event::PodEvicted { pod, .. } if pod.starts_with("shop/web-"))).len();
    assert_eq!(cp.moved, web_evicted as u64, "{:?}", cp.batches);
    assert_eq!(r.workload_pods_on("blue").iter().filter(|p| p.starts_with("ops/sticky-")).count(), 4);
    r.assert_safe();
}
