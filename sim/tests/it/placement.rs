//! Scenario placement (`workloads[].nodes`): pods bound to the named nodes, in order, instead of scheduled;
//! how poolshift's rehearsal reproduces a real cluster's layout.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use kubesim::scenario::{Scenario, ScenarioError};
use kubesim::{SimOptions, Simulator};

const PLACED: &str = "name: placed
seed: 3
pools:
  - name: blue
    version: 1.30.8
    size: 4
    zones: [zone-a, zone-b]
workloads:
  - kind: Deployment
    name: web
    replicas: 3
    nodes: [blue-a-2, blue-a-2, blue-b-1]
  - kind: StatefulSet
    name: db
    replicas: 3
    nodes: [blue-b-3, blue-a-0, blue-b-3]
  - kind: Pod
    name: lone
    nodes: [blue-b-1]
  - kind: Deployment
    name: free
    replicas: 2
    nodes: [blue-a-0]
";

async fn pods(sim: &Simulator) -> Vec<Pod> {
    Api::<Pod>::all(sim.client()).list(&ListParams::default()).await.unwrap().items
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// app label -> (pod name, node), sorted by name.
fn placement(pods: &[Pod]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in pods {
        let app = p.metadata.labels.as_ref().and_then(|l| l.get("app")).cloned().unwrap_or_default();
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        out.entry(app).or_default().push((p.metadata.name.clone().unwrap_or_default(), node));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

#[tokio::test(start_paused = true)]
async fn placed_pods_land_on_their_nodes_in_order_and_stay() {
    let sim =
        Simulator::from_scenario(&Scenario::parse(PLACED, "placed.yaml").unwrap(), SimOptions::default()).unwrap();
    let all = pods(&sim).await;
    assert!(all.iter().all(ready), "every pod is Running and Ready after loading");
    let by_app = placement(&all);
    let nodes = |app: &str| -> Vec<String> { by_app[app].iter().map(|(_, n)| n.clone()).collect() };
    let mut web = nodes("web");
    web.sort();
    assert_eq!(web, ["blue-a-2", "blue-a-2", "blue-b-1"]);
    // A StatefulSet's pods by ordinal.
    assert_eq!(
        by_app["db"],
        [("db-0".into(), "blue-b-3".into()), ("db-1".into(), "blue-a-0".into()), ("db-2".into(), "blue-b-3".into())]
    );
    assert_eq!(nodes("lone"), ["blue-b-1"]);
    // Pods beyond the list are scheduled.
    let free = nodes("free");
    assert_eq!(free.len(), 2);
    assert!(free.iter().any(|n| n == "blue-a-0"), "{free:?}");
    assert!(free.iter().all(|n| n.starts_with("blue-")), "{free:?}");

    // The controllers accept the layout: nothing moves once time runs.
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    assert_eq!(placement(&pods(&sim).await), by_app);
}

/// A placed pod is bound and started as it is created: one write, already Running and Ready on its node
/// (what makes loading a 150,000-pod copy quick). A pod beyond the list goes through the scheduler and the
/// kubelet as usual.
#[tokio::test(start_paused = true)]
async fn a_placed_pod_is_written_once_while_loading() {
    let sim =
        Simulator::from_scenario(&Scenario::parse(PLACED, "placed.yaml").unwrap(), SimOptions::default()).unwrap();
    let st = sim.store().lock();
    let events = st.pods.events_since(0).expect("a small scenario keeps its whole history");
    let mut writes: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for e in &events {
        writes.entry(e.object.metadata.name.clone().unwrap_or_default()).or_default().push(e.ty.as_str());
    }
    let first: BTreeMap<String, &Pod> = events
        .iter()
        .filter(|e| e.ty.as_str() == "ADDED")
        .map(|e| (e.object.metadata.name.clone().unwrap_or_default(), e.object.as_ref()))
        .collect();
    let placed: Vec<&String> = writes.keys().filter(|n| !n.starts_with("free-")).collect();
    assert_eq!(placed.len(), 7, "{writes:?}");
    for name in placed {
        assert_eq!(writes[name], ["ADDED"], "{name}");
        let pod = first[name];
        assert!(ready(pod), "{name} is Ready when created");
        assert!(pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some(), "{name} is bound when created");
        let status = pod.status.as_ref().expect("status");
        assert_eq!(status.phase.as_deref(), Some("Running"), "{name}");
        assert!(status.pod_ip.is_some() && status.host_ip.is_some(), "{name}: {status:?}");
    }
    // Two free pods: one placed on blue-a-0 (written once), one scheduled, then started by its kubelet.
    let free: Vec<usize> = writes.iter().filter(|(n, _)| n.starts_with("free-")).map(|(_, w)| w.len()).collect();
    let mut free_sorted = free.clone();
    free_sorted.sort();
    assert_eq!(free_sorted.first(), Some(&1), "{writes:?}");
    assert!(free_sorted.last().is_some_and(|n| *n >= 3), "scheduled, then started: {writes:?}");
    // Pod IPs stay unique across placed and kubelet-started pods.
    let ips: std::collections::BTreeSet<String> =
        st.pods.iter().filter_map(|p| p.status.as_ref().and_then(|s| s.pod_ip.clone())).collect();
    assert_eq!(ips.len(), st.pods.len(), "{ips:?}");
}

#[tokio::test(start_paused = true)]
async fn a_missing_node_or_a_placed_daemonset_is_refused() {
    let text = PLACED.replace("nodes: [blue-b-1]", "nodes: [blue-z-9]");
    let err = Simulator::from_scenario(&Scenario::parse(&text, "placed.yaml").unwrap(), SimOptions::default())
        .err()
        .expect("an unknown node is refused");
    assert!(matches!(&err, ScenarioError::Load { .. }), "{err}");
    assert!(err.to_string().contains("node \"blue-z-9\" in nodes does not exist"), "{err}");

    let ds = "name: x\npools: [{name: blue, version: 1.30.8}]\nworkloads:\n  - kind: DaemonSet\n    name: agent\n    nodes: [blue-a-0]\n";
    match Scenario::parse(ds, "ds.yaml") {
        Err(ScenarioError::Invalid { field, message, .. }) => {
            assert_eq!(field, "workloads[0].nodes");
            assert!(message.contains("DaemonSet places its own pods"), "{message}");
        }
        other => panic!("expected an invalid scenario, got {other:?}"),
    }
}
