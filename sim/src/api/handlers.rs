//! Generic resource handlers: list, get, create, update, patch, delete (+ status, binding, eviction).

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use k8s_openapi::api::core::v1::{Binding, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Deserialize;

use super::route::{Query, ResourcePath};
use super::{ApiServer, Body, bytes_response, json_response, patch, table, watch};
use crate::error::ApiError;
use crate::store::kinds::{field_supported, field_value};
use crate::store::objects::{DeleteOpts, Deleted, Part};
use crate::store::selector::Selector;
use crate::store::{EventType, Key, Kind};
use crate::with_kind;

/// Everything a handler needs from the request.
pub struct Ctx<'a> {
    pub server: &'a ApiServer,
    pub query: &'a Query,
    pub accept: &'a str,
    pub content_type: &'a str,
    pub body: &'a Bytes,
}

pub async fn dispatch(ctx: &Ctx<'_>, method: &Method, rp: &ResourcePath) -> Result<Response<Body>, ApiError> {
    let known = crate::store::kinds::resources()
        .iter()
        .any(|r| r.group == rp.group && r.version == rp.version && r.plural == rp.plural);
    if !known {
        return Err(ApiError::new(404, "NotFound", "the server could not find the requested resource"));
    }
    with_kind!(rp.group.as_str(), rp.plural.as_str(), K => dispatch_kind::<K>(ctx, method, rp).await,
        else Err(ApiError::new(404, "NotFound", "the server could not find the requested resource")))
}

async fn dispatch_kind<K: Kind>(ctx: &Ctx<'_>, method: &Method, rp: &ResourcePath) -> Result<Response<Body>, ApiError> {
    let ns = rp.namespace.as_deref().unwrap_or("");
    if !K::NAMESPACED && rp.namespace.is_some() {
        return Err(ApiError::new(404, "NotFound", "the server could not find the requested resource"));
    }
    match (rp.name.as_deref(), rp.subresource.as_deref(), method) {
        (None, None, &Method::GET) if ctx.query.flag("watch") => watch::watch::<K>(ctx, rp.namespace.as_deref()),
        (None, None, &Method::GET) => list::<K>(ctx, rp.namespace.as_deref()),
        (None, None, &Method::POST) => create::<K>(ctx, rp.namespace.as_deref()),
        (None, None, &Method::DELETE) => delete_collection::<K>(ctx, rp.namespace.as_deref()),
        (Some(name), None, &Method::GET) => get::<K>(ctx, ns, name),
        (Some(name), None, &Method::PUT) => update::<K>(ctx, ns, name, Part::Main),
        (Some(name), None, &Method::PATCH) => patch_object::<K>(ctx, ns, name, Part::Main),
        (Some(name), None, &Method::DELETE) => delete::<K>(ctx, ns, name),
        (Some(name), Some("status"), &Method::GET) if K::HAS_STATUS => get::<K>(ctx, ns, name),
        (Some(name), Some("status"), &Method::PUT) if K::HAS_STATUS => update::<K>(ctx, ns, name, Part::Status),
        (Some(name), Some("status"), &Method::PATCH) if K::HAS_STATUS => patch_object::<K>(ctx, ns, name, Part::Status),
        (Some(name), Some("eviction"), &Method::POST) if K::KIND == "Pod" => super::eviction::handle(ctx, ns, name),
        (Some(name), Some("binding"), &Method::POST) if K::KIND == "Pod" => bind(ctx, ns, name),
        (_, Some(_), _) => Err(ApiError::new(404, "NotFound", "the server could not find the requested resource")),
        _ => Err(ApiError::method_not_allowed("the server does not allow this method on the requested resource")),
    }
}

/// Label and field selectors of a list or watch.
pub struct Filter {
    labels: Selector,
    fields: Selector,
}

impl Filter {
    pub fn from_query<K: Kind>(q: &Query) -> Result<Self, ApiError> {
        let labels = Selector::parse_labels(q.get("labelSelector").unwrap_or(""))?;
        let fields = Selector::parse_fields(q.get("fieldSelector").unwrap_or(""))?;
        if let Selector::All(reqs) = &fields {
            for r in reqs {
                if !field_supported::<K>(&r.key) {
                    return Err(ApiError::bad_request(format!("field label not supported: {}", r.key)));
                }
            }
        }
        Ok(Self { labels, fields })
    }

    pub fn matches<K: Kind>(&self, obj: &K) -> bool {
        self.labels.matches(obj.metadata().labels.as_ref()) && self.fields.matches_fields(|f| field_value(obj, f))
    }
}

#[derive(serde::Serialize, Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn encode_continue(rv: u64, key: &Key) -> String {
    let json = serde_json::json!({"rv": rv, "ns": key.0, "name": key.1}).to_string();
    base64_encode(json.as_bytes())
}

fn decode_continue(s: &str) -> Result<ContinueToken, ApiError> {
    base64_decode(s)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::bad_request(format!("continue key is not valid: {s}")))
}

fn list<K: Kind>(ctx: &Ctx<'_>, ns: Option<&str>) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query::<K>(ctx.query)?;
    let limit: Option<usize> = match ctx.query.get("limit") {
        Some(l) => {
            Some(l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?).filter(|l| *l > 0)
        }
        None => None,
    };
    let start = ctx.query.get("continue").map(decode_continue).transpose()?;
    let st = ctx.server.store.lock();
    let rv = start.as_ref().map(|c| c.rv).unwrap_or_else(|| st.resource_version());
    let after: Option<Key> = start.map(|c| (c.ns, c.name));
    let table = K::table(&st);
    let mut items: Vec<&Arc<K>> = Vec::new();
    let mut next: Option<Key> = None;
    let ns_start: Key = (ns.unwrap_or("").to_string(), String::new());
    let iter: Box<dyn Iterator<Item = (&Key, &Arc<K>)>> = match (ns, &after) {
        (Some(ns), None) => Box::new(table.range_after(Some(&ns_start)).take_while(move |(k, _)| k.0 == ns)),
        (Some(ns), Some(a)) => Box::new(table.range_after(Some(a)).take_while(move |(k, _)| k.0 == ns)),
        (None, a) => Box::new(table.range_after(a.as_ref())),
    };
    // The empty-name key of a namespace sorts first; an object cannot have an empty name, so nothing is skipped.
    let mut last: Option<&Key> = None;
    for (k, obj) in iter {
        if !filter.matches(obj.as_ref()) {
            continue;
        }
        if let Some(l) = limit
            && items.len() == l
        {
            next = last.cloned();
            break;
        }
        items.push(obj);
        last = Some(k);
    }
    let cont = next.map(|k| encode_continue(rv, &k));
    if table::wants_table(ctx.accept) {
        let rows: Vec<serde_json::Value> = items.iter().filter_map(|o| serde_json::to_value(o.as_ref()).ok()).collect();
        let t = table::render(K::KIND, &rows, rv, cont.as_deref(), st.now);
        return Ok(json_response(StatusCode::OK, &t));
    }
    let mut buf = Vec::with_capacity(64 + items.len() * 1024);
    let api_version = K::API_VERSION;
    let mut meta = serde_json::json!({"resourceVersion": rv.to_string()});
    if let Some(c) = &cont {
        meta["continue"] = serde_json::Value::String(c.clone());
    }
    buf.extend_from_slice(
        format!("{{\"kind\":\"{}List\",\"apiVersion\":\"{api_version}\",\"metadata\":{meta},\"items\":[", K::KIND)
            .as_bytes(),
    );
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        serde_json::to_writer(&mut buf, o.as_ref()).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    buf.extend_from_slice(b"]}");
    Ok(bytes_response(StatusCode::OK, buf))
}

fn get<K: Kind>(ctx: &Ctx<'_>, ns: &str, name: &str) -> Result<Response<Body>, ApiError> {
    let st = ctx.server.store.lock();
    let obj = st.get::<K>(ns, name).ok_or_else(|| ApiError::not_found(K::GROUP, K::URL_PATH_SEGMENT, name))?;
    if table::wants_table(ctx.accept) {
        let row = serde_json::to_value(obj.as_ref()).map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok(json_response(StatusCode::OK, &table::render(K::KIND, &[row], st.resource_version(), None, st.now)));
    }
    if table::wants_metadata(ctx.accept) {
        let full = serde_json::to_value(obj.as_ref()).map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok(json_response(StatusCode::OK, &table::metadata_only(&full)));
    }
    Ok(json_response(StatusCode::OK, obj.as_ref()))
}

/// Decodes a request body as `K`, with the apiserver's complaints.
pub fn decode<K: Kind>(body: &[u8]) -> Result<K, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json: {e}"
        ))
    })?;
    if let Some(kind) = v.get("kind").and_then(|k| k.as_str())
        && kind != K::KIND
    {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): kind {kind}",
            K::KIND
        )));
    }
    let mut v = v;
    // The typed decoder needs apiVersion/kind; clients may omit them.
    if let Some(obj) = v.as_object_mut() {
        obj.entry("apiVersion").or_insert_with(|| K::API_VERSION.into());
        obj.entry("kind").or_insert_with(|| K::KIND.into());
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("{} in body is invalid: {e}", K::KIND)))
}

fn create<K: Kind>(ctx: &Ctx<'_>, ns: Option<&str>) -> Result<Response<Body>, ApiError> {
    let obj = decode::<K>(ctx.body)?;
    let mut st = ctx.server.store.lock();
    let created = st.create(obj, ns, ctx.query.dry_run())?;
    Ok(json_response(StatusCode::CREATED, created.as_ref()))
}

fn check_name<K: Kind>(obj: &mut K, ns: &str, name: &str) -> Result<(), ApiError> {
    let m = obj.metadata_mut();
    match m.name.as_deref() {
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        _ => m.name = Some(name.to_string()),
    }
    if K::NAMESPACED {
        match m.namespace.as_deref() {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => m.namespace = Some(ns.to_string()),
        }
    }
    Ok(())
}

fn update<K: Kind>(ctx: &Ctx<'_>, ns: &str, name: &str, part: Part) -> Result<Response<Body>, ApiError> {
    let mut obj = decode::<K>(ctx.body)?;
    check_name(&mut obj, ns, name)?;
    let mut st = ctx.server.store.lock();
    let updated = st.update(obj, part, ctx.query.dry_run())?;
    Ok(json_response(StatusCode::OK, updated.as_ref()))
}

fn patch_object<K: Kind>(ctx: &Ctx<'_>, ns: &str, name: &str, part: Part) -> Result<Response<Body>, ApiError> {
    let mut st = ctx.server.store.lock();
    let current = st.get::<K>(ns, name).ok_or_else(|| ApiError::not_found(K::GROUP, K::URL_PATH_SEGMENT, name))?;
    let doc = serde_json::to_value(current.as_ref()).map_err(|e| ApiError::internal(e.to_string()))?;
    let patched = patch::apply(ctx.content_type, doc, ctx.body)?;
    let mut obj: K = serde_json::from_value(patched)
        .map_err(|e| ApiError::bad_request(format!("{} in body is invalid after patch: {e}", K::KIND)))?;
    check_name(&mut obj, ns, name)?;
    let updated = st.update(obj, part, ctx.query.dry_run())?;
    Ok(json_response(StatusCode::OK, updated.as_ref()))
}

/// DeleteOptions from the body and the query string (the query wins where both are set, as upstream).
pub fn delete_opts(body: &[u8], q: &Query) -> Result<DeleteOpts, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Pre {
        uid: Option<String>,
        resource_version: Option<String>,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Opts {
        grace_period_seconds: Option<i64>,
        preconditions: Option<Pre>,
        propagation_policy: Option<String>,
        orphan_dependents: Option<bool>,
        dry_run: Option<Vec<String>>,
    }
    let o: Opts = if body.iter().all(u8::is_ascii_whitespace) {
        Opts::default()
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let pre = o.preconditions.unwrap_or_default();
    let grace = match q.get("gracePeriodSeconds") {
        Some(g) => Some(g.parse().map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?),
        None => o.grace_period_seconds,
    };
    let propagation = q
        .get("propagationPolicy")
        .map(str::to_string)
        .or(o.propagation_policy)
        .or_else(|| (o.orphan_dependents == Some(true)).then(|| "Orphan".to_string()));
    let body_dry = o.dry_run.as_ref().is_some_and(|d| d.iter().any(|x| x == "All"));
    Ok(DeleteOpts {
        grace_period_seconds: grace,
        precondition_uid: pre.uid,
        precondition_rv: pre.resource_version,
        propagation,
        dry_run: q.dry_run() || body_dry,
    })
}

fn delete<K: Kind>(ctx: &Ctx<'_>, ns: &str, name: &str) -> Result<Response<Body>, ApiError> {
    let opts = delete_opts(ctx.body, ctx.query)?;
    let mut st = ctx.server.store.lock();
    let before = st.get::<K>(ns, name);
    let res = st.delete::<K>(ns, name, &opts)?;
    if !opts.dry_run
        && let Some(pod) = before.as_deref().and_then(|o| (o as &dyn std::any::Any).downcast_ref::<Pod>())
    {
        crate::recorder::client_deleted_pod(&mut st, pod);
    }
    Ok(match res {
        Deleted::Gone(o) => json_response(StatusCode::OK, o.as_ref()),
        Deleted::Terminating(o) => json_response(StatusCode::ACCEPTED, o.as_ref()),
    })
}

fn delete_collection<K: Kind>(ctx: &Ctx<'_>, ns: Option<&str>) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query::<K>(ctx.query)?;
    let opts = delete_opts(ctx.body, ctx.query)?;
    let mut st = ctx.server.store.lock();
    let keys: Vec<Key> = K::table(&st)
        .iter()
        .filter(|o| ns.is_none_or(|n| o.metadata().namespace.as_deref() == Some(n)) && filter.matches(o.as_ref()))
        .map(|o| crate::store::kinds::key_of(o.as_ref()))
        .collect();
    let mut deleted = Vec::new();
    for (ns, name) in keys {
        if let Ok(d) = st.delete::<K>(&ns, &name, &opts) {
            deleted.push(serde_json::to_value(d.object().as_ref()).unwrap_or_default());
        }
    }
    let list = serde_json::json!({"kind": format!("{}List", K::KIND), "apiVersion": K::API_VERSION, "metadata": {"resourceVersion": st.resource_version().to_string()}, "items": deleted});
    Ok(json_response(StatusCode::OK, &list))
}

/// POST pods/{name}/binding: what the scheduler (or a client) uses to assign a pod to a node.
fn bind(ctx: &Ctx<'_>, ns: &str, name: &str) -> Result<Response<Body>, ApiError> {
    let b: Binding = serde_json::from_slice(ctx.body)
        .map_err(|e| ApiError::bad_request(format!("Binding in body is invalid: {e}")))?;
    let node = b.target.name.clone().unwrap_or_default();
    let mut st = ctx.server.store.lock();
    let pod = st.get::<Pod>(ns, name).ok_or_else(|| ApiError::not_found("", "pods", name))?;
    if let Some(existing) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
        return Err(ApiError::conflict_msg(
            "",
            "pods",
            name,
            &format!("pod {name} is already assigned to node \"{existing}\""),
        ));
    }
    if pod.metadata.deletion_timestamp.is_some() {
        return Err(ApiError::conflict_msg(
            "",
            "pods",
            name,
            &format!("pod {name} is being deleted, cannot be assigned to a host"),
        ));
    }
    if ctx.query.dry_run() {
        return Ok(json_response(StatusCode::CREATED, &crate::api::success_status()));
    }
    let mut next = (*pod).clone();
    next.spec.get_or_insert_with(Default::default).node_name = Some(node);
    set_pod_condition(&mut next, "PodScheduled", "True", None, None, st.now);
    st.put(next, EventType::Modified);
    Ok(json_response(StatusCode::CREATED, &crate::api::success_status()))
}

/// Sets (or replaces) a pod condition, keeping lastTransitionTime when the status did not change.
pub fn set_pod_condition(
    pod: &mut Pod,
    ty: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
    now: jiff::Timestamp,
) {
    set_condition(pod.status.get_or_insert_with(Default::default), ty, status, reason, message, now);
}

/// [`set_pod_condition`] on a pod's status.
pub fn set_condition(
    st: &mut k8s_openapi::api::core::v1::PodStatus,
    ty: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
    now: jiff::Timestamp,
) {
    let conds = st.conditions.get_or_insert_with(Vec::new);
    if let Some(c) = conds.iter_mut().find(|c| c.type_ == ty) {
        if c.status != status {
            c.last_transition_time = Some(Time(now));
        }
        c.status = status.to_string();
        c.reason = reason.map(str::to_string);
        c.message = message.map(str::to_string);
    } else {
        conds.push(k8s_openapi::api::core::v1::PodCondition {
            type_: ty.to_string(),
            status: status.to_string(),
            reason: reason.map(str::to_string),
            message: message.map(str::to_string),
            last_transition_time: Some(Time(now)),
            ..Default::default()
        });
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = B64.iter().position(|x| *x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        for s in ["", "a", "ab", "abc", "{\"rv\":12,\"ns\":\"x\"}"] {
            assert_eq!(base64_decode(&base64_encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(base64_encode(b"abc"), "YWJj");
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }
}
