//! The simulator's own HTTP API under `/sim/v1/...`: node pools (what the `sim` provider and the shell
//! plugin drive), faults, the invariant recorder and the clock. Plain JSON, snake_case keys; errors are
//! `{"error": "..."}` with the status code.
//!
//! | Request | Body | Answer |
//! |---|---|---|
//! | `GET /sim/v1/pools` | | 200 `{"items": [Pool...]}` |
//! | `GET /sim/v1/pools/{name}` | | 200 Pool; 404 |
//! | `POST /sim/v1/pools` | PoolSpec | 201 Pool (created); 200 Pool (exists with the same spec, size and autoscaling aside); 409 (exists with another spec, or being deleted); 400 (bad JSON or unknown key); 422 (invalid spec) |
//! | `PATCH /sim/v1/pools/{name}` | `{"size": 5, "autoscaling": {"enabled": false, "min": 1, "max": 9}}` (each key optional) | 200 Pool; 404; 409 (Deleting/Failed); 422 |
//! | `DELETE /sim/v1/pools/{name}` | | 202 Pool (phase Deleting); 404 |
//! | `GET /sim/v1/faults` | | 200 Faults |
//! | `PUT /sim/v1/faults` | Faults (replaces all) | 200 Faults; 400; 422 |
//! | `GET /sim/v1/recorder` | | 200 the recorder's report |
//! | `GET /sim/v1/clock` | | 200 `{"now": "2026-01-01T00:01:30Z", "speed": 1.0, "elapsed_seconds": 90.0}` |
//!
//! A PoolSpec: `{"name": "green", "version": "1.31.4", "size": 3, "instance_type": "m5.xlarge",
//! "allocatable": {"cpu": "4", "memory": "16Gi", "pods": 110}, "zones": ["zone-a"], "labels": {},
//! "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}], "capacity_type": "on-demand",
//! "autoscaling": {"enabled": false, "min": 0, "max": 0}}` (only `name` and `version` are required).
//! A Pool: `{"name", "spec": PoolSpec, "status": {"phase": "Provisioning|Ready|Resizing|Deleting|Failed",
//! "reason": null, "nodes": ["green-a-0"], "ready_nodes": 1, "created_at": "..."}}`.
//! Faults: see [`crate::faults`].
//!
//! Example (shell plugin): `curl -s -X POST -d '{"name":"green","version":"1.31.4","size":3}' $SIM/sim/v1/pools`.

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::route::Query;
use super::{ApiServer, Body, json_response};
use crate::cloud::{CloudError, PoolPatch, PoolSpec};
use crate::error::ApiError;
use crate::faults::Faults;

fn error(code: u16, message: impl Into<String>) -> Response<Body> {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &json!({"error": message.into()}))
}

fn cloud_error(e: &CloudError) -> Response<Body> {
    error(e.code(), e.to_string())
}

/// Decodes a JSON body strictly; `Err` is the 400 response.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Box<Response<Body>>> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| -> Box<Response<Body>> {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        let suffix = format!(" at line {} column {}", inner.line(), inner.column());
        let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
        if path == "." {
            Box::new(error(400, format!("invalid body: {msg}")))
        } else {
            Box::new(error(400, format!("invalid body: {path}: {msg}")))
        }
    })
}

pub async fn handle(
    server: &ApiServer,
    method: &Method,
    path: &[String],
    _q: &Query,
    bytes: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let store = &server.store;
    let resp = match (method, p.as_slice()) {
        (&Method::GET, ["v1", "recorder"]) => {
            let st = store.lock();
            json_response(StatusCode::OK, &st.recorder.report())
        }
        (&Method::GET, ["v1", "clock"]) => {
            let st = store.lock();
            let clock = store.clock();
            json_response(
                StatusCode::OK,
                &json!({"now": st.now.to_string(), "speed": clock.speed(), "elapsed_seconds": clock.elapsed().as_secs_f64()}),
            )
        }
        (&Method::GET, ["v1", "pools"]) => json_response(StatusCode::OK, &json!({"items": store.lock().cloud.pools()})),
        (&Method::GET, ["v1", "pools", name]) => match store.lock().cloud.pool(name) {
            Some(pool) => json_response(StatusCode::OK, &pool),
            None => cloud_error(&CloudError::NotFound(name.to_string())),
        },
        (&Method::POST, ["v1", "pools"]) => match body::<PoolSpec>(bytes) {
            Err(r) => *r,
            Ok(spec) => match store.lock().create_pool(spec) {
                Ok((pool, true)) => json_response(StatusCode::CREATED, &pool),
                Ok((pool, false)) => json_response(StatusCode::OK, &pool),
                Err(e) => cloud_error(&e),
            },
        },
        (&Method::PATCH, ["v1", "pools", name]) => match body::<PoolPatch>(bytes) {
            Err(r) => *r,
            Ok(patch) => match store.lock().update_pool(name, &patch) {
                Ok(pool) => json_response(StatusCode::OK, &pool),
                Err(e) => cloud_error(&e),
            },
        },
        (&Method::DELETE, ["v1", "pools", name]) => match store.lock().delete_pool(name) {
            Ok(pool) => json_response(StatusCode::ACCEPTED, &pool),
            Err(e) => cloud_error(&e),
        },
        (&Method::GET, ["v1", "faults"]) => json_response(StatusCode::OK, &store.lock().faults),
        (&Method::PUT, ["v1", "faults"]) => match body::<Faults>(bytes) {
            Err(r) => *r,
            Ok(faults) => match faults.validate() {
                Err((field, msg)) => error(422, format!("{field}: {msg}")),
                Ok(()) => {
                    let mut st = store.lock();
                    st.faults = faults;
                    json_response(StatusCode::OK, &st.faults)
                }
            },
        },
        (_, ["v1", "recorder" | "clock" | "pools" | "faults"]) | (_, ["v1", "pools", _]) => {
            error(405, format!("method {method} is not allowed on /sim/{}", path.join("/")))
        }
        _ => error(404, format!("no simulator endpoint /sim/{}", path.join("/"))),
    };
    Ok(resp)
}
