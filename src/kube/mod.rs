//! The engine's ports on a real (or simulated) Kubernetes API: [`KubeCluster`] (snapshot, cordon, evict,
//! delete, and the watch-fed [`LiveCache`]), [`ConfigMapStore`] (checkpoints) and [`LeaseLock`] (one agent
//! per pool).

pub mod cache;
pub mod cluster;
pub mod configmap_store;
mod errors;
pub mod events;
pub mod lease;
pub mod retry;
pub mod slim;

pub use cache::LiveCache;
pub use cluster::{KubeCluster, classify_eviction};
pub use configmap_store::ConfigMapStore;
pub use lease::LeaseLock;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;

/// Where poolshift keeps its ConfigMaps and Leases.
pub const SYSTEM_NAMESPACE: &str = "poolshift-system";
/// Label on nodes a run cordoned, valued with the run id.
pub const RUN_LABEL: &str = "poolshift.io/run";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "poolshift";
/// Kubernetes names used here are DNS labels (a Lease name must also fit in 63 characters for some tools).
const MAX_NAME: usize = 63;

/// `poolshift-<cluster>-<pool>` as a valid DNS-1123 label: lowercase, `[a-z0-9-]`, at most 63 characters. When
/// the name must be shortened, a hash of the full name keeps different clusters and pools apart.
pub fn object_name(cluster: &str, pool: &str) -> String {
    let raw = format!("poolshift-{cluster}-{pool}");
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let mut out = out.trim_matches('-').to_string();
    if out.len() > MAX_NAME {
        let hash = fnv1a(raw.as_bytes());
        out.truncate(MAX_NAME - 9);
        let mut out = out.trim_end_matches('-').to_string();
        out.push_str(&format!("-{:08x}", hash as u32));
        return out;
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Creates `obj` in `namespace` (retrying transient failures). The namespace is created only when the object's
/// create says it is missing (404), and the object created once more: where deploy/ made the namespace (as
/// it does), the agent needs no right on namespaces at all.
pub(crate) async fn create_namespaced<K>(
    client: &kube::Client,
    namespace: &str,
    what: &str,
    obj: &K,
) -> Result<K, kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let pp = PostParams::default();
    match retry::transient(what, || api.create(&pp, obj)).await {
        Err(kube::Error::Api(s)) if s.code == 404 => {
            tracing::info!(namespace, "namespace missing; creating it");
            retry::transient("creating the namespace", || ensure_namespace(client, namespace)).await?;
            retry::transient(what, || api.create(&pp, obj)).await
        }
        other => other,
    }
}

/// Creates `name` if it does not exist (an existing namespace is fine).
async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), kube::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.to_string());
    ns.metadata.labels = Some([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())].into());
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_dns_labels() {
        assert_eq!(object_name("prod", "blue"), "poolshift-prod-blue");
        assert_eq!(object_name("Prod_EU.1", "ng--blue-"), "poolshift-prod-eu-1-ng-blue");
        let long = object_name(&"c".repeat(80), "blue");
        assert_eq!(long.len(), 63);
        assert!(long.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert_ne!(long, object_name(&"c".repeat(81), "blue"), "the hash keeps long names apart");
    }
}
