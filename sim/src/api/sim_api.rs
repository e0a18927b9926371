//! The simulator's own HTTP API under `/sim/v1/...`: node pools (what the `sim` provider and the shell
//! plugin drive), faults, and the invariant recorder.

use bytes::Bytes;
use http::{Method, Response, StatusCode};

use super::route::Query;
use super::{ApiServer, Body, json_response};
use crate::error::ApiError;

pub async fn handle(
    server: &ApiServer,
    method: &Method,
    path: &[String],
    _q: &Query,
    _body: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match (method, p.as_slice()) {
        (&Method::GET, ["v1", "recorder"]) => {
            let st = server.store.lock();
            Ok(json_response(StatusCode::OK, &st.recorder.report()))
        }
        _ => Err(ApiError::new(404, "NotFound", format!("no simulator endpoint /sim/{}", path.join("/")))),
    }
}
