//! The generator for large clusters: pools of Ready nodes, and Deployments whose ReplicaSets and pods are
//! written directly in their settled state (bound, Running, Ready), without going through the scheduler pod
//! by pod. Placement is round-robin over the nodes (interleaved across pools, hence zones), skipping nodes
//! without room; names and UIDs come from the seeded store, so a given scenario always yields the same cluster.
//!
//! The objects look as the controllers would have left them: Deployment `<name>` -> ReplicaSet
//! `<name>-<pod-template-hash>` (owner reference, revision 1, template = the Deployment's template plus the
//! `pod-template-hash` label) -> pods `<replicaset>-<suffix>` (owner reference), statuses filled in.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod, PodIP};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{Value, json};

use super::build::IMAGE;
use super::schema::{Generate, PdbMix};
use super::units::IntOrPercent;
use crate::cloud::PoolSpec;
use crate::store::State;

/// Names of the generated namespaces.
pub fn namespaces(g: &Generate) -> Vec<String> {
    (0..g.namespaces).map(|i| format!("tenant-{i:02}")).collect()
}

/// `pod-template-hash` as the Deployment controller derives it: FNV-32a of the template, its decimal form
/// spelled in the apiserver's "safe" alphabet.
pub fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let text = template.to_string();
    let h = text.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    h.to_string().bytes().map(|b| ALPHABET[b as usize % ALPHABET.len()] as char).collect()
}

#[derive(Clone, Copy)]
enum PdbKind {
    MinAvailable,
    MinAvailablePercent,
    MaxUnavailable,
    MaxUnavailablePercent,
    Nothing,
}

/// Smooth weighted round-robin over the PDB kinds: deterministic and interleaved.
struct Mix {
    weights: Vec<(PdbKind, i64)>,
    current: Vec<i64>,
}

impl Mix {
    fn new(m: &PdbMix) -> Self {
        let weights = vec![
            (PdbKind::MinAvailable, i64::from(m.min_available)),
            (PdbKind::MinAvailablePercent, i64::from(m.min_available_percent)),
            (PdbKind::MaxUnavailable, i64::from(m.max_unavailable)),
            (PdbKind::MaxUnavailablePercent, i64::from(m.max_unavailable_percent)),
            (PdbKind::Nothing, i64::from(m.none)),
        ];
        Self { current: vec![0; weights.len()], weights }
    }

    fn next(&mut self) -> PdbKind {
        let total: i64 = self.weights.iter().map(|w| w.1).sum();
        if total == 0 {
            return PdbKind::Nothing;
        }
        for (c, w) in self.current.iter_mut().zip(&self.weights) {
            *c += w.1;
        }
        let best = (0..self.current.len()).max_by_key(|&i| (self.current[i], -(i as i64))).unwrap_or(0);
        self.current[best] -= total;
        self.weights[best].0
    }
}

struct Slot {
    name: String,
    ip: String,
    pods_free: u32,
    cpu_free: u64,
    mem_free: f64,
}

/// Creates the generated pools, namespaces, Deployments, ReplicaSets, pods and PDBs.
pub fn generate(st: &mut State, g: &Generate) -> Result<(), String> {
    let mut pool_nodes: Vec<Vec<String>> = Vec::new();
    for i in 0..g.pools {
        let spec = PoolSpec {
            name: format!("{}-{i}", g.pool_prefix),
            version: g.version.clone(),
            size: g.nodes_per_pool,
            instance_type: "sim.4xlarge".to_string(),
            allocatable: g.allocatable.clone(),
            zones: g.zones.clone(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            capacity_type: Default::default(),
            autoscaling: Default::default(),
        };
        let pool = st.create_pool_now(spec).map_err(|e| e.to_string())?;
        pool_nodes.push(pool.status.nodes);
    }
    // Interleave the pools: node 0 of every pool, then node 1 ...
    let mut slots = Vec::new();
    for idx in 0..g.nodes_per_pool as usize {
        for nodes in &pool_nodes {
            let Some(name) = nodes.get(idx) else { continue };
            let Some(node) = st.get::<Node>("", name) else { continue };
            slots.push(Slot {
                name: name.clone(),
                ip: node_ip(&node),
                pods_free: g.allocatable.pods,
                cpu_free: g.allocatable.cpu.millis(),
                mem_free: g.allocatable.memory.value(),
            });
        }
    }
    let cpu = g.requests.cpu.as_ref().map_or(0, |q| q.millis());
    let mem = g.requests.memory.as_ref().map_or(0.0, |q| q.value());
    let namespaces = namespaces(g);
    let mut mix = Mix::new(&g.pdb_mix);
    let mut cursor = 0usize;
    let mut pod_seq = 0u64;
    let now = st.now;
    let ts = now.to_string();
    for d in 0..g.deployments {
        let ns = &namespaces[d as usize % namespaces.len()];
        let name = format!("app-{d:05}");
        let replicas = g.pods_per_deployment as i32;
        let mut requests = serde_json::Map::new();
        if let Some(c) = &g.requests.cpu {
            requests.insert("cpu".into(), json!(c.as_str()));
        }
        if let Some(m) = &g.requests.memory {
            requests.insert("memory".into(), json!(m.as_str()));
        }
        let template = json!({
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": IMAGE, "resources": {"requests": requests}}]},
        });
        let hash = template_hash(&template);
        let status = json!({
            "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": ts, "lastTransitionTime": ts},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{name}-{hash}\" has successfully progressed."),
                 "lastUpdateTime": ts, "lastTransitionTime": ts},
            ],
        });
        let dep: Deployment = decode(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name},
                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
            "status": status,
        }))?;
        let dep = st.create(dep, None, false).map_err(|e| e.to_string())?;
        let rs_name = format!("{name}-{hash}");
        let mut rs_template = template.clone();
        rs_template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let owner = |kind: &str, name: &str, uid: &str| {
            json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid,
                    "controller": true, "blockOwnerDeletion": true}])
        };
        let rs: ReplicaSet = decode(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns,
                         "labels": {"app": name, "pod-template-hash": hash},
                         "annotations": {"deployment.kubernetes.io/revision": "1",
                                         "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                                         "deployment.kubernetes.io/max-replicas": (replicas + (replicas + 3) / 4).to_string()},
                         "ownerReferences": owner("Deployment", &name, dep.metadata.uid.as_deref().unwrap_or(""))},
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {"app": name, "pod-template-hash": hash}},
                     "template": rs_template},
            "status": {"observedGeneration": 1, "replicas": replicas, "fullyLabeledReplicas": replicas,
                       "readyReplicas": replicas, "availableReplicas": replicas},
        }))?;
        let rs = st.create(rs, None, false).map_err(|e| e.to_string())?;
        let mut pod_template = rs_template.clone();
        pod_template["apiVersion"] = json!("v1");
        pod_template["kind"] = json!("Pod");
        pod_template["metadata"]["namespace"] = json!(ns);
        pod_template["metadata"]["generateName"] = json!(format!("{rs_name}-"));
        pod_template["metadata"]["ownerReferences"] =
            owner("ReplicaSet", &rs_name, rs.metadata.uid.as_deref().unwrap_or(""));
        pod_template["spec"]["schedulerName"] = json!("default-scheduler");
        pod_template["status"] = running_status(&ts);
        let base: Pod = decode(pod_template)?;
        for _ in 0..replicas {
            let slot = place(&mut slots, &mut cursor, cpu, mem)
                .ok_or_else(|| format!("no room left for the pods of {ns}/{name}"))?;
            let mut pod = base.clone();
            pod.metadata.name = Some(unique_name(st, ns, &rs_name));
            let ip = pod_ip(pod_seq);
            pod_seq += 1;
            if let Some(spec) = pod.spec.as_mut() {
                spec.node_name = Some(slots[slot].name.clone());
            }
            if let Some(s) = pod.status.as_mut() {
                s.host_ip = Some(slots[slot].ip.clone());
                s.pod_ip = Some(ip.clone());
                s.pod_ips = Some(vec![PodIP { ip }]);
                if let Some(c) = s.container_statuses.as_mut().and_then(|c| c.first_mut()) {
                    let (a, b) = (mix64(pod_seq), mix64(pod_seq ^ 0x5bd1_e995));
                    c.container_id = Some(format!("containerd://{a:016x}{b:016x}{:016x}{:016x}", mix64(a), mix64(b)));
                }
            }
            st.create(pod, None, false).map_err(|e| e.to_string())?;
        }
        let value = match mix.next() {
            PdbKind::MinAvailable => Some(("minAvailable", IntOrPercent::Int((replicas - 1).max(0)))),
            PdbKind::MinAvailablePercent => Some(("minAvailable", IntOrPercent::Percent(80))),
            PdbKind::MaxUnavailable => Some(("maxUnavailable", IntOrPercent::Int(1))),
            PdbKind::MaxUnavailablePercent => Some(("maxUnavailable", IntOrPercent::Percent(10))),
            PdbKind::Nothing => None,
        };
        if let Some((field, v)) = value {
            let pdb: PodDisruptionBudget = decode(json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": {"matchLabels": {"app": name}}, field: v.to_k8s()},
            }))?;
            st.create(pdb, None, false).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("building a generated object: {e}"))
}

fn node_ip(n: &Node) -> String {
    n.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone())
        .unwrap_or_default()
}

/// splitmix64: spreads a counter into random-looking, deterministic bits.
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn pod_ip(seq: u64) -> String {
    format!("100.{}.{}.{}", 64 + (seq >> 16) % 64, (seq >> 8) & 0xff, seq & 0xff)
}

fn running_status(ts: &str) -> Value {
    let cond = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": ts});
    json!({
        "phase": "Running",
        "qosClass": "Burstable",
        "startTime": ts,
        "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"),
                       cond("ContainersReady"), cond("PodScheduled")],
        "containerStatuses": [{
            "name": "app", "image": IMAGE, "imageID": format!("{IMAGE}@sha256:{}", "0".repeat(64)),
            "ready": true, "started": true, "restartCount": 0,
            "state": {"running": {"startedAt": ts}},
        }],
    })
}

/// The next node (round-robin from `cursor`) with room for one pod; reserves the room.
fn place(slots: &mut [Slot], cursor: &mut usize, cpu: u64, mem: f64) -> Option<usize> {
    for step in 0..slots.len() {
        let i = (*cursor + step) % slots.len();
        let s = &mut slots[i];
        if s.pods_free > 0 && s.cpu_free >= cpu && s.mem_free >= mem {
            s.pods_free -= 1;
            s.cpu_free -= cpu;
            s.mem_free -= mem;
            *cursor = i + 1;
            return Some(i);
        }
    }
    None
}

fn unique_name(st: &mut State, ns: &str, prefix: &str) -> String {
    loop {
        let name = format!("{prefix}-{}", st.random_suffix());
        if st.pods.get(ns, &name).is_none() {
            return name;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_interleaves_by_weight() {
        let mut m = Mix::new(&PdbMix {
            min_available: 2,
            min_available_percent: 0,
            max_unavailable: 1,
            max_unavailable_percent: 0,
            none: 1,
        });
        let seq: Vec<&str> = (0..8)
            .map(|_| match m.next() {
                PdbKind::MinAvailable => "min",
                PdbKind::MaxUnavailable => "max",
                PdbKind::Nothing => "none",
                _ => "other",
            })
            .collect();
        assert_eq!(seq, ["min", "max", "none", "min", "min", "max", "none", "min"]);
    }

    #[test]
    fn template_hash_is_stable_and_safe() {
        let a = template_hash(&json!({"metadata": {"labels": {"app": "x"}}}));
        assert_eq!(a, template_hash(&json!({"metadata": {"labels": {"app": "x"}}})));
        assert_ne!(a, template_hash(&json!({"metadata": {"labels": {"app": "y"}}})));
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{a}");
    }
}
