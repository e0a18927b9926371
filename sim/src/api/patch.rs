//! PATCH bodies: RFC 7386 merge patch, RFC 6902 JSON patch, and the subset of strategic merge patch that
//! kubectl and controllers send (lists merged by their patchMergeKey, `$patch: delete|replace`,
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` accepted and ignored).

use serde_json::{Map, Value};

use crate::error::ApiError;

pub fn apply(content_type: &str, mut doc: Value, body: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let bad = |e: String| ApiError::bad_request(e);
    match ct {
        "application/json-patch+json" => {
            let p: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &p.0).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
            Ok(doc)
        }
        "application/merge-patch+json" => {
            let p: Value = serde_json::from_slice(body).map_err(|e| bad(format!("invalid merge patch: {e}")))?;
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
        "application/strategic-merge-patch+json" => {
            let p: Value =
                serde_json::from_slice(body).map_err(|e| bad(format!("invalid strategic merge patch: {e}")))?;
            strategic_merge(&mut doc, &p, "");
            Ok(doc)
        }
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Err(ApiError::unsupported_media_type(
            "server-side apply is not supported by kubesim: use a merge, strategic merge or JSON patch",
        )),
        other => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got \"{other}\")"
        ))),
    }
}

/// The patchMergeKey of list fields (by field name) for the types the simulator serves.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "volumeMounts"
        | "imagePullSecrets" => "name",
        "conditions" => "type",
        "ports" => "containerPort",
        "ownerReferences" => "uid",
        "addresses" => "type",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of scalars merged as sets (patchStrategy merge without a key).
fn is_set_list(field: &str) -> bool {
    matches!(field, "finalizers")
}

fn strategic_merge(doc: &mut Value, patch: &Value, _field: &str) {
    let Value::Object(p) = patch else {
        *doc = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut q = p.clone();
        q.remove("$patch");
        *doc = Value::Object(q);
        return;
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Some(d) = doc.as_object_mut() else { return };
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Value::Array(del)) = (d.get_mut(field), v) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        match v {
            Value::Null => {
                d.remove(k);
            }
            Value::Object(_) => {
                let entry = d.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(entry, v, k);
            }
            Value::Array(items) => match (merge_key(k), d.get_mut(k)) {
                (Some(key), Some(Value::Array(cur))) => merge_list(cur, items, key),
                (None, Some(Value::Array(cur))) if is_set_list(k) => {
                    for it in items {
                        if !cur.contains(it) {
                            cur.push(it.clone());
                        }
                    }
                }
                _ => {
                    let cleaned: Vec<Value> = items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
                    d.insert(k.clone(), Value::Array(cleaned));
                }
            },
            _ => {
                d.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], key: &str) {
    for it in items {
        let id = it.get(key).cloned();
        let pos = id.as_ref().and_then(|id| cur.iter().position(|c| c.get(key) == Some(id)));
        let delete = it.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                cur.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut cur[i], it, ""),
            (None, false) => cur.push(it.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_keyed_lists_and_deletes() {
        let doc = json!({"spec": {"unschedulable": false, "taints": [{"key": "a", "effect": "NoSchedule"}]},
                         "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]},
                         "metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}}});
        let p = json!({"spec": {"unschedulable": true},
                       "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "X", "$patch": "delete"}]},
                       "metadata": {"finalizers": ["b"], "labels": {"x": null, "z": "3"}}});
        let out = apply("application/strategic-merge-patch+json", doc, p.to_string().as_bytes()).unwrap();
        assert_eq!(out["spec"]["unschedulable"], json!(true));
        assert_eq!(out["spec"]["taints"][0]["key"], json!("a"));
        assert_eq!(out["status"]["conditions"], json!([{"type": "Ready", "status": "False"}]));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(out["metadata"]["labels"], json!({"y": "2", "z": "3"}));
    }

    #[test]
    fn json_and_merge_patch() {
        let doc = json!({"a": {"b": 1, "c": [1, 2]}});
        let out = apply("application/json-patch+json", doc.clone(), br#"[{"op":"replace","path":"/a/b","value":5}]"#)
            .unwrap();
        assert_eq!(out["a"]["b"], json!(5));
        let out = apply("application/merge-patch+json", doc.clone(), br#"{"a":{"c":[3]}}"#).unwrap();
        assert_eq!(out["a"]["c"], json!([3]));
        assert_eq!(
            apply("application/json-patch+json", doc.clone(), br#"[{"op":"test","path":"/a/b","value":9}]"#)
                .unwrap_err()
                .code,
            422
        );
        assert_eq!(apply("text/plain", doc, b"{}").unwrap_err().code, 415);
    }
}
