//! Whether a pod may go on a node: taints and tolerations, `nodeSelector`, required node affinity
//! (`component-helpers/scheduling/corev1`), shared by the scheduler and the DaemonSet controller.

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Taint, Toleration};

/// The cordon taint the node lifecycle controller maintains.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = t.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The taint `key:effect` with no value, as the node controllers set them.
pub fn taint(key: &str, effect: &str) -> Taint {
    Taint { key: key.into(), effect: effect.into(), value: None, time_added: None }
}

/// The first taint with one of `effects` that `tolerations` do not tolerate.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration], effects: &[&str]) -> Option<&'a Taint> {
    taints.iter().find(|t| effects.contains(&t.effect.as_str()) && !tolerated(tolerations, t))
}

pub fn node_taints(node: &Node) -> &[Taint] {
    node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or(&[])
}

pub fn is_unschedulable(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false)
}

/// `nodeSelector` and required node affinity (terms OR'ed, requirements inside a term AND'ed).
pub fn matches_node(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    let name = node.metadata.name.as_deref().unwrap_or("");
    let selector_ok = spec.node_selector.iter().flatten().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    if !selector_ok {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref());
    match required {
        None => true,
        Some(sel) => sel.node_selector_terms.iter().any(|t| term_matches(t, node, name)),
    }
}

/// A term with neither expressions nor fields matches nothing (upstream).
fn term_matches(term: &NodeSelectorTerm, node: &Node, name: &str) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs.iter().all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| r.key == "metadata.name" && requirement_matches(r, Some(name)))
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (value.and_then(|v| v.parse::<i64>().ok()), values.first()) else {
                return false;
            };
            let Ok(bound) = bound.parse::<i64>() else { return false };
            if r.operator == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn toleration_matching_follows_upstream() {
        let cordon = taint(UNSCHEDULABLE_TAINT, "NoSchedule");
        assert!(tolerates(&tol(serde_json::json!({"operator": "Exists"})), &cordon));
        assert!(tolerates(&tol(serde_json::json!({"key": UNSCHEDULABLE_TAINT, "operator": "Exists"})), &cordon));
        assert!(!tolerates(
            &tol(serde_json::json!({"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoExecute"})),
            &cordon
        ));
        let gpu =
            Taint { key: "gpu".into(), value: Some("true".into()), effect: "NoSchedule".into(), time_added: None };
        assert!(tolerates(&tol(serde_json::json!({"key": "gpu", "value": "true"})), &gpu));
        assert!(!tolerates(&tol(serde_json::json!({"key": "gpu", "operator": "Equal", "value": "no"})), &gpu));
        assert!(!tolerates(&tol(serde_json::json!({"key": "other", "operator": "Exists"})), &gpu));
    }

    #[test]
    fn node_affinity_operators() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "labels": {"zone": "a", "cores": "8"}}
        }))
        .unwrap();
        let spec = |aff: serde_json::Value| -> PodSpec {
            serde_json::from_value(serde_json::json!({"containers": [], "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": aff}}}}))
            .unwrap()
        };
        let expr = |key: &str, op: &str, values: &[&str]| serde_json::json!([{"matchExpressions": [{"key": key, "operator": op, "values": values}]}]);
        assert!(matches_node(&spec(expr("zone", "In", &["a", "b"])), &node));
        assert!(!matches_node(&spec(expr("zone", "NotIn", &["a"])), &node));
        assert!(matches_node(&spec(expr("cores", "Gt", &["4"])), &node));
        assert!(!matches_node(&spec(expr("cores", "Lt", &["4"])), &node));
        assert!(matches_node(&spec(expr("missing", "DoesNotExist", &[])), &node));
        assert!(!matches_node(&spec(expr("missing", "Exists", &[])), &node));
        let by_name =
            serde_json::json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]);
        assert!(matches_node(&spec(by_name), &node));
        let or_terms = serde_json::json!([
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
        ]);
        assert!(matches_node(&spec(or_terms), &node));
        assert!(!matches_node(&spec(serde_json::json!([{}])), &node), "an empty term matches nothing");
    }
}
