//! A kubesim scenario reproducing a snapshot: blue's nodes as a simulated pool (same count, zones and
//! allocatable), the other nodes as one more pool, every workload with its replicas, requests, annotations,
//! node selector and spread constraints, its pods bound to the simulated twins of their nodes, and every
//! PodDisruptionBudget selecting the same workloads. What cannot be reproduced is listed in `notes`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kubesim::cloud::{Allocatable, Autoscaling, CapacityType as SimCapacity, PoolSpec as SimPool, TaintSpec};
use kubesim::scenario::{
    IntOrPercent, PdbSpec, Quantity, Requests, Scenario, Timings, TolerationOperator, TolerationSpec, TopologySpread,
    Workload, WorkloadKind,
};
use poolshift_provider_api::{CapacityType, NodeMatcher};

use crate::model::plan::UpgradePlan;
use crate::model::snapshot::{LABEL_ZONE, NodeInfo, PdbInfo, PodInfo, Resources, Snapshot};
use crate::model::version::Version;
use crate::plan::pdb_index::PdbIndex;

/// The simulated pool holding every node that is not blue's.
const OTHERS: &str = "others";
/// Node labels the simulated cloud sets itself (a pool may not set them).
const CLOUD_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    LABEL_ZONE,
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
];

pub struct Seeded {
    pub scenario: Scenario,
    /// Blue's name in the simulator.
    pub blue: String,
    /// What the copy does not reproduce, for the report.
    pub notes: Vec<String>,
}

/// A lowercase DNS label of at most `max` characters, made unique by a short hash when it had to change.
fn dns_label(s: &str, max: usize) -> String {
    let clean: String =
        s.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    let clean = clean.trim_matches('-').to_string();
    if clean == s && !clean.is_empty() && clean.len() <= max {
        return clean;
    }
    let h = s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    let keep = max.saturating_sub(7).min(clean.len());
    let base = clean[..keep].trim_end_matches('-');
    if base.is_empty() { format!("x{:06x}", h & 0xff_ffff) } else { format!("{base}-{:06x}", h & 0xff_ffff) }
}

fn quantity(s: String) -> Result<Quantity, String> {
    Quantity::parse(&s).map_err(|e| format!("quantity {s}: {e}"))
}

fn allocatable(r: &Resources) -> Result<Allocatable, String> {
    if r.cpu_millis == 0 || r.memory_bytes == 0 {
        return Ok(Allocatable::default());
    }
    Ok(Allocatable {
        cpu: quantity(format!("{}m", r.cpu_millis))?,
        memory: quantity(r.memory_bytes.to_string())?,
        pods: u32::try_from(r.pods).unwrap_or(u32::MAX).max(1),
    })
}

/// Simulated pool `name` for `nodes`: its zones, and each snapshot node's simulated twin. The cloud puts
/// machine `i` in `zones[i % zones.len()]`; each takes the next snapshot node of that zone (or of the zone
/// with the most left, when the counts differ).
fn twins(name: &str, nodes: &[&NodeInfo], map: &mut HashMap<String, String>) -> Vec<String> {
    let mut by_zone: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for n in nodes {
        by_zone.entry(n.zone().unwrap_or("none").to_string()).or_default().push(&n.name);
    }
    for v in by_zone.values_mut() {
        v.sort_unstable();
        v.reverse(); // popped from the end: names in order
    }
    let zones: Vec<String> = by_zone.keys().cloned().collect();
    for i in 0..nodes.len() {
        let zone = &zones[i % zones.len()];
        let pick = match by_zone.get_mut(zone).and_then(Vec::pop) {
            Some(n) => Some(n),
            None => by_zone.values_mut().max_by_key(|v| v.len()).and_then(Vec::pop),
        };
        if let Some(n) = pick {
            map.insert(n.to_string(), kubesim::cloud::node_name(name, zone, i as u32));
        }
    }
    zones
}

/// The scenario, with `timings` for pods and nodes. `matcher` is how blue's nodes are recognised.
pub fn scenario(
    snapshot: &Snapshot,
    plan: &UpgradePlan,
    matcher: &NodeMatcher,
    timings: &Timings,
) -> Result<Seeded, String> {
    let mut notes = Vec::new();
    let blue_set: BTreeSet<&str> = plan.blue_nodes.iter().map(String::as_str).collect();
    let blue_nodes: Vec<&NodeInfo> = snapshot.nodes.iter().filter(|n| blue_set.contains(n.name.as_str())).collect();
    let other_nodes: Vec<&NodeInfo> = snapshot.nodes.iter().filter(|n| !blue_set.contains(n.name.as_str())).collect();
    let blue = dns_label(&plan.pool, 30);
    let version = |v: &str| v.parse::<Version>().map(|v| v.to_string()).map_err(|e| e.to_string());
    let mut map: HashMap<String, String> = HashMap::new();

    let per_node = plan.review.capacity.per_node;
    let mut blue_spec = SimPool {
        name: blue.clone(),
        version: version(&plan.blue.version)?,
        size: blue_nodes.len() as u32,
        instance_type: plan.blue.instance_types.first().cloned().unwrap_or_else(|| "sim.xlarge".into()),
        allocatable: allocatable(&per_node)?,
        zones: twins(&blue, &blue_nodes, &mut map),
        labels: plan
            .blue
            .labels
            .iter()
            .filter(|(k, _)| !CLOUD_LABELS.contains(&k.as_str()) && !k.starts_with("kubesim.io/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        taints: plan
            .blue
            .taints
            .iter()
            .filter_map(|t| {
                let effect = serde_json::from_value(serde_json::json!(t.effect)).ok()?;
                Some(TaintSpec { key: t.key.clone(), value: t.value.clone(), effect })
            })
            .collect(),
        capacity_type: if plan.blue.capacity_type == CapacityType::OnDemand {
            SimCapacity::OnDemand
        } else {
            SimCapacity::Spot
        },
        autoscaling: Autoscaling {
            enabled: plan.blue.autoscaling.enabled,
            min: plan.blue.autoscaling.size.min,
            max: plan.blue.autoscaling.size.max,
        },
    };
    blue_spec.autoscaling.max = blue_spec.autoscaling.max.max(blue_spec.size);
    notes.push(format!(
        "blue is {} simulated nodes of {} each (blue's smallest node), in the same zones",
        blue_nodes.len(),
        crate::report::facts::resources(&per_node)
    ));
    let mut pools = vec![blue_spec];
    if !other_nodes.is_empty() {
        let biggest = other_nodes.iter().fold(Resources::default(), |a, n| Resources {
            cpu_millis: a.cpu_millis.max(n.allocatable.cpu_millis),
            memory_bytes: a.memory_bytes.max(n.allocatable.memory_bytes),
            pods: a.pods.max(n.allocatable.pods),
        });
        let kubelet = other_nodes.iter().find_map(|n| n.kubelet_version.parse::<Version>().ok());
        let name = if blue == OTHERS { format!("{OTHERS}-1") } else { OTHERS.to_string() };
        let zones = twins(&name, &other_nodes, &mut map);
        pools.push(SimPool {
            name,
            version: kubelet.map_or_else(|| version(&plan.blue.version), |v| Ok(v.to_string()))?,
            size: other_nodes.len() as u32,
            instance_type: "sim.xlarge".into(),
            allocatable: allocatable(&biggest)?,
            zones,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            capacity_type: SimCapacity::OnDemand,
            autoscaling: Autoscaling::default(),
        });
        notes.push(format!(
            "the {} nodes outside blue are one simulated pool without their labels and taints",
            other_nodes.len()
        ));
    }

    let (workloads, pdbs) = workloads(snapshot, matcher, &blue, &map, &mut notes)?;
    let scenario = Scenario {
        name: "rehearsal".into(),
        seed: 1,
        description: Some(format!("rehearsal of pool {} of cluster {}", plan.pool, plan.cluster)),
        cluster: kubesim::scenario::Cluster { version: version(&snapshot.server_version)? },
        timings: timings.clone(),
        pools,
        workloads,
        pdbs,
        faults: Default::default(),
        generate: None,
        origin: "<rehearsal>".into(),
    };
    Ok(Seeded { scenario, blue, notes })
}

/// One workload being gathered from its pods.
struct Gathered<'a> {
    kind: WorkloadKind,
    namespace: String,
    name: String,
    scale_key: Option<String>,
    pods: Vec<&'a PodInfo>,
}

fn workloads(
    snapshot: &Snapshot,
    matcher: &NodeMatcher,
    blue: &str,
    map: &HashMap<String, String>,
    notes: &mut Vec<String>,
) -> Result<(Vec<Workload>, Vec<PdbSpec>), String> {
    let mut gathered: BTreeMap<(String, String, String), Gathered<'_>> = BTreeMap::new();
    let (mut jobs, mut unready, mut other_kinds) = (0usize, 0usize, BTreeSet::new());
    for p in &snapshot.pods {
        if p.finished() || p.mirror || p.terminating {
            continue;
        }
        let (kind, name, scale_key) = match (&p.controller, p.workload.as_ref()) {
            (None, _) => (WorkloadKind::Pod, p.name.clone(), None),
            (Some(c), _) if c.kind == "DaemonSet" => (WorkloadKind::DaemonSet, c.name.clone(), None),
            (Some(c), _) if c.kind == "Job" => {
                jobs += 1;
                continue;
            }
            (Some(c), w) => {
                let (wkind, wname) =
                    w.map_or((c.kind.as_str(), c.name.as_str()), |w| (w.kind.as_str(), w.name.as_str()));
                let kind = if wkind == "StatefulSet" { WorkloadKind::StatefulSet } else { WorkloadKind::Deployment };
                if !matches!(wkind, "Deployment" | "ReplicaSet" | "StatefulSet") {
                    other_kinds.insert(wkind.to_string());
                }
                (kind, wname.to_string(), Some(format!("{wkind}/{}/{wname}", p.namespace)))
            }
        };
        if !p.ready && p.node.is_some() {
            unready += 1;
        }
        gathered
            .entry((p.namespace.clone(), format!("{kind:?}"), name.clone()))
            .or_insert_with(|| Gathered { kind, namespace: p.namespace.clone(), name, scale_key, pods: Vec::new() })
            .pods
            .push(p);
    }
    if jobs > 0 {
        notes.push(format!("{jobs} Job pods are left out: how long they still run is unknown"));
    }
    if unready > 0 {
        notes.push(format!("{unready} pods not Ready in the snapshot are Ready in the copy"));
    }
    if !other_kinds.is_empty() {
        let kinds: Vec<String> = other_kinds.into_iter().collect();
        notes.push(format!("pods of {} are rehearsed as Deployments", kinds.join(", ")));
    }

    // Budgets select whole workloads through a label of their own.
    let index = PdbIndex::new(&snapshot.pdbs);
    let pdb_label = |i: usize| format!("rehearsal.poolshift.io/pdb-{i}");
    let position: HashMap<(&str, &str), usize> =
        snapshot.pdbs.iter().enumerate().map(|(i, p)| ((p.namespace.as_str(), p.name.as_str()), i)).collect();

    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    let mut out = Vec::new();
    for g in gathered.into_values() {
        let first = g.pods[0];
        let mut name = dns_label(&g.name, 50);
        if !used.insert((g.namespace.clone(), name.clone())) {
            name = dns_label(&format!("{}-{:?}", g.name, g.kind).to_lowercase(), 50);
            used.insert((g.namespace.clone(), name.clone()));
        }
        let mut pods = g.pods.clone();
        pods.sort_by(|a, b| (a.name.len(), &a.name).cmp(&(b.name.len(), &b.name)));
        let nodes: Vec<String> = if g.kind == WorkloadKind::DaemonSet {
            Vec::new()
        } else {
            pods.iter().filter_map(|p| p.node.as_ref().and_then(|n| map.get(n)).cloned()).collect()
        };
        let replicas = match g.kind {
            WorkloadKind::DaemonSet => None,
            WorkloadKind::Pod => Some(1),
            _ => Some(g.scale_key.as_ref().and_then(|k| snapshot.scales.get(k)).copied().unwrap_or(pods.len() as i32)),
        };
        let mut labels = BTreeMap::new();
        for p in &pods {
            for pdb in index.matching(p) {
                if let Some(i) = position.get(&(pdb.namespace.as_str(), pdb.name.as_str())) {
                    labels.insert(pdb_label(*i), "true".to_string());
                }
            }
        }
        let mut node_selector = BTreeMap::new();
        for (k, v) in &first.node_selector {
            if *k == matcher.label {
                let v = if *v == matcher.value { blue.to_string() } else { v.clone() };
                node_selector.insert("kubesim.io/pool".to_string(), v);
            } else if k == "kubernetes.io/hostname" {
                node_selector.insert(k.clone(), map.get(v).cloned().unwrap_or_else(|| v.clone()));
            } else {
                node_selector.insert(k.clone(), v.clone());
            }
        }
        let spread = |key: &str| first.spread.iter().find(|s| s.key == key).map(|s| s.max_skew.max(1));
        let zone = spread(LABEL_ZONE);
        let hostname = spread("kubernetes.io/hostname");
        out.push(Workload {
            kind: g.kind,
            name,
            namespace: g.namespace,
            replicas,
            requests: Requests {
                cpu: Some(quantity(format!("{}m", first.requests.cpu_millis))?),
                memory: Some(quantity(first.requests.memory_bytes.to_string())?),
            },
            pdb: None,
            start_delay: None,
            ready_delay: None,
            termination_delay: None,
            termination_grace: None,
            tolerations: if first.tolerates_all {
                vec![TolerationSpec {
                    key: None,
                    operator: Some(TolerationOperator::Exists),
                    value: None,
                    effect: None,
                    toleration_seconds: None,
                }]
            } else {
                Vec::new()
            },
            node_selector,
            pool: None,
            topology_spread: (zone.is_some() || hostname.is_some()).then_some(TopologySpread { zone, hostname }),
            empty_dir: first.empty_dir,
            labels,
            annotations: BTreeMap::new(),
            do_not_disrupt: first.do_not_disrupt.as_deref().is_some_and(|v| v != "false"),
            safe_to_evict: first.safe_to_evict.as_deref().and_then(|v| v.parse().ok()),
            nodes,
        });
    }
    let pdbs = snapshot.pdbs.iter().enumerate().map(|(i, p)| pdb(p, &pdb_label(i))).collect::<Result<_, _>>()?;
    notes.push("PodDisruptionBudgets select whole workloads (those with a pod the budget selects)".into());
    Ok((out, pdbs))
}

fn int_or_percent(v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> Result<IntOrPercent, String> {
    let json = match v {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => serde_json::json!(i),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => serde_json::json!(s),
    };
    serde_json::from_value(json).map_err(|e| format!("budget value {v:?}: {e}"))
}

fn pdb(p: &PdbInfo, label: &str) -> Result<PdbSpec, String> {
    let (min, max) = match (&p.min_available, &p.max_unavailable) {
        (None, None) => (None, Some(IntOrPercent::Int(0))), // never allows a disruption, as upstream
        (min, max) => (min.as_ref().map(int_or_percent).transpose()?, max.as_ref().map(int_or_percent).transpose()?),
    };
    let policy = match p.unhealthy_pod_eviction_policy.as_deref() {
        Some("AlwaysAllow") => Some(kubesim::scenario::EvictionPolicy::AlwaysAllow),
        Some("IfHealthyBudget") => Some(kubesim::scenario::EvictionPolicy::IfHealthyBudget),
        _ => None,
    };
    Ok(PdbSpec {
        name: dns_label(&p.name, 63),
        namespace: p.namespace.clone(),
        // A budget without a selector selects nothing; so does a label no workload carries.
        selector: [(label.to_string(), "true".to_string())].into(),
        min_available: min,
        max_unavailable: max,
        unhealthy_pod_eviction_policy: policy,
    })
}
