//! A local fake of the Kubernetes Engine API v1 REST paths the provider uses, on 127.0.0.1 (random port).
//!
//! It keeps node pools and operations in memory as GKE JSON, records every request (method, path, query, body),
//! and answers errors in Google's JSON error format. Lifecycle it supplies in place of GKE's control plane:
//! - operations go PENDING -> RUNNING -> DONE over successive GetOperation polls (or `advance()`), and their
//!   effect lands when they are DONE (the pool becomes RUNNING, is removed, gets its new autoscaling or
//!   resource labels ...);
//! - a created pool is PROVISIONING until its operation is DONE; a deleted one is STOPPING until then;
//! - faults can be injected: an HTTP error for the next N requests matching a method and path fragment, or a
//!   create operation that fails (a stockout), leaving the pool in ERROR as GKE does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

pub const PROJECT: &str = "shop-prod";
pub const LOCATION: &str = "europe-west1";
pub const CLUSTER: &str = "shop";
pub const MASTER_VERSION: &str = "1.31.4-gke.1146000";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
}

struct Fault {
    method: String,
    path_contains: String,
    remaining: u32,
    status: u16,
    body: Value,
}

enum Effect {
    PoolRunning(String),
    PoolRemoved(String),
    Set {
        pool: String,
        field: &'static str,
        value: Value,
    },
    /// UpdateNodePool of `config.resourceLabels` (the labels replace the old ones).
    ResourceLabels {
        pool: String,
        labels: Value,
    },
    CreateFailed {
        pool: String,
        code: i32,
        message: String,
    },
}

struct Op {
    json: Value,
    effect: Option<Effect>,
}

#[derive(Default)]
struct State {
    valid_node_versions: Vec<String>,
    pools: BTreeMap<String, Value>,
    ops: BTreeMap<String, Op>,
    next_op: u64,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    /// The next create operation ends with this `google.rpc.Status` (code, message).
    fail_next_create: Option<(i32, String)>,
}

#[derive(Clone)]
pub struct FakeGke {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn error(status: u16, grpc: &str, message: &str) -> (u16, Value) {
    (status, json!({"error": {"code": status, "message": message, "status": grpc}}))
}

impl FakeGke {
    pub async fn start(pools: Vec<Value>, valid_node_versions: &[&str]) -> Self {
        let mut st = State {
            valid_node_versions: valid_node_versions.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        for p in pools {
            st.pools.insert(p["name"].as_str().unwrap().to_string(), p);
        }
        let state = Arc::new(Mutex::new(st));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeGke { addr, state };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let f = server.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let f = f.clone();
                        async move { Ok::<_, std::convert::Infallible>(f.serve(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        fake
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests other than reads (GET), the ones that change something.
    pub fn mutations(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method != "GET").collect()
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    pub fn pool(&self, name: &str) -> Option<Value> {
        self.state.lock().unwrap().pools.get(name).cloned()
    }

    pub fn put_pool(&self, pool: Value) {
        let name = pool["name"].as_str().unwrap().to_string();
        self.state.lock().unwrap().pools.insert(name, pool);
    }

    /// The next `times` requests with `method` whose path contains `path_contains` get this error.
    pub fn inject(&self, method: &str, path_contains: &str, times: u32, status: u16, body: Value) {
        self.state.lock().unwrap().faults.push(Fault {
            method: method.into(),
            path_contains: path_contains.into(),
            remaining: times,
            status,
            body,
        });
    }

    pub fn fail_next_create(&self, code: i32, message: &str) {
        self.state.lock().unwrap().fail_next_create = Some((code, message.into()));
    }

    /// Moves every unfinished operation one step (what time does on GKE).
    pub fn advance(&self) {
        let mut st = self.state.lock().unwrap();
        let names: Vec<String> = st.ops.keys().cloned().collect();
        for n in names {
            step(&mut st, &n);
        }
    }

    async fn serve(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        let (status, answer) = {
            let mut st = self.state.lock().unwrap();
            st.requests.push(Recorded { method: method.clone(), path: path.clone(), query, body: body.clone() });
            match take_fault(&mut st, &method, &path) {
                Some(f) => f,
                None => route(&mut st, &method, &path, body),
            }
        };
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(answer.to_string())))
            .unwrap()
    }
}

fn take_fault(st: &mut State, method: &str, path: &str) -> Option<(u16, Value)> {
    let f = st.faults.iter_mut().find(|f| f.remaining > 0 && f.method == method && path.contains(&f.path_contains))?;
    f.remaining -= 1;
    Some((f.status, f.body.clone()))
}

fn step(st: &mut State, name: &str) {
    let Some(op) = st.ops.get_mut(name) else { return };
    let next = match op.json["status"].as_str() {
        Some("PENDING") => "RUNNING",
        Some("RUNNING") => "DONE",
        _ => return,
    };
    op.json["status"] = json!(next);
    if next != "DONE" {
        return;
    }
    op.json["endTime"] = json!("2025-01-01T00:10:00Z");
    match op.effect.take() {
        Some(Effect::PoolRunning(p)) => {
            if let Some(pool) = st.pools.get_mut(&p) {
                pool["status"] = json!("RUNNING");
            }
        }
        Some(Effect::PoolRemoved(p)) => {
            st.pools.remove(&p);
        }
        Some(Effect::Set { pool, field, value }) => {
            if let Some(np) = st.pools.get_mut(&pool) {
                np[field] = value;
                np["status"] = json!("RUNNING");
            }
        }
        Some(Effect::ResourceLabels { pool, labels }) => {
            if let Some(np) = st.pools.get_mut(&pool) {
                np["config"]["resourceLabels"] = labels;
                np["status"] = json!("RUNNING");
            }
        }
        Some(Effect::CreateFailed { pool, code, message }) => {
            op.json["error"] = json!({"code": code, "message": message});
            if let Some(np) = st.pools.get_mut(&pool) {
                np["status"] = json!("ERROR");
                np["statusMessage"] = json!(message);
            }
        }
        None => {}
    }
}

fn new_op(st: &mut State, kind: &str, target: &str, effect: Effect) -> Value {
    st.next_op += 1;
    let name = format!("operation-{}-{:04}", 1_700_000_000 + st.next_op, st.next_op);
    let json = json!({
        "name": name,
        "zone": LOCATION,
        "location": LOCATION,
        "operationType": kind,
        "status": "PENDING",
        "selfLink": format!("https://container.googleapis.com/v1/projects/{PROJECT}/locations/{LOCATION}/operations/{name}"),
        "targetLink": format!("https://container.googleapis.com/v1/{target}"),
        "startTime": "2025-01-01T00:00:00Z",
    });
    st.ops.insert(name, Op { json: json.clone(), effect: Some(effect) });
    json
}

fn route(st: &mut State, method: &str, path: &str, body: Value) -> (u16, Value) {
    let Some(rest) = path.strip_prefix(&format!("/v1/projects/{PROJECT}/locations/{LOCATION}")) else {
        return error(404, "NOT_FOUND", &format!("Not found: {path}."));
    };
    let cluster_prefix = format!("/clusters/{CLUSTER}");
    match (method, rest) {
        ("GET", "/serverConfig") => (
            200,
            json!({
                "defaultClusterVersion": MASTER_VERSION,
                "validNodeVersions": st.valid_node_versions,
                "validMasterVersions": [MASTER_VERSION],
                "defaultImageType": "COS_CONTAINERD",
            }),
        ),
        ("GET", r) if r.starts_with("/operations/") => {
            let name = &r["/operations/".len()..];
            if !st.ops.contains_key(name) {
                return error(404, "NOT_FOUND", &format!("Operation \"{name}\" not found."));
            }
            step(st, name);
            (200, st.ops[name].json.clone())
        }
        ("GET", r) if r == cluster_prefix => (
            200,
            json!({
                "name": CLUSTER,
                "location": LOCATION,
                "status": "RUNNING",
                "currentMasterVersion": MASTER_VERSION,
                "currentNodeVersion": "1.30.8-gke.1051000",
            }),
        ),
        (_, r) if r.starts_with(&cluster_prefix) => pools(st, method, &r[cluster_prefix.len()..], body),
        _ => error(404, "NOT_FOUND", &format!("Not found: {path}.")),
    }
}

fn pool_path(name: &str) -> String {
    format!("projects/{PROJECT}/locations/{LOCATION}/clusters/{CLUSTER}/nodePools/{name}")
}

fn pools(st: &mut State, method: &str, rest: &str, body: Value) -> (u16, Value) {
    let not_found = |name: &str| {
        error(
            404,
            "NOT_FOUND",
            &format!("Not found: projects/{PROJECT}/locations/{LOCATION}/clusters/{CLUSTER}/nodePools/{name}."),
        )
    };
    if method == "POST" && rest == "/nodePools" {
        return create(st, body);
    }
    let Some(tail) = rest.strip_prefix("/nodePools/") else { return error(404, "NOT_FOUND", "Not found.") };
    let (name, verb) = match tail.split_once(':') {
        Some((n, v)) => (n.to_string(), Some(v)),
        None => (tail.to_string(), None),
    };
    let Some(pool) = st.pools.get(&name).cloned() else { return not_found(&name) };
    match (method, verb) {
        ("GET", None) => (200, pool),
        ("DELETE", None) => {
            if pool["status"] == "STOPPING" {
                return error(400, "FAILED_PRECONDITION", "Node pool is being deleted: operation in progress.");
            }
            st.pools.get_mut(&name).unwrap()["status"] = json!("STOPPING");
            (200, new_op(st, "DELETE_NODE_POOL", &pool_path(&name), Effect::PoolRemoved(name.clone())))
        }
        ("POST", Some("setAutoscaling")) => {
            let value = body.get("autoscaling").cloned().unwrap_or(json!({}));
            (
                200,
                new_op(
                    st,
                    "UPDATE_CLUSTER",
                    &pool_path(&name),
                    Effect::Set { pool: name, field: "autoscaling", value },
                ),
            )
        }
        // UpdateNodePool: only the resource labels, as the provider sends it.
        ("PUT", None) => {
            let Some(labels) = body.get("resourceLabels").map(|r| r.get("labels").cloned().unwrap_or(json!({}))) else {
                return error(400, "INVALID_ARGUMENT", "the fake's UpdateNodePool takes resourceLabels only");
            };
            let effect = Effect::ResourceLabels { pool: name.clone(), labels };
            (200, new_op(st, "UPDATE_NODE_POOL", &pool_path(&name), effect))
        }
        ("POST", Some("setManagement")) => {
            let value = body.get("management").cloned().unwrap_or(json!({}));
            let effect = Effect::Set { pool: name.clone(), field: "management", value };
            (200, new_op(st, "SET_NODE_POOL_MANAGEMENT", &pool_path(&name), effect))
        }
        _ => error(400, "INVALID_ARGUMENT", &format!("unsupported {method} {rest}")),
    }
}

/// GKE resolves a version alias (`1.31.4`) to the newest valid build of it, and rejects the rest.
fn resolve_version(st: &State, requested: &str) -> Option<String> {
    let ok = |v: &&String| {
        *v == requested || v.strip_prefix(requested).is_some_and(|r| r.starts_with('-') || r.starts_with('.'))
    };
    let mut matching: Vec<&String> = st.valid_node_versions.iter().filter(ok).collect();
    matching.sort_by_key(|v| v.rsplit('.').next().and_then(|b| b.parse::<u64>().ok()).unwrap_or(0));
    matching.last().map(|v| v.to_string())
}

fn create(st: &mut State, body: Value) -> (u16, Value) {
    let Some(mut pool) = body.get("nodePool").cloned() else {
        return error(400, "INVALID_ARGUMENT", "Node pool is required.");
    };
    let Some(name) = pool["name"].as_str().map(str::to_string) else {
        return error(400, "INVALID_ARGUMENT", "Node pool name is required.");
    };
    if st.pools.contains_key(&name) {
        return error(409, "ALREADY_EXISTS", &format!("Already exists: {}.", pool_path(&name)));
    }
    let requested = pool["version"].as_str().unwrap_or("").to_string();
    let Some(version) = resolve_version(st, &requested) else {
        return error(400, "INVALID_ARGUMENT", &format!("Node version \"{requested}\" is unsupported."));
    };
    pool["version"] = json!(version);
    pool["status"] = json!("PROVISIONING");
    pool["selfLink"] = json!(format!("https://container.googleapis.com/v1/{}", pool_path(&name)));
    pool["instanceGroupUrls"] = json!([format!(
        "https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/{LOCATION}-b/instanceGroupManagers/gke-{CLUSTER}-{name}-grp"
    )]);
    st.pools.insert(name.clone(), pool);
    let effect = match st.fail_next_create.take() {
        Some((code, message)) => Effect::CreateFailed { pool: name.clone(), code, message },
        None => Effect::PoolRunning(name.clone()),
    };
    (200, new_op(st, "CREATE_NODE_POOL", &pool_path(&name), effect))
}
