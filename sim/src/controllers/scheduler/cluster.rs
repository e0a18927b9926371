//! The scheduler's snapshot of the cluster for one pass: per node its allocatable resources and what the
//! pods bound to it request (pods that are not finished; terminating pods still hold their resources).

use std::sync::Arc;

use foldhash::{HashMap, HashSet, HashSetExt};
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec};

use crate::controllers::nodematch::is_unschedulable;
use crate::controllers::pods::{is_finished, node_name, node_ready_status, uid};
use crate::controllers::quantity::{cpu_millis, units};
use crate::store::State;

/// What a pod asks for. `nz_*` are the non-zero values upstream scores with (100m CPU / 200Mi memory for a
/// container that requests nothing).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub cpu: i64,
    pub mem: i64,
    pub nz_cpu: i64,
    pub nz_mem: i64,
}

const DEFAULT_CPU: i64 = 100;
const DEFAULT_MEM: i64 = 200 * 1024 * 1024;

fn container_request(c: &Container, resource: &str) -> i64 {
    let res = c.resources.as_ref();
    // A limit without a request defaults the request (apiserver defaulting).
    let q = res
        .and_then(|r| r.requests.as_ref())
        .and_then(|m| m.get(resource))
        .or_else(|| res.and_then(|r| r.limits.as_ref()).and_then(|m| m.get(resource)));
    match (q, resource) {
        (Some(q), "cpu") => cpu_millis(&q.0),
        (Some(q), _) => units(&q.0),
        (None, _) => 0,
    }
}

/// Upstream `PodRequests`: the sum over containers (and restartable init containers), at least the largest
/// regular init container, plus the pod overhead.
pub fn pod_request(spec: &PodSpec) -> Request {
    let mut r = Request::default();
    for c in &spec.containers {
        let (cpu, mem) = (container_request(c, "cpu"), container_request(c, "memory"));
        r.cpu += cpu;
        r.mem += mem;
        r.nz_cpu += if cpu == 0 { DEFAULT_CPU } else { cpu };
        r.nz_mem += if mem == 0 { DEFAULT_MEM } else { mem };
    }
    let (mut init_cpu, mut init_mem) = (0, 0);
    for c in spec.init_containers.iter().flatten() {
        let (cpu, mem) = (container_request(c, "cpu"), container_request(c, "memory"));
        if c.restart_policy.as_deref() == Some("Always") {
            r.cpu += cpu;
            r.mem += mem;
        } else {
            init_cpu = init_cpu.max(cpu);
            init_mem = init_mem.max(mem);
        }
    }
    r.cpu = r.cpu.max(init_cpu);
    r.mem = r.mem.max(init_mem);
    if let Some(o) = &spec.overhead {
        let cpu = o.get("cpu").map_or(0, |q| cpu_millis(&q.0));
        let mem = o.get("memory").map_or(0, |q| units(&q.0));
        r.cpu += cpu;
        r.mem += mem;
        r.nz_cpu += cpu;
        r.nz_mem += mem;
    }
    r
}

/// Requests by pod UID, kept across passes (a pod's requests do not change).
#[derive(Debug, Default)]
pub struct RequestCache {
    by_uid: HashMap<String, Request>,
}

impl RequestCache {
    pub fn get(&mut self, pod: &Pod) -> Request {
        if let Some(r) = self.by_uid.get(uid(&pod.metadata)) {
            return *r;
        }
        let r = pod.spec.as_ref().map(pod_request).unwrap_or_default();
        self.by_uid.insert(uid(&pod.metadata).to_string(), r);
        r
    }

    pub fn forget(&mut self, pod: &Pod) {
        self.by_uid.remove(uid(&pod.metadata));
    }

    pub fn clear(&mut self) {
        self.by_uid.clear();
    }
}

/// What the pods bound to a node request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub cpu: i64,
    pub mem: i64,
    pub nz_cpu: i64,
    pub nz_mem: i64,
    pub pods: i64,
}

impl Usage {
    pub fn add(&mut self, r: Request, sign: i64) {
        self.cpu += sign * r.cpu;
        self.mem += sign * r.mem;
        self.nz_cpu += sign * r.nz_cpu;
        self.nz_mem += sign * r.nz_mem;
        self.pods += sign;
    }
}

/// Usage per node name, maintained from pod events between passes (the scheduler cache).
#[derive(Debug, Default)]
pub struct UsageIndex {
    by_node: HashMap<String, Usage>,
    /// Nodes whose usage changed since the last [`UsageIndex::take_changes`]; `None`: possibly all.
    changed: Option<HashSet<String>>,
}

impl UsageIndex {
    /// A pod counts on its node while bound and not finished (terminating pods still hold resources).
    fn apply(&mut self, requests: &mut RequestCache, pod: &Pod, sign: i64) {
        if is_finished(pod) {
            return;
        }
        if let Some(n) = node_name(pod) {
            let r = requests.get(pod);
            self.by_node.entry(n.to_string()).or_default().add(r, sign);
            if let Some(changed) = &mut self.changed {
                changed.insert(n.to_string());
            }
        }
    }

    pub fn added(&mut self, requests: &mut RequestCache, pod: &Pod) {
        self.apply(requests, pod, 1);
    }

    pub fn removed(&mut self, requests: &mut RequestCache, pod: &Pod) {
        self.apply(requests, pod, -1);
    }

    /// Recomputes everything from the pods table.
    pub fn rebuild(&mut self, requests: &mut RequestCache, st: &State) {
        self.by_node.clear();
        self.changed = None;
        requests.clear();
        for p in st.pods.iter() {
            self.added(requests, p);
        }
    }

    pub fn get(&self, node: &str) -> Usage {
        self.by_node.get(node).copied().unwrap_or_default()
    }

    /// The nodes whose usage changed since the last call (`None`: possibly all), and starts counting anew.
    pub fn take_changes(&mut self) -> Option<HashSet<String>> {
        self.changed.replace(HashSet::new())
    }
}

pub struct NodeInfo {
    pub node: Arc<Node>,
    pub name: String,
    /// `None` when Ready; otherwise the taint the node lifecycle controller would have put on it.
    pub not_ready_taint: Option<&'static str>,
    pub unschedulable: bool,
    pub alloc_cpu: i64,
    pub alloc_mem: i64,
    pub alloc_pods: i64,
    pub used: Usage,
}

impl NodeInfo {
    fn new(node: Arc<Node>, used: Usage) -> Self {
        let alloc = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        let get = |k: &str| alloc.and_then(|a| a.get(k));
        let not_ready_taint = match node_ready_status(&node) {
            Some("True") => None,
            Some("False") => Some(crate::controllers::nodematch::NOT_READY_TAINT),
            _ => Some(crate::controllers::nodematch::UNREACHABLE_TAINT),
        };
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            not_ready_taint,
            unschedulable: is_unschedulable(&node),
            alloc_cpu: get("cpu").map_or(0, |q| cpu_millis(&q.0)),
            alloc_mem: get("memory").map_or(0, |q| units(&q.0)),
            alloc_pods: get("pods").map_or(0, |q| units(&q.0)),
            used,
            node,
        }
    }

    /// NodeResourcesFit passes.
    pub fn fits(&self, r: Request) -> bool {
        self.used.pods < self.alloc_pods
            && (r.cpu <= 0 || r.cpu <= self.alloc_cpu - self.used.cpu)
            && (r.mem <= 0 || r.mem <= self.alloc_mem - self.used.mem)
    }

    /// NodeResourcesFit failure reasons for a pod requesting `r`.
    pub fn misfit(&self, r: Request) -> Vec<&'static str> {
        let mut why = Vec::new();
        if self.used.pods + 1 > self.alloc_pods {
            why.push("Too many pods");
        }
        if r.cpu > 0 && r.cpu > self.alloc_cpu - self.used.cpu {
            why.push("Insufficient cpu");
        }
        if r.mem > 0 && r.mem > self.alloc_mem - self.used.mem {
            why.push("Insufficient memory");
        }
        why
    }

    /// NodeResourcesLeastAllocated: the mean over CPU and memory of the free share after placing the pod.
    pub fn score(&self, r: Request) -> i64 {
        let least = |requested: i64, capacity: i64| {
            if capacity <= 0 || requested > capacity { 0 } else { (capacity - requested) * 100 / capacity }
        };
        (least(self.used.nz_cpu + r.nz_cpu, self.alloc_cpu) + least(self.used.nz_mem + r.nz_mem, self.alloc_mem)) / 2
    }
}

/// All nodes (in name order) and their load, for one pass.
pub struct Cluster {
    pub nodes: Vec<NodeInfo>,
    pub index: HashMap<String, usize>,
}

impl Cluster {
    pub fn build(st: &State, usage: &UsageIndex) -> Self {
        let nodes: Vec<NodeInfo> = st
            .nodes
            .iter()
            .map(|n| NodeInfo::new(n.clone(), usage.get(n.metadata.name.as_deref().unwrap_or(""))))
            .collect();
        let index: HashMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
        Self { nodes, index }
    }

    /// Takes the current usage of the nodes whose usage changed (the nodes themselves have not).
    pub fn refresh(&mut self, usage: &mut UsageIndex) {
        match usage.take_changes() {
            Some(changed) => {
                for i in changed.iter().filter_map(|n| self.index.get(n)) {
                    self.nodes[*i].used = usage.get(&self.nodes[*i].name);
                }
            }
            None => {
                for n in &mut self.nodes {
                    n.used = usage.get(&n.name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_request_sums_containers_and_honours_init_and_limits() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                {"name": "c"}
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]
        }))
        .unwrap();
        let r = pod_request(&spec);
        assert_eq!(r.cpu, 2000, "the init container's 2 CPUs exceed the 1.25 the containers sum to");
        assert_eq!(r.mem, 64 * 1024 * 1024 + 1024 * 1024 * 1024);
        assert_eq!(r.nz_cpu, 250 + 1000 + 100);
        assert_eq!(r.nz_mem, 64 * 1024 * 1024 + 1024 * 1024 * 1024 + 200 * 1024 * 1024);
    }
}
