//! Discovery documents (`/version`, `/api`, `/apis`, resource lists) in the shapes kubectl and kube-rs
//! expect, including `pods/eviction` advertised as `policy/v1` `Eviction` (kubectl checks it before draining).

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::store::kinds::resources;

const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// `/version` for a control plane at `version` (`1.31.4`).
pub fn version(version: &str) -> Value {
    let v = version.trim_start_matches('v');
    let mut it = v.split('.');
    let major = it.next().unwrap_or("1");
    let minor = it.next().unwrap_or("0");
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": format!("v{v}"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
        "emulationMajor": major,
        "emulationMinor": minor,
    })
}

pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

fn groups_list() -> Vec<&'static str> {
    let mut gs: Vec<&str> = resources().iter().map(|r| r.group).filter(|g| !g.is_empty()).collect();
    gs.sort();
    gs.dedup();
    gs
}

fn group_doc(g: &str) -> Value {
    let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn groups() -> Value {
    let groups: Vec<Value> = groups_list().into_iter().map(group_doc).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(g: &str) -> Result<Value, ApiError> {
    if !groups_list().contains(&g) {
        return Err(ApiError::new(404, "NotFound", "the server could not find the requested resource"));
    }
    let mut doc = group_doc(g);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Ok(doc)
}

pub fn resource_list(group: &str, version: &str) -> Result<Value, ApiError> {
    let rs: Vec<_> = resources().into_iter().filter(|r| r.group == group && r.version == version).collect();
    if rs.is_empty() {
        return Err(ApiError::new(404, "NotFound", "the server could not find the requested resource"));
    }
    let mut out = Vec::new();
    for r in rs {
        let singular = r.kind.to_lowercase();
        let mut main = json!({"name": r.plural, "singularName": singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": VERBS});
        if !r.short_names.is_empty() {
            main["shortNames"] = json!(r.short_names);
        }
        out.push(main);
        if r.has_status {
            out.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
        if r.plural == "pods" {
            out.push(json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}));
            out.push(json!({"name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding", "verbs": ["create"]}));
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Ok(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}))
}
