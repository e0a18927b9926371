//! Which PodDisruptionBudgets select a pod, without matching every PDB of the namespace against every pod:
//! budgets with `matchLabels` are filed under their first label, so a pod is only checked against the
//! budgets filed under one of its own labels (plus the few without `matchLabels`).

use std::collections::HashMap;

use crate::model::snapshot::{PdbInfo, PodInfo};

#[derive(Default)]
struct Namespace<'a> {
    by_label: HashMap<(&'a str, &'a str), Vec<&'a PdbInfo>>,
    /// Empty selectors and expression-only selectors: checked against every pod of the namespace.
    others: Vec<&'a PdbInfo>,
}

pub struct PdbIndex<'a> {
    namespaces: HashMap<&'a str, Namespace<'a>>,
}

impl<'a> PdbIndex<'a> {
    pub fn new(pdbs: &'a [PdbInfo]) -> Self {
        let mut namespaces: HashMap<&'a str, Namespace<'a>> = HashMap::new();
        for pdb in pdbs {
            // A PDB without a selector selects nothing (policy/v1): not indexed at all.
            let Some(sel) = &pdb.selector else { continue };
            let ns = namespaces.entry(pdb.namespace.as_str()).or_default();
            match sel.match_labels.as_ref().and_then(|m| m.iter().next()) {
                Some((k, v)) => ns.by_label.entry((k.as_str(), v.as_str())).or_default().push(pdb),
                None => ns.others.push(pdb),
            }
        }
        Self { namespaces }
    }

    /// The budgets that select `pod`, sorted by name.
    pub fn matching(&self, pod: &PodInfo) -> Vec<&'a PdbInfo> {
        let Some(ns) = self.namespaces.get(pod.namespace.as_str()) else { return Vec::new() };
        let mut out: Vec<&'a PdbInfo> = Vec::new();
        for (k, v) in &pod.labels {
            if let Some(candidates) = ns.by_label.get(&(k.as_str(), v.as_str())) {
                out.extend(candidates.iter().filter(|p| p.selects(pod)));
            }
        }
        out.extend(ns.others.iter().filter(|p| p.selects(pod)));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    use super::*;

    fn pdb(name: &str, sel: Option<LabelSelector>) -> PdbInfo {
        PdbInfo {
            namespace: "ns".into(),
            name: name.into(),
            selector: sel,
            min_available: None,
            max_unavailable: None,
            unhealthy_pod_eviction_policy: None,
            expected_pods: 0,
            desired_healthy: 0,
            current_healthy: 0,
            disruptions_allowed: 0,
            generation: 1,
            observed_generation: 1,
            sync_failed: None,
            resource_version: String::new(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn finds_the_same_budgets_as_matching_every_one() {
        let by_labels =
            |pairs: &[(&str, &str)]| LabelSelector { match_labels: Some(labels(pairs)), ..Default::default() };
        let pdbs = vec![
            pdb("web", Some(by_labels(&[("app", "web")]))),
            pdb("web-tier", Some(by_labels(&[("app", "web"), ("tier", "front")]))),
            pdb("everything", Some(LabelSelector::default())),
            pdb(
                "not-db",
                Some(LabelSelector {
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "app".into(),
                        operator: "NotIn".into(),
                        values: Some(vec!["db".into()]),
                    }]),
                    ..Default::default()
                }),
            ),
            pdb("nothing", None),
        ];
        let index = PdbIndex::new(&pdbs);
        for pod_labels in [vec![("app", "web")], vec![("app", "web"), ("tier", "front")], vec![("app", "db")], vec![]] {
            let pod = PodInfo { namespace: "ns".into(), labels: labels(&pod_labels), ..Default::default() };
            let got: Vec<&str> = index.matching(&pod).iter().map(|p| p.name.as_str()).collect();
            let mut want: Vec<&str> = pdbs.iter().filter(|p| p.selects(&pod)).map(|p| p.name.as_str()).collect();
            want.sort_unstable();
            assert_eq!(got, want, "{pod_labels:?}");
        }
        let other_ns = PodInfo { namespace: "other".into(), labels: labels(&[("app", "web")]), ..Default::default() };
        assert!(index.matching(&other_ns).is_empty());
    }
}
