//! Scenarios: the shipped ones load with the right objects, malformed ones are refused with file, line,
//! column and field, and generated clusters come out placed and deterministic.
//!
//! Tests named `*_with_controllers` need the workload controllers, scheduler, kubelet and disruption
//! controller in `kubesim::components()`; they fail on a branch without them.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::ListParams;
use kubesim::cloud::PoolPhase;
use kubesim::scenario::{Scenario, ScenarioError};
use kubesim::{SimOptions, Simulator};

fn load(s: &Scenario) -> Simulator {
    Simulator::from_scenario(s, SimOptions::default()).unwrap()
}

async fn all<K>(client: &kube::Client) -> Vec<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Api::<K>::all(client.clone()).list(&ListParams::default()).await.unwrap().items
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn label<'a>(labels: &'a Option<BTreeMap<String, String>>, k: &str) -> Option<&'a str> {
    labels.as_ref().and_then(|l| l.get(k)).map(String::as_str)
}

#[tokio::test(start_paused = true)]
async fn demo_loads_pools_workloads_and_pdbs() {
    let scenario = Scenario::builtin("demo").unwrap();
    assert_eq!((scenario.name.as_str(), scenario.seed, scenario.origin.as_str()), ("demo", 42, "<builtin demo>"));
    let sim = load(&scenario);
    let client = sim.client();

    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.31.4");

    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.unwrap().items;
    assert_eq!(nodes.len(), 10);
    let mut zones: BTreeMap<String, usize> = BTreeMap::new();
    for n in &nodes {
        assert!(node_ready(n), "{:?} not Ready", n.metadata.name);
        assert_eq!(n.status.as_ref().unwrap().node_info.as_ref().unwrap().kubelet_version, "v1.30.8");
        assert_eq!(label(&n.metadata.labels, "kubesim.io/pool"), Some("blue"));
        assert_eq!(label(&n.metadata.labels, "team"), Some("platform"));
        assert_eq!(label(&n.metadata.labels, "kubernetes.io/hostname"), n.metadata.name.as_deref());
        assert!(n.spec.as_ref().unwrap().taints.as_ref().is_none_or(|t| t.is_empty()), "a Ready node has no taints");
        *zones.entry(label(&n.metadata.labels, "topology.kubernetes.io/zone").unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(
        zones.into_iter().collect::<Vec<_>>(),
        [("eu-west-1a".to_string(), 4), ("eu-west-1b".to_string(), 3), ("eu-west-1c".to_string(), 3)]
    );
    assert!(nodes.iter().any(|n| n.metadata.name.as_deref() == Some("blue-1a-0")));

    let pools = sim.store().lock().cloud.pools();
    assert_eq!(pools.len(), 1);
    assert_eq!((pools[0].status.phase, pools[0].status.ready_nodes), (PoolPhase::Ready, 10));

    let deployments: Vec<Deployment> = all(&client).await;
    let statefulsets: Vec<StatefulSet> = all(&client).await;
    let daemonsets: Vec<DaemonSet> = all(&client).await;
    assert_eq!((deployments.len(), statefulsets.len(), daemonsets.len()), (8, 2, 1));
    let replicas: i32 = deployments.iter().map(|d| d.spec.replicas.unwrap()).sum::<i32>()
        + statefulsets.iter().map(|s| s.spec.replicas.unwrap()).sum::<i32>();
    assert_eq!(replicas + 10, 157, "workload pods plus one DaemonSet pod per node");

    let frontend = deployments.iter().find(|d| d.metadata.name.as_deref() == Some("frontend")).unwrap();
    let template = frontend.spec.template.clone();
    let ann = template.metadata.as_ref().unwrap().annotations.clone().unwrap();
    assert_eq!(ann.get("kubesim.io/start-delay").map(String::as_str), Some("1s"));
    assert_eq!(ann.get("kubesim.io/ready-delay").map(String::as_str), Some("2s"));
    let spread = template.spec.as_ref().unwrap().topology_spread_constraints.clone().unwrap();
    assert_eq!((spread[0].max_skew, spread[0].topology_key.as_str()), (2, "topology.kubernetes.io/zone"));

    let pdbs: Vec<PodDisruptionBudget> = all(&client).await;
    assert_eq!(pdbs.len(), 9);
    let spec =
        |name: &str| pdbs.iter().find(|p| p.metadata.name.as_deref() == Some(name)).unwrap().spec.clone().unwrap();
    assert_eq!(spec("frontend").max_unavailable, Some(IntOrString::String("25%".into())));
    assert_eq!(spec("cart").min_available, Some(IntOrString::String("75%".into())));
    assert_eq!(spec("catalog").max_unavailable, Some(IntOrString::Int(2)));
    assert_eq!(spec("checkout").min_available, Some(IntOrString::Int(10)));
    assert_eq!(spec("checkout").unhealthy_pod_eviction_policy.as_deref(), Some("AlwaysAllow"));
    assert_eq!(spec("legacy-reporting").min_available, Some(IntOrString::Int(1)));

    let namespaces = Api::<Namespace>::all(client.clone()).list(&ListParams::default()).await.unwrap().items;
    let names: Vec<&str> = namespaces.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
    for ns in ["default", "kube-system", "shop", "payments", "data", "monitoring", "finance", "batch"] {
        assert!(names.contains(&ns), "namespace {ns} missing from {names:?}");
    }
    let st = sim.store().lock();
    assert_eq!(st.timing.delays.pool_provision.0.as_secs(), 20);
    assert!(!st.timing.instant_start, "instant start is only for loading");
}

#[tokio::test(start_paused = true)]
async fn r50_loads_fifty_nodes_and_mixed_pdbs() {
    let sim = load(&Scenario::builtin("r50").unwrap());
    let client = sim.client();
    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.unwrap().items;
    assert_eq!(nodes.len(), 50);
    assert!(nodes.iter().all(node_ready));
    let deployments: Vec<Deployment> = all(&client).await;
    let statefulsets: Vec<StatefulSet> = all(&client).await;
    let daemonsets: Vec<DaemonSet> = all(&client).await;
    assert_eq!((deployments.len(), statefulsets.len(), daemonsets.len()), (18, 4, 2));
    let replicas: i32 = deployments.iter().map(|d| d.spec.replicas.unwrap()).sum::<i32>()
        + statefulsets.iter().map(|s| s.spec.replicas.unwrap()).sum::<i32>();
    assert_eq!(replicas + 2 * 50, 1500);
    let pdbs: Vec<PodDisruptionBudget> = all(&client).await;
    assert_eq!(pdbs.len(), 20);
    // Nothing blocks: no minAvailable equal to the replica count, no maxUnavailable of 0.
    for p in &pdbs {
        let spec = p.spec.as_ref().unwrap();
        let name = p.metadata.name.as_deref().unwrap();
        let replicas = deployments
            .iter()
            .map(|d| (d.metadata.name.as_deref(), d.spec.replicas))
            .chain(statefulsets.iter().map(|s| (s.metadata.name.as_deref(), s.spec.replicas)))
            .find(|(n, _)| *n == Some(name))
            .and_then(|(_, r)| r)
            .unwrap();
        match (&spec.min_available, &spec.max_unavailable) {
            (Some(IntOrString::Int(m)), None) => assert!(*m < replicas, "{name}"),
            (None, Some(IntOrString::Int(m))) => assert!(*m > 0, "{name}"),
            (Some(IntOrString::String(p)), None) => assert_ne!(p, "100%", "{name}"),
            (None, Some(IntOrString::String(p))) => assert_ne!(p, "0%", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// Needs the controllers, scheduler and kubelet: every pod placed, Running and Ready at load.
#[tokio::test(start_paused = true)]
async fn demo_pods_settled_with_controllers() {
    let sim = load(&Scenario::builtin("demo").unwrap());
    let client = sim.client();
    let pods: Vec<Pod> = all(&client).await;
    assert_eq!(pods.len(), 157);
    for p in &pods {
        let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
        assert!(node.is_some_and(|n| n.starts_with("blue-")), "{:?} not bound", p.metadata.name);
        assert_eq!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
        assert!(is_ready(p), "{:?} not Ready", p.metadata.name);
    }
    let pdbs: Vec<PodDisruptionBudget> = all(&client).await;
    let allowed = |name: &str| {
        pdbs.iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.disruptions_allowed)
            .unwrap()
    };
    assert_eq!(allowed("legacy-reporting"), 0, "the blocking PDB");
    assert_eq!(allowed("frontend"), 6);
    assert_eq!(allowed("cart"), 4);
    assert_eq!(allowed("catalog"), 2);
    assert_eq!(allowed("checkout"), 2);
}

/// Needs the controllers, scheduler and kubelet.
#[tokio::test(start_paused = true)]
async fn r50_pods_settled_with_controllers() {
    let sim = load(&Scenario::builtin("r50").unwrap());
    let pods: Vec<Pod> = all(&sim.client()).await;
    assert_eq!(pods.len(), 1500);
    assert!(pods.iter().all(is_ready));
}

const GENERATED: &str = "
name: gen
seed: 7
generate:
  pools: 2
  nodes_per_pool: 3
  allocatable: {cpu: '1', memory: 4Gi, pods: 110}
  requests: {cpu: 200m, memory: 128Mi}
  deployments: 6
  pods_per_deployment: 5
  namespaces: 2
  pdb_mix: {min_available: 1, min_available_percent: 1, max_unavailable: 1, max_unavailable_percent: 1, none: 2}
";

#[tokio::test(start_paused = true)]
async fn generated_cluster_is_placed_running_and_deterministic() {
    let scenario = Scenario::parse(GENERATED, "gen.yaml").unwrap();
    let sim = load(&scenario);
    let client = sim.client();
    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.unwrap().items;
    assert_eq!(nodes.len(), 6);
    let pods: Vec<Pod> = all(&client).await;
    assert_eq!(pods.len(), 30);
    let mut per_node: BTreeMap<String, u32> = BTreeMap::new();
    for p in &pods {
        assert!(is_ready(p));
        assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
        *per_node.entry(p.spec.as_ref().unwrap().node_name.clone().unwrap()).or_default() += 1;
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("ReplicaSet", Some(true)));
    }
    // 1 CPU per node, 200m per pod: 5 pods per node at most, and 30 pods on 6 nodes fill them exactly.
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![5; 6]);
    let rs: Vec<ReplicaSet> = all(&client).await;
    assert_eq!(rs.len(), 6);
    for r in &rs {
        let hash = label(&r.metadata.labels, "pod-template-hash").unwrap();
        assert!(r.metadata.name.as_deref().unwrap().ends_with(hash));
        assert_eq!(r.metadata.owner_references.as_ref().unwrap()[0].kind, "Deployment");
    }
    let pdbs: Vec<PodDisruptionBudget> = all(&client).await;
    assert_eq!(pdbs.len(), 4, "6 deployments with the mix 1:1:1:1 and 2 without");

    // Same scenario, same cluster: names, UIDs and placement.
    let again = load(&scenario);
    let pods2: Vec<Pod> = all(&again.client()).await;
    let key = |p: &Pod| (p.metadata.name.clone(), p.metadata.uid.clone(), p.spec.as_ref().unwrap().node_name.clone());
    assert_eq!(pods.iter().map(key).collect::<Vec<_>>(), pods2.iter().map(key).collect::<Vec<_>>());
}

/// Needs the Deployment/ReplicaSet controllers: they must accept the generated objects as settled (no new
/// ReplicaSet, no extra or deleted pods) once time runs.
#[tokio::test(start_paused = true)]
async fn generated_cluster_stable_with_controllers() {
    let sim = load(&Scenario::parse(GENERATED, "gen.yaml").unwrap());
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    let client = sim.client();
    let rs: Vec<ReplicaSet> = all(&client).await;
    assert_eq!(rs.len(), 6);
    let pods: Vec<Pod> = all(&client).await;
    assert_eq!(pods.len(), 30);
    assert!(pods.iter().all(is_ready));
    let pdbs: Vec<PodDisruptionBudget> = all(&client).await;
    assert!(pdbs.iter().all(|p| p.status.as_ref().is_some_and(|s| s.disruptions_allowed.is_some_and(|a| a >= 1))));
}

fn invalid(text: &str) -> (usize, usize, String, String) {
    match Scenario::parse(text, "bad.yaml") {
        Err(ScenarioError::Invalid { origin, line, column, field, message }) => {
            assert_eq!(origin, "bad.yaml");
            (line, column, field, message)
        }
        other => panic!("expected an invalid scenario, got {other:?}"),
    }
}

const BASE: &str = "name: bad
pools:
  - name: blue
    version: 1.30.8
workloads:
  - kind: Deployment
    name: web
";

#[test]
fn unknown_key_names_file_line_and_path() {
    let err = Scenario::parse(&format!("{BASE}    replicaz: 3\n"), "bad.yaml").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("bad.yaml:8:5: workloads[0].replicaz: unknown field `replicaz`, expected one of"), "{msg}");
}

#[test]
fn wrong_type() {
    let (line, col, field, msg) = invalid(&format!("{BASE}    replicas: x\n"));
    assert_eq!((line, col, field.as_str()), (8, 15, "workloads[0].replicas"));
    assert_eq!(msg, "invalid type: string \"x\", expected i32");
}

#[test]
fn bad_duration() {
    let (line, col, field, msg) = invalid(&format!("{BASE}    start_delay: 5 seconds\n"));
    assert_eq!((line, col, field.as_str()), (8, 18, "workloads[0].start_delay"));
    assert!(msg.starts_with("invalid duration \"5 seconds\""), "{msg}");
    let (line, _, field, _) = invalid("name: x\ntimings:\n  node_ready: 10\n");
    assert_eq!((line, field.as_str()), (3, "timings.node_ready"));
}

#[test]
fn bad_quantity() {
    let (line, col, field, msg) = invalid(&format!("{BASE}    requests:\n      cpu: 12Zi\n"));
    assert_eq!((line, col, field.as_str()), (9, 12, "workloads[0].requests.cpu"));
    assert!(msg.starts_with("invalid quantity \"12Zi\""), "{msg}");
}

#[test]
fn unknown_workload_kind() {
    let text = "name: bad\nworkloads:\n  - kind: CronJob\n    name: nightly\n";
    let (line, col, field, msg) = invalid(text);
    assert_eq!((line, col, field.as_str()), (3, 11, "workloads[0].kind"));
    assert!(msg.starts_with("unknown variant `CronJob`, expected one of `Deployment`"), "{msg}");
}

#[test]
fn missing_pool() {
    let (line, col, field, msg) = invalid(&format!("{BASE}    pool: green\n"));
    assert_eq!((line, col, field.as_str()), (8, 11, "workloads[0].pool"));
    assert_eq!(msg, "pool \"green\" is not defined in pools");
}

#[test]
fn duplicate_names() {
    let text = format!("{BASE}  - kind: StatefulSet\n    name: web\n");
    let (line, col, field, msg) = invalid(&text);
    assert_eq!((line, col, field.as_str()), (9, 11, "workloads[1].name"));
    assert_eq!(msg, "duplicate workload default/web (also workloads[0])");
    let pools = "name: bad\npools:\n  - {name: blue, version: 1.30.8}\n  - {name: blue, version: 1.31.0}\n";
    let (line, col, field, _) = invalid(pools);
    assert_eq!((line, col, field.as_str()), (4, 12, "pools[1].name"));
}

#[test]
fn bad_percent_and_conflicting_budget() {
    let (line, _, field, msg) = invalid(&format!("{BASE}    pdb: {{min_available: \"150%\"}}\n"));
    assert_eq!((line, field.as_str()), (8, "workloads[0].pdb.min_available"));
    assert!(msg.contains("between 0% and 100%"), "{msg}");
    let (line, col, field, msg) = invalid(&format!("{BASE}    pdb: {{min_available: 1, max_unavailable: 1}}\n"));
    assert_eq!((line, col, field.as_str()), (8, 10, "workloads[0].pdb"));
    assert_eq!(msg, "min_available and max_unavailable cannot be both set");
}

#[test]
fn invalid_pool_and_fault_fields() {
    let (line, col, field, _) = invalid("name: bad\npools:\n  - name: blue\n    version: 1.30\n");
    assert_eq!((line, col, field.as_str()), (4, 14, "pools[0].version"));
    let text = "name: bad\nfaults:\n  api:\n    - error_rate: 2\n";
    let (line, _, field, msg) = invalid(text);
    assert_eq!((line, field.as_str()), (4, "faults.api[0].error_rate"));
    assert_eq!(msg, "rate 2 is not between 0 and 1");
}

#[test]
fn missing_required_field() {
    let (line, _, field, msg) = invalid("seed: 3\n");
    assert_eq!((line, field.as_str()), (1, "(top level)"));
    assert_eq!(msg, "missing field `name`");
}

#[test]
fn load_reads_files_and_reports_missing_ones() {
    let dir = std::env::temp_dir().join(format!("kubesim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    std::fs::write(&path, "name: x\nseed: [1]\n").unwrap();
    let err = Scenario::load(&path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:2:7: seed: invalid type: sequence", path.display())), "{err}");
    std::fs::write(&path, "name: fine\n").unwrap();
    assert_eq!(Scenario::load(&path).unwrap().origin, path.display().to_string());
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = Scenario::load(std::path::Path::new("/nonexistent/x.yaml")).unwrap_err();
    assert!(matches!(missing, ScenarioError::Read { .. }), "{missing:?}");
    let unknown = Scenario::builtin("r51").unwrap_err().to_string();
    assert!(unknown.contains("no builtin scenario named \"r51\" (known: demo, r50)"), "{unknown}");
}
