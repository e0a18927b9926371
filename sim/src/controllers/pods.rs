//! Pod and owner helpers shared by the workload controllers, the scheduler and the kubelet.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::store::{Kind, State};

/// Annotation that orders ReplicaSet scale-down (lower cost goes first).
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
/// Annotation of static pods' API mirrors.
pub const MIRROR: &str = "kubernetes.io/config.mirror";

/// The controller owner reference, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// UID of the controller owner of `kind`.
pub fn controller_uid<'a>(meta: &'a ObjectMeta, kind: &str) -> Option<&'a str> {
    controller_of(meta).filter(|r| r.kind == kind).map(|r| r.uid.as_str())
}

/// The owner reference a workload controller puts on what it creates.
pub fn controller_ref(kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Succeeded or Failed.
pub fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Counted by controllers: not terminating and not finished (upstream `FilterActivePods`).
pub fn is_active(pod: &Pod) -> bool {
    !is_terminating(pod) && !is_finished(pod)
}

/// The node the pod is bound to.
pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

pub fn is_mirror(pod: &Pod) -> bool {
    annotation(&pod.metadata, MIRROR).is_some()
}

pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// `Ready` condition status is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// When the pod became Ready, if it is.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let c = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")?;
    (c.status == "True").then(|| c.last_transition_time.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0))
}

/// Upstream `IsPodAvailable`: Ready for at least `min_ready` seconds. When Ready but not yet long enough,
/// the second value is when it will be.
pub fn availability(pod: &Pod, min_ready: i32, now: Timestamp) -> (bool, Option<Timestamp>) {
    let Some(since) = ready_since(pod) else { return (false, None) };
    if min_ready <= 0 {
        return (true, None);
    }
    let at = crate::clock::add(since, Duration::from_secs(min_ready as u64));
    if super::changes::due(now, at) { (true, None) } else { (false, Some(at)) }
}

pub fn node_ready(node: &Node) -> bool {
    node_ready_status(node) == Some("True")
}

/// The status of the node's Ready condition (`True`, `False`, `Unknown`), if it has one.
pub fn node_ready_status(node: &Node) -> Option<&str> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str())
}

/// A new pod from a template, owned by `owner`, in `ns`. Name and node are the caller's business.
pub fn pod_from_template(template: &PodTemplateSpec, ns: &str, owner: OwnerReference) -> Pod {
    let tm = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            namespace: Some(ns.to_string()),
            labels: tm.labels,
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Objects of `K` controlled (by a controller of `kind`) by `owners`, by owner UID.
pub fn children_of<'a, K: Kind>(
    st: &State,
    kind: &str,
    owners: impl IntoIterator<Item = &'a ObjectMeta>,
) -> HashMap<String, Vec<Arc<K>>> {
    let mut by_ns: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for m in owners {
        by_ns.entry(namespace(m)).or_default().insert(uid(m));
    }
    let mut out: HashMap<String, Vec<Arc<K>>> = HashMap::new();
    for (ns, uids) in by_ns {
        for o in K::table(st).in_namespace(ns) {
            if let Some(u) = controller_uid(o.metadata(), kind)
                && uids.contains(u)
            {
                out.entry(u.to_string()).or_default().push(o.clone());
            }
        }
    }
    out
}

/// Adds the `(namespace, name)` of the controller (of `kind`) of each pod to `keys`.
pub fn owner_keys<'a>(pods: impl Iterator<Item = &'a Pod>, kind: &str, keys: &mut BTreeSet<(String, String)>) {
    for p in pods {
        if let Some(r) = controller_of(&p.metadata).filter(|r| r.kind == kind) {
            keys.insert((namespace(&p.metadata).to_string(), r.name.clone()));
        }
    }
}

/// FNV-1a, 32 bits: the hash upstream uses for pod-template-hash.
pub fn fnv32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// FNV-1a, 64 bits (fake container IDs, image digests).
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A deterministic hash of a pod template (and a collision count), encoded with the apiserver's
/// consonant-and-digit alphabet, as `pod-template-hash` and `controller-revision-hash` look.
pub fn template_hash(template: &PodTemplateSpec, collision: i32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if collision > 0 {
        bytes.extend_from_slice(&collision.to_le_bytes());
    }
    fnv32(&bytes).to_string().bytes().map(|d| ALPHABET[usize::from(d) % ALPHABET.len()] as char).collect()
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int, or `pct%` of `total` rounded up or down.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool, default: i32) -> i32 {
    match v {
        None => default,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let Some(pct) = s.strip_suffix('%').and_then(|p| p.trim().parse::<i64>().ok()) else {
                return default;
            };
            let x = pct * i64::from(total);
            let v = if round_up { (x + 99).div_euclid(100) } else { x.div_euclid(100) };
            i32::try_from(v).unwrap_or(default)
        }
    }
}

/// Writes `labels` over the template's labels.
pub fn with_labels(template: &PodTemplateSpec, labels: &[(&str, &str)]) -> PodTemplateSpec {
    let mut t = template.clone();
    let meta = t.metadata.get_or_insert_with(Default::default);
    let map = meta.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in labels {
        map.insert(k.to_string(), v.to_string());
    }
    t
}

/// Whether every label of the template is on the pod (ReplicaSet `fullyLabeledReplicas`).
pub fn has_all_labels(pod: &Pod, template: &PodTemplateSpec) -> bool {
    let want = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let have = pod.metadata.labels.as_ref();
    want.into_iter().flatten().all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
}

/// The creation time of an object, for ordering.
pub fn created(meta: &ObjectMeta) -> Timestamp {
    meta.creation_timestamp.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

pub fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

pub fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("")
}

pub fn uid(meta: &ObjectMeta) -> &str {
    meta.uid.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_as_intstr_does() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(scaled_value(Some(&pct("25%")), 3, true, 0), 1);
        assert_eq!(scaled_value(Some(&pct("25%")), 3, false, 0), 0);
        assert_eq!(scaled_value(Some(&pct("30%")), 5, true, 0), 2);
        assert_eq!(scaled_value(Some(&IntOrString::Int(2)), 5, true, 0), 2);
        assert_eq!(scaled_value(None, 5, true, 7), 7);
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let t: PodTemplateSpec =
            serde_json::from_value(serde_json::json!({"metadata": {"labels": {"app": "web"}}})).unwrap();
        let h = template_hash(&t, 0);
        assert_eq!(h, template_hash(&t.clone(), 0));
        assert_ne!(h, template_hash(&t, 1));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        let other = with_labels(&t, &[("v", "2")]);
        assert_ne!(h, template_hash(&other, 0));
    }
}
