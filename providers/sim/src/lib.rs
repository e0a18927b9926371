//! The `sim` provider: drives kubesim's simulated cloud through its `/sim/v1/pools` API, over the same
//! connection as the Kubernetes API (in-process or TCP), so the demo and the tests exercise the exact code
//! path of a cloud provider: describe, create (idempotent), poll, delete, freeze and restore autoscaling.
//!
//! - create: green gets blue's autoscaling (its original settings when blue is frozen), as a cloud clone
//!   would, so a run that ends leaves green scaling as blue did.
//! - freeze: autoscaling off and min = max = size; the settings from before the first freeze are recorded in
//!   ConfigMap `kube-system/poolshift-frozen-<pool>` ([`frozen`]), so freezing a frozen pool (a new run after
//!   one aborted with blue frozen) returns the original settings. Restore, and deleting the pool, remove it.

mod frozen;

use std::collections::BTreeMap;

use async_trait::async_trait;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSize,
    PoolSpec, PoolState, PoolStatus, Provider, ProviderError, Taint,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use frozen::{KEY as FROZEN_KEY, NAMESPACE as FROZEN_NAMESPACE, name as frozen_record_name};

/// The node label kubesim puts on every node of a pool.
pub const POOL_LABEL: &str = "kubesim.io/pool";
const KIND: &str = "sim";

#[derive(Clone)]
pub struct SimProvider {
    client: kube::Client,
}

impl SimProvider {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    async fn call(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), ProviderError> {
        let err = |kind, msg: String| ProviderError::new(KIND, op, kind, msg);
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(kube::client::Body::from(bytes))
            .map_err(|e| err(ErrorKind::Failed, e.to_string()))?;
        let resp = self.client.send(req).await.map_err(|e| err(ErrorKind::Transient, e.to_string()))?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(|e| err(ErrorKind::Transient, e.to_string()))?.to_bytes();
        let v: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok((status, v));
        }
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        let kind = match status.as_u16() {
            409 => ErrorKind::Conflict,
            400 | 422 => ErrorKind::Invalid,
            403 => ErrorKind::Permission,
            429 | 500..=599 => ErrorKind::Transient,
            _ => ErrorKind::Failed,
        };
        Err(err(kind, format!("{status}: {msg}")))
    }

    async fn get_pool(&self, op: &str, name: &str) -> Result<Option<SimPool>, ProviderError> {
        let (status, v) = self.call(op, Method::GET, &format!("/sim/v1/pools/{name}"), None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(op, v).map(Some)
    }

    fn records(&self) -> frozen::Records {
        frozen::Records::new(self.client.clone())
    }

    /// Green's autoscaling: the source pool's settings from before any freeze (its record, else its
    /// current ones) when it scales, widened to hold green's size; else off, with the spec's bounds.
    async fn green_autoscaling(&self, spec: &PoolSpec) -> Result<SimAutoscaling, ProviderError> {
        let off = SimAutoscaling { enabled: false, min: spec.size.min, max: spec.size.max };
        if spec.source.is_empty() || spec.source == spec.name {
            return Ok(off);
        }
        let original = match self.records().get("create", &spec.source).await? {
            Some(a) => Some(a),
            None => self.get_pool("create", &spec.source).await?.map(|p| p.autoscaling()),
        };
        let size = spec.size.desired;
        Ok(match original {
            Some(a) if a.enabled => {
                SimAutoscaling { enabled: true, min: a.size.min.min(size), max: a.size.max.max(size) }
            }
            _ => off,
        })
    }

    async fn patch_autoscaling(
        &self,
        op: &str,
        pool: &str,
        a: &SimAutoscaling,
        size: Option<u32>,
    ) -> Result<SimPool, ProviderError> {
        let mut body = json!({"autoscaling": a});
        if let Some(s) = size {
            body["size"] = json!(s);
        }
        let (status, v) = self.call(op, Method::PATCH, &format!("/sim/v1/pools/{pool}"), Some(body)).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(ProviderError::new(KIND, op, ErrorKind::NotFound, format!("pool {pool} does not exist")));
        }
        decode(op, v)
    }
}

fn decode<T: for<'de> Deserialize<'de>>(op: &str, v: Value) -> Result<T, ProviderError> {
    serde_json::from_value(v).map_err(|e| {
        ProviderError::new(KIND, op, ErrorKind::Failed, format!("unexpected answer from the simulator: {e}"))
    })
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SimAutoscaling {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    min: u32,
    #[serde(default)]
    max: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimTaint {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    effect: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimSpec {
    name: String,
    version: String,
    #[serde(default)]
    size: u32,
    #[serde(default)]
    instance_type: Option<String>,
    #[serde(default)]
    allocatable: Option<Value>,
    #[serde(default)]
    zones: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    taints: Vec<SimTaint>,
    #[serde(default)]
    capacity_type: Option<String>,
    #[serde(default)]
    autoscaling: SimAutoscaling,
}

#[derive(Debug, Clone, Deserialize)]
struct SimStatus {
    phase: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    nodes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct SimPool {
    name: String,
    spec: SimSpec,
    status: SimStatus,
}

impl SimPool {
    fn autoscaling(&self) -> AutoscalingSettings {
        let a = &self.spec.autoscaling;
        AutoscalingSettings {
            enabled: a.enabled,
            size: PoolSize { min: a.min, max: a.max, desired: self.spec.size },
            extra: BTreeMap::new(),
        }
    }

    fn status(&self) -> PoolStatus {
        let state = match self.status.phase.as_str() {
            "Ready" => PoolState::Ready,
            "Resizing" => PoolState::Updating,
            "Deleting" => PoolState::Deleting,
            "Failed" => PoolState::Failed { reason: self.status.reason.clone().unwrap_or_else(|| "unknown".into()) },
            _ => PoolState::Creating,
        };
        PoolStatus {
            name: self.name.clone(),
            version: self.spec.version.clone(),
            state,
            nodes: self.status.nodes.len() as u32,
            message: self.status.reason.clone(),
        }
    }
}

fn capacity(s: Option<&str>) -> CapacityType {
    match s {
        Some("spot") => CapacityType::Spot,
        Some("preemptible") => CapacityType::Preemptible,
        _ => CapacityType::OnDemand,
    }
}

fn capacity_str(c: CapacityType) -> &'static str {
    match c {
        CapacityType::OnDemand => "on-demand",
        CapacityType::Spot => "spot",
        CapacityType::Preemptible => "preemptible",
    }
}

#[async_trait]
impl Provider for SimProvider {
    fn kind(&self) -> &str {
        KIND
    }

    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        let p = self.get_pool("describe", pool).await?.ok_or_else(|| {
            ProviderError::new(KIND, "describe", ErrorKind::NotFound, format!("pool {pool} does not exist"))
        })?;
        let s = &p.spec;
        let mut extra = BTreeMap::new();
        if let Some(a) = &s.allocatable {
            extra.insert("allocatable".to_string(), a.to_string());
        }
        Ok(PoolDescription {
            name: p.name.clone(),
            version: s.version.clone(),
            instance_types: s.instance_type.clone().into_iter().collect(),
            zones: s.zones.clone(),
            capacity_type: capacity(s.capacity_type.as_deref()),
            labels: s.labels.clone(),
            taints: s
                .taints
                .iter()
                .map(|t| Taint { key: t.key.clone(), value: t.value.clone(), effect: t.effect.clone() })
                .collect(),
            size: PoolSize { min: s.autoscaling.min, max: s.autoscaling.max, desired: s.size },
            autoscaling: p.autoscaling(),
            disk_gb: None,
            extra,
        })
    }

    /// The simulator offers every patch 0..=12 of the control plane's minor and the three before it,
    /// never newer than the control plane itself.
    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        let v = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| ProviderError::new(KIND, "versions", ErrorKind::Transient, e.to_string()))?;
        let cp = v.git_version.trim_start_matches('v').to_string();
        let mut parts = cp.split(['.', '-']);
        let major: u32 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(1);
        let minor: u32 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let patch: u32 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let mut out = Vec::new();
        for m in minor.saturating_sub(3)..=minor {
            let last = if m == minor { patch } else { 12 };
            for p in 0..=last {
                out.push(format!("{major}.{m}.{p}"));
            }
        }
        Ok(OfferedVersions { control_plane: format!("{major}.{minor}.{patch}"), node_versions: out })
    }

    /// The token is not used: kubesim's create is idempotent by name.
    async fn create_pool(&self, spec: &PoolSpec, _token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        let autoscaling = self.green_autoscaling(spec).await?;
        let allocatable: Option<Value> = spec.extra.get("allocatable").and_then(|a| serde_json::from_str(a).ok());
        let body = SimSpec {
            name: spec.name.clone(),
            version: spec.version.clone(),
            size: spec.size.desired,
            instance_type: spec.instance_types.first().cloned(),
            allocatable,
            zones: spec.zones.clone(),
            labels: spec.labels.clone(),
            taints: spec
                .taints
                .iter()
                .map(|t| SimTaint { key: t.key.clone(), value: t.value.clone(), effect: t.effect.clone() })
                .collect(),
            capacity_type: Some(capacity_str(spec.capacity_type).to_string()),
            autoscaling,
        };
        let body = serde_json::to_value(&body)
            .map_err(|e| ProviderError::new(KIND, "create", ErrorKind::Failed, e.to_string()))?;
        let (_, v) = self.call("create", Method::POST, "/sim/v1/pools", Some(body)).await?;
        let p: SimPool = decode("create", v)?;
        Ok(p.status())
    }

    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        Ok(self.get_pool("status", pool).await?.map(|p| p.status()))
    }

    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let (status, v) = self.call("delete", Method::DELETE, &format!("/sim/v1/pools/{pool}"), None).await?;
        // A deleted pool's freeze record would be a later pool of that name's.
        self.records().delete("delete", pool).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let p: SimPool = decode("delete", v)?;
        Ok(Some(p.status()))
    }

    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        let p = self.get_pool("freeze", pool).await?.ok_or_else(|| {
            ProviderError::new(KIND, "freeze", ErrorKind::NotFound, format!("pool {pool} does not exist"))
        })?;
        // Pin the size: autoscaling off, min = max = current.
        let a = &p.spec.autoscaling;
        let size = p.spec.size;
        let pin = a.enabled || a.min != size || a.max != size;
        // Frozen already by an earlier run (aborted, or crashed): its record holds the original settings.
        // Otherwise they are recorded before anything changes (a pool the freeze leaves as it is needs none).
        let records = self.records();
        let prior = match records.get("freeze", pool).await? {
            Some(original) => original,
            None if pin => records.put("freeze", pool, &p.autoscaling()).await?,
            None => p.autoscaling(),
        };
        if pin {
            let frozen = SimAutoscaling { enabled: false, min: size, max: size };
            self.patch_autoscaling("freeze", pool, &frozen, None).await?;
        }
        Ok(prior)
    }

    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        let a = SimAutoscaling { enabled: prior.enabled, min: prior.size.min, max: prior.size.max };
        self.patch_autoscaling("restore", pool, &a, None).await?;
        self.records().delete("restore", pool).await
    }

    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        NodeMatcher { label: POOL_LABEL.to_string(), value: pool.to_string() }
    }
}
