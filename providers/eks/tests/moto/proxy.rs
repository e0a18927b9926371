//! A thin HTTP layer between the providers and moto, for what moto does not do:
//! - lifecycle: moto's node groups are ACTIVE at once and vanish at once on delete, and its Auto Scaling
//!   instances are InService at once. The proxy shows a new node group as CREATING (and a new group's
//!   instances as Pending) for the first `polls` describes, and holds a delete back for `polls` describes
//!   while showing DELETING / "Delete in progress", then lets moto delete;
//! - failures moto cannot produce: a node group's status and `health.issues` (CREATE_FAILED, DEGRADED);
//! - throttling: the next N calls of an operation answer 400 ThrottlingException / Throttling;
//! - the public SSM parameters EKS publishes (`/aws/service/eks/...`), which moto refuses to store;
//! - moto answers a defaulted `diskSize` as a string ("20"): the proxy makes it the number AWS sends;
//! - moto's UpdateAutoScalingGroup drops a group's MixedInstancesPolicy when the update does not repeat it
//!   (AWS keeps it): the proxy repeats the policy the group was created with (groups created through it);
//! - moto's CreateLaunchTemplateVersion stores UserData in a form its instance launches then reject (a 500):
//!   the proxy forwards that request without UserData (the recorded request keeps it for the assertions);
//! - moto's EKS TagResource / UntagResource tag clusters only (a node group's ARN is "not found"): the proxy
//!   keeps node group tags itself and adds them to DescribeNodegroup answers (the freeze record of `eks`).
//!
//! Every request is recorded (operation, resource name, body) for the tests to assert what AWS would receive.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub op: String,
    pub name: Option<String>,
    pub body: String,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Form fields of a query-protocol request (Auto Scaling, EC2).
    pub fn form(&self) -> HashMap<String, String> {
        form(&self.body)
    }
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Recorded>,
    /// Operation -> throttled answers still to give.
    pub throttle: HashMap<String, u32>,
    /// Describes showing a new resource as still creating.
    pub polls: u32,
    creating: HashMap<String, u32>,
    deleting: HashMap<String, u32>,
    /// Node group -> (status, [(code, message)]).
    pub health: HashMap<String, (String, Vec<(String, String)>)>,
    pub ssm: HashMap<String, String>,
    /// CreateAutoScalingGroup bodies by group name.
    created_groups: HashMap<String, String>,
    /// Tags of EKS node groups set through the proxy, by node group name (moto does not keep them).
    pub nodegroup_tags: HashMap<String, HashMap<String, String>>,
}

impl State {
    pub fn ops(&self, op: &str) -> Vec<Recorded> {
        self.requests.iter().filter(|r| r.op == op).cloned().collect()
    }
}

pub struct Proxy {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl Proxy {
    pub async fn start(moto: &str, polls: u32) -> Proxy {
        let state = Arc::new(Mutex::new(State { polls, ..State::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let moto = moto.to_string();
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (st, client, moto) = (st.clone(), client.clone(), moto.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(req, st.clone(), client.clone(), moto.clone()));
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Proxy { url, state }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (operation, resource name) of a request.
fn classify(method: &Method, path: &str, target: Option<&str>, body: &str) -> (String, Option<String>) {
    if let Some(t) = target {
        let op = t.rsplit('.').next().unwrap_or(t).to_string();
        let name = serde_json::from_str::<Value>(body).ok().and_then(|v| v["Name"].as_str().map(str::to_string));
        return (op, name);
    }
    let seg: Vec<&str> = path.split('?').next().unwrap_or("").split('/').filter(|s| !s.is_empty()).collect();
    if seg.first() == Some(&"tags") {
        let op = match *method {
            Method::POST => "TagResource",
            Method::DELETE => "UntagResource",
            _ => "ListTagsForResource",
        };
        // The resource is a percent-encoded ARN: `arn:aws:eks:<region>:<account>:nodegroup/<cluster>/<name>/<id>`.
        let arn = decode(&seg[1..].join("/"));
        let name = arn.split_once(":nodegroup/").and_then(|(_, rest)| rest.split('/').nth(1)).map(str::to_string);
        return (op.to_string(), name);
    }
    if seg.first() == Some(&"clusters") {
        let op = match (method.clone(), seg.len(), seg.get(4)) {
            (Method::GET, 2, _) => "DescribeCluster",
            (Method::POST, 1, _) => "CreateCluster",
            (Method::GET, 3, _) => "ListNodegroups",
            (Method::POST, 3, _) => "CreateNodegroup",
            (Method::GET, 4, _) => "DescribeNodegroup",
            (Method::DELETE, 4, _) => "DeleteNodegroup",
            (Method::POST, 5, Some(&"update-config")) => "UpdateNodegroupConfig",
            _ => "OtherEks",
        };
        let name = if op == "CreateNodegroup" {
            serde_json::from_str::<Value>(body).ok().and_then(|v| v["nodegroupName"].as_str().map(str::to_string))
        } else {
            seg.get(3).map(|s| s.to_string())
        };
        return (op.to_string(), name);
    }
    let f = form(body);
    let op = f.get("Action").cloned().unwrap_or_else(|| "Unknown".into());
    let name = f.get("AutoScalingGroupName").or_else(|| f.get("AutoScalingGroupNames.member.1")).cloned();
    (op, name)
}

fn respond(status: StatusCode, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body.into())).unwrap()
}

fn throttled(query: bool) -> Response<Full<Bytes>> {
    if query {
        respond(
            StatusCode::BAD_REQUEST,
            &[("content-type", "text/xml")],
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>\
             </Error><RequestId>proxy</RequestId></ErrorResponse>",
        )
    } else {
        respond(
            StatusCode::BAD_REQUEST,
            &[("content-type", "application/json"), ("x-amzn-errortype", "ThrottlingException")],
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
    }
}

async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    moto: &str,
    method: Method,
    path: &str,
    headers: &http::HeaderMap,
    body: Bytes,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut req = Request::builder().method(method).uri(format!("{moto}{path}"));
    for (k, v) in headers {
        if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
            req = req.header(k, v);
        }
    }
    let resp = client.request(req.body(Full::new(body)).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

fn rebuild(status: StatusCode, headers: &http::HeaderMap, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
            b = b.header(k, v);
        }
    }
    b.body(Full::new(body.into())).unwrap()
}

/// Applies the proxy's view to a node group as moto describes it.
fn shape_nodegroup(st: &mut State, name: &str, ng: &mut Value, creating: bool) {
    for (k, v) in st.nodegroup_tags.get(name).into_iter().flatten() {
        if !ng["tags"].is_object() {
            ng["tags"] = json!({});
        }
        ng["tags"][k] = json!(v);
    }
    if let Some(d) = ng.get("diskSize").and_then(Value::as_str).and_then(|s| s.parse::<i64>().ok()) {
        ng["diskSize"] = json!(d);
    }
    if st.deleting.contains_key(name) {
        ng["status"] = json!("DELETING");
    } else if let Some((status, issues)) = st.health.get(name) {
        ng["status"] = json!(status);
        ng["health"] = json!({"issues": issues.iter().map(|(c, m)| json!({"code": c, "message": m, "resourceIds": ["i-0proxy"]})).collect::<Vec<_>>()});
    } else if creating {
        ng["status"] = json!("CREATING");
    }
}

async fn handle(
    req: Request<Incoming>,
    st: Arc<Mutex<State>>,
    client: Client<HttpConnector, Full<Bytes>>,
    moto: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (op, name) = classify(&parts.method, &path, target.as_deref(), &text);
    let query = target.is_none() && !path.starts_with("/clusters");
    let name_s = name.clone().unwrap_or_default();

    // Decide under the lock; no lock is held across awaits.
    enum Plan {
        Throttle,
        NodegroupTags,
        Ssm(Option<String>),
        HoldDelete,
        FinishDelete,
        Forward,
    }
    let plan = {
        let mut s = st.lock().unwrap();
        s.requests.push(Recorded { op: op.clone(), name: name.clone(), body: text.clone() });
        if let Some(n) = s.throttle.get_mut(&op).filter(|n| **n > 0) {
            *n -= 1;
            Plan::Throttle
        } else if matches!(op.as_str(), "TagResource" | "UntagResource") && name.is_some() {
            Plan::NodegroupTags
        } else if op == "GetParameter" {
            Plan::Ssm(s.ssm.get(&name_s).cloned())
        } else if matches!(op.as_str(), "DeleteNodegroup" | "DeleteAutoScalingGroup") {
            Plan::HoldDelete
        } else if matches!(op.as_str(), "DescribeNodegroup" | "DescribeAutoScalingGroups")
            && s.deleting.get(&name_s) == Some(&0)
        {
            Plan::FinishDelete
        } else {
            Plan::Forward
        }
    };
    match plan {
        Plan::Throttle => return Ok(throttled(query)),
        Plan::NodegroupTags => {
            let mut s = st.lock().unwrap();
            let tags = s.nodegroup_tags.entry(name_s.clone()).or_default();
            if op == "TagResource" {
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                for (k, v) in body["tags"].as_object().into_iter().flatten() {
                    tags.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            } else {
                let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
                for (k, v) in form(query) {
                    if k == "tagKeys" {
                        tags.remove(&v);
                    }
                }
            }
            return Ok(respond(StatusCode::OK, &[("content-type", "application/json")], "{}"));
        }
        Plan::Ssm(Some(v)) => {
            let out = json!({"Parameter": {"Name": name_s, "Type": "String", "Value": v, "Version": 1}});
            return Ok(respond(StatusCode::OK, &[("content-type", "application/x-amz-json-1.1")], out.to_string()));
        }
        Plan::Ssm(None) => {
            return Ok(respond(
                StatusCode::BAD_REQUEST,
                &[("content-type", "application/x-amz-json-1.1")],
                json!({"__type": "ParameterNotFound", "message": format!("Parameter {name_s} not found.")}).to_string(),
            ));
        }
        Plan::HoldDelete => {
            // Check it exists (moto's answer for a missing one is the real error), then hold the delete.
            let (describe_method, describe_path, describe_body) = if op == "DeleteNodegroup" {
                (Method::GET, path.clone(), Bytes::new())
            } else {
                (
                    Method::POST,
                    path.clone(),
                    Bytes::from(format!(
                        "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1={name_s}"
                    )),
                )
            };
            let (status, headers, b) =
                forward(&client, &moto, describe_method, &describe_path, &parts.headers, describe_body).await;
            let exists = status.is_success()
                && (op == "DeleteNodegroup" || String::from_utf8_lossy(&b).contains("<AutoScalingGroupName>"));
            if !exists {
                let (status, headers, b) = forward(&client, &moto, parts.method, &path, &parts.headers, body).await;
                return Ok(rebuild(status, &headers, b));
            }
            {
                let mut s = st.lock().unwrap();
                let polls = s.polls;
                s.deleting.entry(name_s.clone()).or_insert(polls);
            }
            if op == "DeleteNodegroup" {
                let mut v: Value = serde_json::from_slice(&b).unwrap();
                let mut s = st.lock().unwrap();
                shape_nodegroup(&mut s, &name_s, &mut v["nodegroup"], false);
                return Ok(rebuild(status, &headers, v.to_string()));
            }
            return Ok(respond(
                StatusCode::OK,
                &[("content-type", "text/xml")],
                "<DeleteAutoScalingGroupResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\
                 <ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></DeleteAutoScalingGroupResponse>",
            ));
        }
        Plan::FinishDelete => {
            let (m, b) = if op == "DescribeNodegroup" {
                (Method::DELETE, Bytes::new())
            } else {
                (
                    Method::POST,
                    Bytes::from(format!(
                        "Action=DeleteAutoScalingGroup&Version=2011-01-01&AutoScalingGroupName={name_s}&ForceDelete=true"
                    )),
                )
            };
            let (status, _, b) = forward(&client, &moto, m, &path, &parts.headers, b).await;
            assert!(status.is_success(), "moto refused the held delete: {}", String::from_utf8_lossy(&b));
            let mut s = st.lock().unwrap();
            s.deleting.remove(&name_s);
            s.nodegroup_tags.remove(&name_s);
        }
        Plan::Forward => {}
    }

    let body = match op.as_str() {
        "CreateAutoScalingGroup" => {
            st.lock().unwrap().created_groups.insert(name_s.clone(), text.clone());
            body
        }
        "UpdateAutoScalingGroup" if !text.contains("MixedInstancesPolicy.") && !text.contains("LaunchTemplate.") => {
            let created = st.lock().unwrap().created_groups.get(&name_s).cloned().unwrap_or_default();
            let policy: Vec<&str> = created.split('&').filter(|kv| kv.starts_with("MixedInstancesPolicy.")).collect();
            if policy.is_empty() { body } else { Bytes::from(format!("{text}&{}", policy.join("&"))) }
        }
        "CreateLaunchTemplateVersion" => Bytes::from(
            text.split('&').filter(|kv| !kv.starts_with("LaunchTemplateData.UserData=")).collect::<Vec<_>>().join("&"),
        ),
        _ => body,
    };
    let (status, headers, b) = forward(&client, &moto, parts.method.clone(), &path, &parts.headers, body).await;
    if !status.is_success() {
        return Ok(rebuild(status, &headers, b));
    }
    let mut s = st.lock().unwrap();
    match op.as_str() {
        "CreateNodegroup" | "CreateAutoScalingGroup" => {
            let polls = s.polls;
            s.creating.insert(name_s.clone(), polls);
            if op == "CreateNodegroup" {
                let mut v: Value = serde_json::from_slice(&b).unwrap();
                shape_nodegroup(&mut s, &name_s, &mut v["nodegroup"], polls > 0);
                return Ok(rebuild(status, &headers, v.to_string()));
            }
        }
        "DescribeNodegroup" | "DeleteNodegroup" => {
            let creating = match s.creating.get_mut(&name_s) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            };
            if let Some(n) = s.deleting.get_mut(&name_s) {
                *n = n.saturating_sub(1);
            }
            let mut v: Value = serde_json::from_slice(&b).unwrap();
            shape_nodegroup(&mut s, &name_s, &mut v["nodegroup"], creating);
            return Ok(rebuild(status, &headers, v.to_string()));
        }
        "DescribeAutoScalingGroups" if name.is_some() => {
            let mut xml = String::from_utf8_lossy(&b).into_owned();
            if let Some(n) = s.creating.get_mut(&name_s).filter(|n| **n > 0) {
                *n -= 1;
                xml = xml
                    .replace("<LifecycleState>InService</LifecycleState>", "<LifecycleState>Pending</LifecycleState>");
            }
            if let Some(n) = s.deleting.get_mut(&name_s) {
                *n = n.saturating_sub(1);
                let tag = format!("<AutoScalingGroupName>{name_s}</AutoScalingGroupName>");
                xml = xml.replacen(&tag, &format!("{tag}<Status>Delete in progress</Status>"), 1);
            }
            return Ok(rebuild(status, &headers, xml));
        }
        _ => {}
    }
    Ok(rebuild(status, &headers, b))
}
