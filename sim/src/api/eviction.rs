//! `POST pods/{name}/eviction`: decodes the policy/v1 (or v1beta1) Eviction and its DeleteOptions, merges
//! the query's dryRun, and hands over to [`State::evict`](crate::store::State::evict) (`policy::eviction`).

use http::{Response, StatusCode};
use serde_json::Value;

use super::handlers::{Ctx, delete_opts};
use super::route::Query;
use super::{Body, json_response, success_status};
use crate::error::ApiError;
use crate::store::objects::DeleteOpts;

pub fn handle(ctx: &Ctx<'_>, ns: &str, name: &str) -> Result<Response<Body>, ApiError> {
    let opts = decode(ctx.body, ctx.query, ns, name)?;
    let result = {
        let mut st = ctx.server.store.lock();
        st.evict(ns, name, &opts)
    };
    // A refused eviction may still have written (a budget consumed before a failed delete): wake the
    // controllers either way.
    ctx.server.store.touch();
    result.map(|_| json_response(StatusCode::CREATED, &success_status()))
}

/// The eviction's DeleteOptions, with the request's `dryRun` merged in (`propagateDryRun`).
fn decode(body: &[u8], query: &Query, ns: &str, name: &str) -> Result<DeleteOpts, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json: {e}"
        ))
    })?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad_request("Eviction in body is invalid: not an object"));
    };
    if let Some(kind) = obj.get("kind").and_then(Value::as_str)
        && kind != "Eviction"
    {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type Eviction): kind {kind}"
        )));
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && av != "policy/v1"
        && av != "policy/v1beta1"
    {
        return Err(ApiError::bad_request(format!("no kind \"Eviction\" is registered for version \"{av}\"")));
    }
    let meta = obj.get("metadata");
    if meta.and_then(|m| m.get("name")).and_then(Value::as_str) != Some(name) {
        return Err(ApiError::bad_request("name in URL does not match name in Eviction object"));
    }
    if let Some(body_ns) = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str)
        && !body_ns.is_empty()
        && body_ns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let raw = obj.get("deleteOptions").filter(|d| !d.is_null());
    let bytes = raw.map(|d| d.to_string()).unwrap_or_default();
    let mut opts = delete_opts(bytes.as_bytes(), &Query::default())?;
    let body_dry: Vec<String> = raw
        .and_then(|d| d.get("dryRun"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if let Some(q) = query.get("dryRun") {
        if !body_dry.is_empty() && body_dry != [q.to_string()] {
            return Err(ApiError::bad_request(format!(
                "Non-matching dry-run options in request and content: [{q}] and [{}]",
                body_dry.join(" ")
            )));
        }
        opts.dry_run = query.dry_run();
    }
    Ok(opts)
}
