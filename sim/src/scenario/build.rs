//! Kubernetes objects for a scenario's workloads and PDBs, as a user would `kubectl apply` them: the
//! controllers, the scheduler and the kubelet take it from there.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::schema::{EvictionPolicy, PdbSpec, Timings, TolerationOperator, Workload, WorkloadKind};
use super::units::{Dur, IntOrPercent};
use crate::store::kinds::POOL_LABEL;

pub const IMAGE: &str = "registry.k8s.io/pause:3.10";

fn decode<T: DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("building the object: {e}"))
}

pub fn namespace(name: &str) -> Result<Namespace, String> {
    decode(json!({"metadata": {"name": name}}))
}

fn string_map<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.clone(), json!(v))).collect()
}

/// The pod template (`metadata` + `spec`) of a workload.
pub fn pod_template(w: &Workload, t: &Timings) -> Value {
    let mut labels = string_map(&w.labels);
    labels.insert("app".into(), json!(w.name));
    let mut annotations = Map::new();
    let delay = |d: Option<Dur>, default: Dur| json!(d.unwrap_or(default).to_string());
    annotations.insert("kubesim.io/start-delay".into(), delay(w.start_delay, t.pod_start));
    annotations.insert("kubesim.io/ready-delay".into(), delay(w.ready_delay, t.pod_ready));
    annotations.insert("kubesim.io/termination-delay".into(), delay(w.termination_delay, t.pod_termination));
    if w.do_not_disrupt {
        annotations.insert("karpenter.sh/do-not-disrupt".into(), json!("true"));
    }
    if let Some(safe) = w.safe_to_evict {
        annotations.insert("cluster-autoscaler.kubernetes.io/safe-to-evict".into(), json!(safe.to_string()));
    }
    annotations.extend(string_map(&w.annotations));

    let mut requests = Map::new();
    if let Some(c) = &w.requests.cpu {
        requests.insert("cpu".into(), json!(c.as_str()));
    }
    if let Some(m) = &w.requests.memory {
        requests.insert("memory".into(), json!(m.as_str()));
    }
    let mut container = json!({"name": "app", "image": IMAGE, "resources": {"requests": requests}});
    let mut spec = json!({"containers": []});
    if w.empty_dir {
        container["volumeMounts"] = json!([{"name": "scratch", "mountPath": "/scratch"}]);
        spec["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
    }
    spec["containers"] = json!([container]);
    let mut selector = string_map(&w.node_selector);
    if let Some(pool) = &w.pool {
        selector.insert(POOL_LABEL.into(), json!(pool));
    }
    if !selector.is_empty() {
        spec["nodeSelector"] = Value::Object(selector);
    }
    if !w.tolerations.is_empty() {
        let tols: Vec<Value> = w
            .tolerations
            .iter()
            .map(|t| {
                let mut v = Map::new();
                if let Some(k) = &t.key {
                    v.insert("key".into(), json!(k));
                }
                let op = match t.operator.unwrap_or(TolerationOperator::Equal) {
                    TolerationOperator::Equal => "Equal",
                    TolerationOperator::Exists => "Exists",
                };
                v.insert("operator".into(), json!(op));
                if let Some(val) = &t.value {
                    v.insert("value".into(), json!(val));
                }
                if let Some(e) = t.effect {
                    v.insert("effect".into(), json!(e.as_str()));
                }
                if let Some(s) = t.toleration_seconds {
                    v.insert("tolerationSeconds".into(), json!(s));
                }
                Value::Object(v)
            })
            .collect();
        spec["tolerations"] = json!(tols);
    }
    if let Some(ts) = &w.topology_spread {
        let mut constraints = Vec::new();
        for (skew, key) in [(ts.zone, "topology.kubernetes.io/zone"), (ts.hostname, "kubernetes.io/hostname")] {
            if let Some(s) = skew {
                constraints.push(json!({
                    "maxSkew": s,
                    "topologyKey": key,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": w.name}},
                }));
            }
        }
        spec["topologySpreadConstraints"] = json!(constraints);
    }
    if let Some(g) = w.termination_grace {
        spec["terminationGracePeriodSeconds"] = json!(g.0.as_secs());
    }
    json!({"metadata": {"labels": labels, "annotations": annotations}, "spec": spec})
}

/// The objects a workload entry creates.
pub enum WorkloadObjects {
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
    DaemonSet(Box<DaemonSet>),
    Pods(Vec<Pod>),
}

pub fn workload(w: &Workload, t: &Timings) -> Result<WorkloadObjects, String> {
    let template = pod_template(w, t);
    let meta = json!({"name": w.name, "namespace": w.namespace, "labels": {"app": w.name}});
    let selector = json!({"matchLabels": {"app": w.name}});
    let replicas = w.replicas.unwrap_or(1);
    Ok(match w.kind {
        WorkloadKind::Deployment => WorkloadObjects::Deployment(Box::new(decode(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }))?)),
        WorkloadKind::StatefulSet => WorkloadObjects::StatefulSet(Box::new(decode(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
            "spec": {"replicas": replicas, "serviceName": w.name, "selector": selector, "template": template},
        }))?)),
        WorkloadKind::DaemonSet => WorkloadObjects::DaemonSet(Box::new(decode(json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta,
            "spec": {"selector": selector, "template": template},
        }))?)),
        WorkloadKind::Pod => {
            let mut pods = Vec::new();
            for i in 0..replicas {
                let name = if replicas == 1 { w.name.clone() } else { format!("{}-{i}", w.name) };
                let mut v = template.clone();
                v["apiVersion"] = json!("v1");
                v["kind"] = json!("Pod");
                v["metadata"]["name"] = json!(name);
                v["metadata"]["namespace"] = json!(w.namespace);
                pods.push(decode(v)?);
            }
            WorkloadObjects::Pods(pods)
        }
    })
}

fn budget(
    name: &str,
    namespace: &str,
    selector: Value,
    min: Option<&IntOrPercent>,
    max: Option<&IntOrPercent>,
    policy: Option<EvictionPolicy>,
) -> Result<PodDisruptionBudget, String> {
    let mut spec = json!({"selector": selector});
    if let Some(m) = min {
        spec["minAvailable"] = serde_json::to_value(m.to_k8s()).map_err(|e| e.to_string())?;
    }
    if let Some(m) = max {
        spec["maxUnavailable"] = serde_json::to_value(m.to_k8s()).map_err(|e| e.to_string())?;
    }
    if let Some(p) = policy {
        spec["unhealthyPodEvictionPolicy"] = json!(p.as_str());
    }
    decode(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec,
    }))
}

/// The PDB of a workload: named after it, selecting `app=<name>`.
pub fn workload_pdb(w: &Workload) -> Result<Option<PodDisruptionBudget>, String> {
    let Some(p) = &w.pdb else { return Ok(None) };
    budget(
        &w.name,
        &w.namespace,
        json!({"matchLabels": {"app": w.name}}),
        p.min_available.as_ref(),
        p.max_unavailable.as_ref(),
        p.unhealthy_pod_eviction_policy,
    )
    .map(Some)
}

pub fn pdb(p: &PdbSpec) -> Result<PodDisruptionBudget, String> {
    budget(
        &p.name,
        &p.namespace,
        json!({"matchLabels": string_map(&p.selector)}),
        p.min_available.as_ref(),
        p.max_unavailable.as_ref(),
        p.unhealthy_pod_eviction_policy,
    )
}
