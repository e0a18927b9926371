//! The forward flow: happy path, PDB-serialised evictions, StatefulSets, pods that are never evicted.

use poolshift::engine::Outcome;
use poolshift::model::checkpoint::{Phase, RunStatus};
use poolshift::ports::report::Event;

use super::harness::{policy, rig, scenario};

#[tokio::test(start_paused = true)]
async fn happy_path_moves_everything_and_deletes_blue() {
    let yaml = scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 8, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 2}}
  - {kind: Deployment, name: api, namespace: shop, replicas: 6, requests: {cpu: 100m, memory: 64Mi}, pdb: {min_available: \"50%\"}}
  - {kind: Deployment, name: jobs, namespace: batch, replicas: 4, requests: {cpu: 50m, memory: 64Mi}}
  - {kind: DaemonSet, name: agent, namespace: kube-system, requests: {cpu: 10m, memory: 16Mi}}",
        "",
    );
    let r = rig(&yaml);
    let out = r.upgrade(&policy()).await;
    let Outcome::Done(summary) = out else { panic!("expected Done, got {out:?}") };
    assert_eq!(summary.moved, 18, "every Deployment pod moved once");
    assert_eq!(r.pools(), vec!["blue-v1-31-4".to_string()], "blue deleted, one green pool");
    assert!(r.workload_pods_on("blue").is_empty());
    assert_eq!(r.workload_pods_on("blue-v1-31-4").len(), 18);
    // Each pod was evicted exactly once: no re-evictions.
    assert_eq!(r.evicted_events(), 18);
    let phases: Vec<Phase> = r
        .reporter
        .matching(|e| matches!(e, Event::Phase { .. }))
        .into_iter()
        .filter_map(|e| if let Event::Phase { phase } = e { Some(phase) } else { None })
        .collect();
    assert_eq!(phases.first(), Some(&Phase::CreatingGreen));
    assert_eq!(phases.last(), Some(&Phase::Done));
    assert!(phases.contains(&Phase::Draining { batch: 1, of: 2 }));
    r.assert_safe();
    let st = r.session("reader").engine.store.load().await.unwrap().unwrap();
    assert_eq!(st.checkpoint.status, RunStatus::Done);
}

#[tokio::test(start_paused = true)]
async fn max_unavailable_one_serialises_evictions_of_pods_on_one_node() {
    // Everything on one blue node: five replicas, at most one may be unavailable at any moment.
    let yaml = scenario(
        1,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 5, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}, ready_delay: 5s}",
        "",
    );
    let r = rig(&yaml);
    let out = r.upgrade(&policy()).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    r.assert_safe();
    let rec = r.sim.store().lock().recorder.report();
    let worst = &rec["pdbs"]["shop/web"];
    assert!(worst.is_object(), "the recorder tracked the PDB: {rec}");
    // The worst moment kept the 4 healthy pods the budget requires.
    let margin =
        worst["worst"]["current_healthy"].as_i64().unwrap() - worst["worst"]["desired_healthy"].as_i64().unwrap();
    assert!(margin >= 0, "{worst}");
}

#[tokio::test(start_paused = true)]
async fn statefulset_pods_come_back_with_the_same_name_and_are_not_evicted_twice() {
    let yaml = scenario(
        2,
        "  - {kind: StatefulSet, name: db, namespace: data, replicas: 3, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        "",
    );
    let r = rig(&yaml);
    let out = r.upgrade(&policy()).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let on_green = r.workload_pods_on("blue-v1-31-4");
    let mut names = on_green.clone();
    names.sort();
    assert_eq!(names, vec!["data/db-0", "data/db-1", "data/db-2"]);
    assert_eq!(r.evicted_events(), 3, "each StatefulSet pod evicted once, the same-name replacement never");
    r.assert_safe();
}

#[tokio::test(start_paused = true)]
async fn daemonset_mirror_bare_and_emptydir_pods_are_handled_by_policy() {
    let yaml = scenario(
        2,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 2, requests: {cpu: 100m, memory: 64Mi}}
  - {kind: DaemonSet, name: agent, namespace: kube-system, requests: {cpu: 10m, memory: 16Mi}}
  - {kind: Deployment, name: cache, namespace: shop, replicas: 1, requests: {cpu: 10m, memory: 16Mi}, empty_dir: true}
  - {kind: Pod, name: debug, namespace: shop, requests: {cpu: 10m, memory: 16Mi}}",
        "",
    );
    let r = rig(&yaml);
    let plan = r.plan(&policy()).await;
    let blocked: Vec<String> = plan.blocked().map(|p| p.name.clone()).collect();
    assert!(blocked.iter().any(|n| n == "debug"), "bare pod blocks: {blocked:?}");
    assert!(blocked.iter().any(|n| n.starts_with("cache-")), "emptyDir pod blocks: {blocked:?}");
    let out = r.session("agent").engine.start(plan).await.unwrap();
    let Outcome::Blocked { blockers, .. } = out else { panic!("expected Blocked, got {out:?}") };
    assert!(
        blockers.iter().any(|b| b.pod.to_string() == "shop/debug" && b.reason.contains("bare pod")),
        "{blockers:?}"
    );
    // Nothing the policy did not allow was deleted, and DaemonSet pods were never evicted.
    assert!(r.workload_pods_on("blue").iter().any(|p| p == "shop/debug"));
    assert!(r.reporter.matching(|e| matches!(e, Event::PodEvicted { pod, .. } if pod.contains("agent") || pod.contains("debug") || pod.contains("cache"))).is_empty());
    r.assert_safe();

    // The operator allows bare and emptyDir pods for this run: the same cluster upgrades to the end.
    let mut allow = policy();
    allow.allow.bare_pods = true;
    allow.allow.empty_dir = true;
    let s = r.session("agent");
    s.engine.abort().await.unwrap();
    let plan = s.plan(&poolshift::plan::target::TargetPolicy::Exact("1.31.4".parse().unwrap()), &allow).await.unwrap();
    let out = s.engine.start(plan).await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    // The bare pod was evicted as allowed: it is gone for good, and that was the operator's choice.
    assert!(r.workload_pods_on("blue-v1-31-4").iter().all(|p| p != "shop/debug"));
}

#[tokio::test(start_paused = true)]
async fn batch_progress_counts_the_pods_the_plan_moves_not_daemonset_pods() {
    let yaml = scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 6, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 2}}
  - {kind: DaemonSet, name: agent, namespace: kube-system, requests: {cpu: 10m, memory: 16Mi}}",
        "",
    );
    let r = rig(&yaml);
    let plan = r.plan(&policy()).await;
    let to_move: Vec<usize> = plan
        .batches
        .iter()
        .map(|b| b.pods.iter().filter(|p| p.disposition == poolshift::model::plan::Disposition::Evict).count())
        .collect();
    assert!(plan.batches.iter().zip(&to_move).all(|(b, n)| b.pods.len() > *n), "the plan lists the DaemonSet pods too");
    assert_eq!(to_move.iter().sum::<usize>(), plan.to_evict());
    let out = r.session("agent").engine.start(plan).await.unwrap();
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let started: Vec<usize> = r
        .reporter
        .matching(|e| matches!(e, Event::BatchStarted { .. }))
        .into_iter()
        .filter_map(|e| if let Event::BatchStarted { pods, .. } = e { Some(pods) } else { None })
        .collect();
    assert_eq!(started, to_move, "each batch announces the pods the plan moves");
}
