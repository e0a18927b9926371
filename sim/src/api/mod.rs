//! The HTTP face of the simulator: one handler that answers Kubernetes REST/JSON requests, shared by the
//! in-process transport (tests) and the TCP server (CLI, kubectl).

pub mod body;
pub mod discovery;
pub mod eviction;
pub mod handlers;
pub mod patch;
pub mod route;
pub mod sim_api;
pub mod table;
pub mod watch;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

pub use body::Body;
use route::{Query, Route};

use crate::error::ApiError;
use crate::store::Store;

/// Answers API requests against a [`Store`].
#[derive(Clone)]
pub struct ApiServer {
    pub store: Arc<Store>,
}

impl ApiServer {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Handles one request whose body has been read.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let query = Query::parse(parts.uri.query());
        let route = route::parse_path(parts.uri.path());
        let verb = verb_of(&parts.method, &route, &query);
        let is_watch = verb == "watch";
        // Faults (latency, 500, 429) apply to the Kubernetes API, not to the simulator's own endpoints.
        if let Route::Resource(rp) = &route {
            let resource = match &rp.subresource {
                Some(s) => format!("{}/{s}", rp.plural),
                None => rp.plural.clone(),
            };
            let injected = {
                let mut guard = self.store.lock();
                let st: &mut crate::store::State = &mut guard;
                st.recorder.api_request(verb, &resource, query.dry_run());
                st.faults.on_request(verb, &resource, &mut st.rng)
            };
            if let Some(delay) = injected.latency {
                self.store.clock().sleep(delay).await;
            }
            // A refusal applies to watches too (the API server authorizes a watch before it streams); 500s and
            // 429s do not (a watch's errors are the cuts of `watch_cut_after`).
            if let Some(err) = injected.error
                && (!is_watch || err.code == 403)
            {
                return error_response(&err);
            }
        }
        let accept = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let content_type =
            parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let ctx =
            handlers::Ctx { server: self, query: &query, accept: &accept, content_type: &content_type, body: &body };
        let result = match route {
            Route::Version => {
                let v = self.store.lock().version.clone();
                Ok(json_response(StatusCode::OK, &discovery::version(&v)))
            }
            Route::CoreVersions => Ok(json_response(StatusCode::OK, &discovery::core_versions())),
            Route::Groups => Ok(json_response(StatusCode::OK, &discovery::groups())),
            Route::Group(g) => discovery::group(&g).map(|v| json_response(StatusCode::OK, &v)),
            Route::Resources { group, version } => {
                discovery::resource_list(&group, &version).map(|v| json_response(StatusCode::OK, &v))
            }
            Route::Health => Ok(text_response(StatusCode::OK, "ok")),
            Route::Sim(path) => sim_api::handle(self, &parts.method, &path, &query, &body).await,
            Route::Resource(rp) => handlers::dispatch(&ctx, &parts.method, &rp).await,
            Route::NotFound => Err(ApiError::new(404, "NotFound", "the server could not find the requested resource")),
        };
        match result {
            Ok(resp) => {
                if !matches!(parts.method, Method::GET) {
                    self.store.touch();
                }
                resp
            }
            Err(e) => error_response(&e),
        }
    }
}

/// The Kubernetes verb of a request, for the request log.
fn verb_of(method: &Method, route: &Route, query: &Query) -> &'static str {
    let named = matches!(route, Route::Resource(rp) if rp.name.is_some());
    match *method {
        Method::GET if query.flag("watch") => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    }
}

pub fn json_response(code: StatusCode, v: &impl serde::Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    bytes_response(code, bytes)
}

pub fn bytes_response(code: StatusCode, bytes: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::full(bytes));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn text_response(code: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(text));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(code, &e.to_status());
    if let Some(s) = e.retry_after.filter(|s| *s > 0)
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// `Status{status: Success}` as the apiserver answers a subresource create (binding, eviction).
pub fn success_status() -> serde_json::Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}
