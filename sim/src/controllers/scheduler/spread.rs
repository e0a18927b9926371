//! PodTopologySpread with `whenUnsatisfiable: DoNotSchedule` (`pkg/scheduler/framework/plugins/podtopologyspread`).
//!
//! Per constraint, matching pods (same namespace, selector incl. `matchLabelKeys`, not terminating) are counted
//! per domain over the nodes that pass the node inclusion policies: `nodeAffinityPolicy` (default Honor: the
//! pod's nodeSelector / required affinity) and `nodeTaintsPolicy` (default Ignore: cordoned and tainted nodes
//! still count; Honor: nodes with untolerated NoSchedule/NoExecute taints do not), and that carry every
//! topology key of the pod's constraints. A node passes when `count(domain) + selfMatch - min(count) <=
//! maxSkew`. Counts are cached per pass and kept current as the pass binds pods.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec, TopologySpreadConstraint};

use super::cluster::Cluster;
use crate::controllers::nodematch::{UNSCHEDULABLE_TAINT, matches_node, node_taints, taint, tolerated};
use crate::controllers::pods::{is_terminating, namespace, node_name};
use crate::store::State;
use crate::store::selector::{Op, Requirement, Selector};

/// Counts of one (namespace, selector, key, inclusion policy) combination.
struct Counts {
    ns: String,
    selector: Selector,
    /// Domain index of every node that has the topology key.
    domain_of: Vec<Option<usize>>,
    /// Whether the node's pods are counted.
    eligible: Vec<bool>,
    counts: Vec<i64>,
    /// Whether the domain has at least one eligible node.
    present: Vec<bool>,
    /// How many of the pass's bindings are counted in.
    caught_up: usize,
}

impl Counts {
    /// Counts the pods bound since this entry was last used.
    fn catch_up(&mut self, binds: &[(usize, std::sync::Arc<Pod>)]) {
        for (node, pod) in &binds[self.caught_up..] {
            if namespace(&pod.metadata) == self.ns
                && self.eligible[*node]
                && let Some(d) = self.domain_of[*node]
                && self.selector.matches(pod.metadata.labels.as_ref())
            {
                self.counts[d] += 1;
            }
        }
        self.caught_up = binds.len();
    }

    fn min(&self, min_domains: i32) -> i64 {
        let present = self.present.iter().filter(|p| **p).count();
        if present < min_domains.max(1) as usize {
            return 0;
        }
        self.counts.iter().zip(&self.present).filter(|(_, p)| **p).map(|(c, _)| *c).min().unwrap_or(0)
    }
}

/// One constraint of the pod being scheduled, resolved for this pass.
pub struct Prepared {
    /// Index into [`SpreadIndex::counts`].
    counts: usize,
    max_skew: i64,
    self_match: i64,
    min: i64,
}

/// Bound, non-terminating pods of one namespace: (node index, pod).
type Placed = Vec<(usize, std::sync::Arc<Pod>)>;

#[derive(Default)]
pub struct SpreadIndex {
    counts: Vec<Counts>,
    /// Index of the counts of each (namespace, selector, key, inclusion policy) combination.
    ids: HashMap<String, usize>,
    /// Bound, non-terminating pods by namespace (node index, pod), built on first use in a pass.
    by_ns: Option<HashMap<String, Placed>>,
    /// Pods bound during this pass, in order; an entry counts them when it is next used.
    binds: Placed,
}

fn hard_constraints(spec: &PodSpec) -> impl Iterator<Item = &TopologySpreadConstraint> {
    spec.topology_spread_constraints.iter().flatten().filter(|c| c.when_unsatisfiable == "DoNotSchedule")
}

pub fn has_constraints(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|s| hard_constraints(s).next().is_some())
}

/// The constraint's selector plus `matchLabelKeys` taken from the pod's labels.
fn constraint_selector(c: &TopologySpreadConstraint, pod: &Pod) -> Selector {
    let mut sel = Selector::from_label_selector(c.label_selector.as_ref()).unwrap_or(Selector::Nothing);
    if let Selector::All(reqs) = &mut sel {
        for k in c.match_label_keys.iter().flatten() {
            if let Some(v) = pod.metadata.labels.as_ref().and_then(|l| l.get(k)) {
                reqs.push(Requirement { key: k.clone(), op: Op::Eq(v.clone()) });
            }
        }
    }
    sel
}

impl SpreadIndex {
    /// Resolves the pod's DoNotSchedule constraints, building the counts they need.
    pub fn prepare(&mut self, st: &State, cluster: &Cluster, pod: &Pod) -> Vec<Prepared> {
        let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
        let keys: Vec<&str> = hard_constraints(spec).map(|c| c.topology_key.as_str()).collect();
        let ns = namespace(&pod.metadata).to_string();
        let mut out = Vec::new();
        for c in hard_constraints(spec) {
            let selector = constraint_selector(c, pod);
            let honor_affinity = c.node_affinity_policy.as_deref() != Some("Ignore");
            let honor_taints = c.node_taints_policy.as_deref() == Some("Honor");
            let affinity_sig = if honor_affinity {
                serde_json::to_string(&(
                    &spec.node_selector,
                    spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()),
                ))
                .unwrap_or_default()
            } else {
                String::new()
            };
            let taint_sig =
                if honor_taints { serde_json::to_string(&spec.tolerations).unwrap_or_default() } else { String::new() };
            let id =
                format!("{ns}\u{0}{}\u{0}{keys:?}\u{0}{selector:?}\u{0}{affinity_sig}\u{0}{taint_sig}", c.topology_key);
            let idx = match self.ids.get(&id) {
                Some(i) => {
                    self.counts[*i].catch_up(&self.binds);
                    *i
                }
                None => {
                    let counts = self.build(
                        st,
                        cluster,
                        spec,
                        &ns,
                        selector.clone(),
                        &c.topology_key,
                        &keys,
                        honor_affinity,
                        honor_taints,
                    );
                    self.counts.push(counts);
                    self.ids.insert(id, self.counts.len() - 1);
                    self.counts.len() - 1
                }
            };
            out.push(Prepared {
                max_skew: i64::from(c.max_skew),
                self_match: i64::from(selector.matches(pod.metadata.labels.as_ref())),
                min: self.counts[idx].min(c.min_domains.unwrap_or(1)),
                counts: idx,
            });
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        st: &State,
        cluster: &Cluster,
        spec: &PodSpec,
        ns: &str,
        selector: Selector,
        key: &str,
        all_keys: &[&str],
        honor_affinity: bool,
        honor_taints: bool,
    ) -> Counts {
        let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
        let mut domains: HashMap<&str, usize> = HashMap::new();
        let mut domain_of = Vec::with_capacity(cluster.nodes.len());
        let mut eligible = Vec::with_capacity(cluster.nodes.len());
        let mut present: Vec<bool> = Vec::new();
        for ni in &cluster.nodes {
            let labels = ni.node.metadata.labels.as_ref();
            let value = labels.and_then(|l| l.get(key));
            let d = value.map(|v| {
                let next = domains.len();
                *domains.entry(v.as_str()).or_insert(next)
            });
            if present.len() < domains.len() {
                present.resize(domains.len(), false);
            }
            let has_keys = all_keys.iter().all(|k| labels.is_some_and(|l| l.contains_key(*k)));
            let ok = has_keys
                && (!honor_affinity || matches_node(spec, &ni.node))
                && (!honor_taints || taints_tolerated(ni, tolerations));
            if let (true, Some(d)) = (ok, d) {
                present[d] = true;
            }
            domain_of.push(d);
            eligible.push(ok);
        }
        let mut counts = vec![0i64; domains.len()];
        let by_ns = self.by_ns.get_or_insert_with(|| pods_by_namespace(st, cluster));
        for (node, pod) in by_ns.get(ns).into_iter().flatten() {
            if let (true, Some(d)) = (eligible[*node], domain_of[*node])
                && selector.matches(pod.metadata.labels.as_ref())
            {
                counts[d] += 1;
            }
        }
        Counts { ns: ns.to_string(), selector, domain_of, eligible, counts, present, caught_up: self.binds.len() }
    }

    /// PodTopologySpread Filter for node `node`: `None` when it passes, else the failure reason and whether
    /// it is unresolvable.
    pub fn check(&self, prepared: &[Prepared], node: usize) -> Option<(&'static str, bool)> {
        for p in prepared {
            let c = &self.counts[p.counts];
            let Some(d) = c.domain_of[node] else {
                return Some(("node(s) didn't match pod topology spread constraints (missing required label)", true));
            };
            let skew = c.counts[d] + p.self_match - p.min;
            if skew > p.max_skew {
                return Some(("node(s) didn't match pod topology spread constraints", false));
            }
        }
        None
    }

    /// A pod was bound to `node` in this pass: entries count it when next used.
    pub fn bound(&mut self, pod: &std::sync::Arc<Pod>, node: usize) {
        self.binds.push((node, pod.clone()));
        if let Some(by_ns) = self.by_ns.as_mut() {
            by_ns.entry(namespace(&pod.metadata).to_string()).or_default().push((node, pod.clone()));
        }
    }
}

/// With `nodeTaintsPolicy: Honor`: no untolerated NoSchedule/NoExecute taint (a cordoned node counts as
/// carrying the cordon taint even before the lifecycle controller adds it; a not-ready node its taint).
fn taints_tolerated(ni: &super::cluster::NodeInfo, tolerations: &[k8s_openapi::api::core::v1::Toleration]) -> bool {
    let explicit = node_taints(&ni.node)
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| tolerated(tolerations, t));
    let cordon = !ni.unschedulable || tolerated(tolerations, &taint(UNSCHEDULABLE_TAINT, "NoSchedule"));
    let ready = ni.not_ready_taint.is_none_or(|k| tolerated(tolerations, &taint(k, "NoSchedule")));
    explicit && cordon && ready
}

fn pods_by_namespace(st: &State, cluster: &Cluster) -> HashMap<String, Placed> {
    let mut out: HashMap<String, Placed> = HashMap::new();
    for p in st.pods.iter() {
        if is_terminating(p) || crate::controllers::pods::is_finished(p) {
            continue;
        }
        if let Some(i) = node_name(p).and_then(|n| cluster.index.get(n)) {
            out.entry(namespace(&p.metadata).to_string()).or_default().push((*i, p.clone()));
        }
    }
    out
}
