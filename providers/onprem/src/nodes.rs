//! What the pre-provisioned provider reads from Kubernetes nodes: readiness, kubelet version, placement,
//! and the labels and taints a pool's nodes share.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use poolshift_provider_api::{ErrorKind, ProviderError, Taint};

/// A `key=value` node label from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub key: String,
    pub value: String,
}

impl Label {
    pub fn parse(field: &str, text: &str) -> Result<Self, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("{field}: {text:?} is not a label (want key=value, e.g. example.com/pool=green)"))?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || value.is_empty() {
            return Err(format!("{field}: {text:?} needs both a key and a value (key=value)"));
        }
        if value.contains(['=', ',', ' ']) || key.contains([',', ' ']) {
            return Err(format!("{field}: {text:?} is one label: no spaces, commas or second '='"));
        }
        Ok(Self { key: key.to_string(), value: value.to_string() })
    }

    pub fn selector(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The facts of one node.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub name: String,
    pub ready: bool,
    /// Kubelet version without the leading `v` (`1.31.4`, `1.31.4-eks-1`).
    pub version: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

impl NodeFacts {
    fn from_node(n: &Node) -> Self {
        let status = n.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let version = status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.trim_start_matches('v').to_string())
            .unwrap_or_default();
        let taints = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .map(|ts| {
                ts.iter()
                    .map(|t| Taint { key: t.key.clone(), value: t.value.clone(), effect: t.effect.clone() })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            name: n.metadata.name.clone().unwrap_or_default(),
            ready,
            version,
            labels: n.metadata.labels.clone().unwrap_or_default(),
            taints,
        }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// `(major, minor, patch)` of `1.31.4`, `v1.31.4+k3s1`, `1.31.4-eks-1`.
pub fn numeric(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim_start_matches('v');
    let end = core.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(core.len());
    let mut parts = core[..end].split('.').map(str::parse::<u64>);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c)), None) => Some((a, b, c)),
        _ => None,
    }
}

/// Whether a kubelet version is the target version (build suffixes aside: `1.31.4-eks-1` is `1.31.4`).
pub fn same_version(kubelet: &str, target: &str) -> bool {
    match (numeric(kubelet), numeric(target)) {
        (Some(a), Some(b)) => a == b,
        _ => kubelet.trim_start_matches('v') == target.trim_start_matches('v'),
    }
}

/// Lists the nodes carrying `label`, sorted by name.
pub async fn list(
    client: &kube::Client,
    op: &str,
    provider: &str,
    label: &Label,
) -> Result<Vec<NodeFacts>, ProviderError> {
    let api: Api<Node> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(&label.selector()))
        .await
        .map_err(|e| kube_error(provider, op, &format!("listing nodes labelled {label}"), e))?;
    let mut nodes: Vec<NodeFacts> = list.items.iter().map(NodeFacts::from_node).collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nodes)
}

/// Maps a Kubernetes API failure onto the provider's error kinds.
pub fn kube_error(provider: &str, op: &str, what: &str, e: kube::Error) -> ProviderError {
    let (kind, hint) = match &e {
        kube::Error::Api(s) => match s.code {
            401 | 403 => {
                (ErrorKind::Permission, Some("grant poolshift's identity list on nodes (runbook: permissions)"))
            }
            404 => (ErrorKind::NotFound, None),
            409 => (ErrorKind::Conflict, None),
            400 | 422 => (ErrorKind::Invalid, None),
            429 | 500..=599 => (ErrorKind::Transient, None),
            _ => (ErrorKind::Failed, None),
        },
        // Connection-level failures: the API server may be restarting; worth a retry.
        _ => (ErrorKind::Transient, None),
    };
    let err = ProviderError::new(provider, op, kind, format!("{what}: {e}"));
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// Values every node has for `key`, sorted and deduplicated.
pub fn distinct(nodes: &[NodeFacts], key: &str) -> Vec<String> {
    nodes.iter().filter_map(|n| n.label(key)).map(str::to_string).collect::<BTreeSet<_>>().into_iter().collect()
}

/// Labels set to the same value on every node, without Kubernetes' own (`*kubernetes.io/*`, `*k8s.io/*`)
/// and without `except` (the pool label, which the green pool carries with its own value).
pub fn common_labels(nodes: &[NodeFacts], except: &str) -> BTreeMap<String, String> {
    let Some(first) = nodes.first() else { return BTreeMap::new() };
    first
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != except && !is_system_key(k))
        .filter(|(k, v)| nodes.iter().all(|n| n.labels.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Taints every node has, without the ones Kubernetes manages (`node.kubernetes.io/*`).
pub fn common_taints(nodes: &[NodeFacts]) -> Vec<Taint> {
    let Some(first) = nodes.first() else { return Vec::new() };
    first
        .taints
        .iter()
        .filter(|t| {
            !t.key.starts_with("node.kubernetes.io/") && !t.key.starts_with("node.cloudprovider.kubernetes.io/")
        })
        .filter(|t| nodes.iter().all(|n| n.taints.contains(t)))
        .cloned()
        .collect()
}

fn is_system_key(key: &str) -> bool {
    let prefix = key.split_once('/').map(|(p, _)| p).unwrap_or("");
    prefix == "kubernetes.io" || prefix.ends_with(".kubernetes.io") || prefix == "k8s.io" || prefix.ends_with(".k8s.io")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_or_say_why() {
        let l = Label::parse("label", "example.com/pool=green").unwrap();
        assert_eq!((l.key.as_str(), l.value.as_str()), ("example.com/pool", "green"));
        assert!(Label::parse("label", "green").unwrap_err().contains("key=value"));
        assert!(Label::parse("blue_label", "pool=").unwrap_err().starts_with("blue_label:"));
        assert!(Label::parse("label", "a=b,c=d").unwrap_err().contains("one label"));
    }

    #[test]
    fn versions_compare_without_build_suffixes() {
        assert_eq!(numeric("v1.31.4+k3s1"), Some((1, 31, 4)));
        assert!(same_version("1.31.4-eks-1", "1.31.4"));
        assert!(!same_version("1.31.3", "1.31.4"));
        assert_eq!(numeric("1.31"), None);
    }
}
