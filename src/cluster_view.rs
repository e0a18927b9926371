//! A summary of a cluster for people: nodes per pool (version, zone, readiness, pods per namespace) and the
//! PodDisruptionBudgets with their status. `demo` prints it for the simulated cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::ListParams;

use crate::text_table;

/// Node labels that name a node's pool, by provider, in the order they are tried.
pub const POOL_LABELS: [&str; 4] =
    ["kubesim.io/pool", "eks.amazonaws.com/nodegroup", "cloud.google.com/gke-nodepool", "karpenter.sh/nodepool"];
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const NO_POOL: &str = "(no pool label)";

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("listing {resource} failed: {source}")]
    List { resource: &'static str, source: kube::Error },
}

/// What the summary is made of.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub name: String,
    pub server_version: Option<String>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub pdbs: Vec<PodDisruptionBudget>,
}

impl ClusterView {
    /// Reads nodes, pods and PDBs of every namespace.
    pub async fn fetch(client: &kube::Client, name: &str) -> Result<Self, ViewError> {
        let lp = ListParams::default();
        let nodes = Api::<Node>::all(client.clone())
            .list(&lp)
            .await
            .map_err(|source| ViewError::List { resource: "nodes", source })?;
        let pods = Api::<Pod>::all(client.clone())
            .list(&lp)
            .await
            .map_err(|source| ViewError::List { resource: "pods", source })?;
        let pdbs = Api::<PodDisruptionBudget>::all(client.clone())
            .list(&lp)
            .await
            .map_err(|source| ViewError::List { resource: "poddisruptionbudgets", source })?;
        let server_version = client.apiserver_version().await.ok().map(|v| v.git_version);
        Ok(Self { name: name.to_string(), server_version, nodes: nodes.items, pods: pods.items, pdbs: pdbs.items })
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let pools = self.pools();
        let version = self.server_version.as_deref().map(|v| format!(" (Kubernetes {v})")).unwrap_or_default();
        out.push_str(&format!(
            "Cluster {}{version}: {} in {}, {} ({}), {}\n",
            self.name,
            plural(self.nodes.len(), "node"),
            plural(pools.len(), "pool"),
            plural(self.pods.len(), "pod"),
            self.phase_counts(),
            plural(self.pdbs.len(), "PodDisruptionBudget")
        ));
        for (pool, nodes) in &pools {
            out.push('\n');
            out.push_str(&self.render_pool(pool, nodes));
        }
        let unbound: Vec<&Pod> = self.pods.iter().filter(|p| node_name(p).is_none()).collect();
        if !unbound.is_empty() {
            out.push_str(&format!("\nPods not bound to a node: {}\n", unbound.len()));
        }
        if !self.pdbs.is_empty() {
            out.push_str("\nPodDisruptionBudgets\n");
            out.push_str(&self.render_pdbs());
        }
        out
    }

    /// Nodes grouped by pool name, pools and nodes sorted by name.
    fn pools(&self) -> BTreeMap<String, Vec<&Node>> {
        let mut pools: BTreeMap<String, Vec<&Node>> = BTreeMap::new();
        for n in &self.nodes {
            pools.entry(pool_of(n).unwrap_or(NO_POOL).to_string()).or_default().push(n);
        }
        for nodes in pools.values_mut() {
            nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        pools
    }

    fn phase_counts(&self) -> String {
        let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &self.pods {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
            *phases.entry(phase).or_default() += 1;
        }
        if phases.is_empty() {
            return "none".to_string();
        }
        phases.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
    }

    fn render_pool(&self, pool: &str, nodes: &[&Node]) -> String {
        let mut versions: Vec<&str> = nodes.iter().map(|n| kubelet_version(n)).collect();
        versions.sort_unstable();
        versions.dedup();
        let mut out = format!("Pool {pool}: {}, kubelet {}\n", plural(nodes.len(), "node"), versions.join(", "));
        let rows: Vec<Vec<String>> = nodes
            .iter()
            .map(|n| {
                let name = n.metadata.name.as_deref().unwrap_or("");
                let mut per_ns: BTreeMap<&str, usize> = BTreeMap::new();
                for p in self.pods.iter().filter(|p| node_name(p) == Some(name)) {
                    *per_ns.entry(p.metadata.namespace.as_deref().unwrap_or("")).or_default() += 1;
                }
                let total: usize = per_ns.values().sum();
                let by_ns = per_ns.iter().map(|(ns, c)| format!("{ns}={c}")).collect::<Vec<_>>().join(" ");
                vec![
                    name.to_string(),
                    kubelet_version(n).to_string(),
                    label(n, ZONE_LABEL).unwrap_or("-").to_string(),
                    readiness(n),
                    total.to_string(),
                    by_ns,
                ]
            })
            .collect();
        out.push_str(&text_table::render("  ", &["NODE", "VERSION", "ZONE", "STATUS", "PODS", "BY NAMESPACE"], &rows));
        out
    }

    fn render_pdbs(&self) -> String {
        let mut pdbs: Vec<&PodDisruptionBudget> = self.pdbs.iter().collect();
        pdbs.sort_by(|a, b| (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name)));
        let rows: Vec<Vec<String>> = pdbs
            .iter()
            .map(|pdb| {
                let spec = pdb.spec.as_ref();
                let status = pdb.status.as_ref();
                let allowed = status.and_then(|s| s.disruptions_allowed).unwrap_or(0);
                let allowed = if allowed == 0 { "0 (blocks evictions)".to_string() } else { allowed.to_string() };
                vec![
                    pdb.metadata.namespace.clone().unwrap_or_default(),
                    pdb.metadata.name.clone().unwrap_or_default(),
                    int_or_string(spec.and_then(|s| s.min_available.as_ref())),
                    int_or_string(spec.and_then(|s| s.max_unavailable.as_ref())),
                    status.and_then(|s| s.expected_pods).unwrap_or(0).to_string(),
                    status.and_then(|s| s.current_healthy).unwrap_or(0).to_string(),
                    status.and_then(|s| s.desired_healthy).unwrap_or(0).to_string(),
                    allowed,
                ]
            })
            .collect();
        text_table::render(
            "  ",
            &[
                "NAMESPACE",
                "NAME",
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "EXPECTED",
                "HEALTHY",
                "NEEDED",
                "ALLOWED DISRUPTIONS",
            ],
            &rows,
        )
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

fn label<'a>(n: &'a Node, key: &str) -> Option<&'a str> {
    n.metadata.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
}

/// The node's pool, from the first pool label it carries.
pub fn pool_of(n: &Node) -> Option<&str> {
    POOL_LABELS.iter().find_map(|k| label(n, k))
}

fn kubelet_version(n: &Node) -> &str {
    n.status.as_ref().and_then(|s| s.node_info.as_ref()).map_or("?", |i| i.kubelet_version.as_str())
}

fn node_name(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// `Ready`, `NotReady` or `Unknown`, plus `,SchedulingDisabled` when cordoned (as `kubectl get nodes`).
pub fn readiness(n: &Node) -> String {
    let ready = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| if c.status == "True" { "Ready" } else { "NotReady" })
        .unwrap_or("Unknown");
    let cordoned = n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    if cordoned { format!("{ready},SchedulingDisabled") } else { ready.to_string() }
}

fn int_or_string(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "N/A".to_string(),
    }
}

#[cfg(test)]
mod tests;
