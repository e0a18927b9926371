//! The simulated cloud: node pools that a provider creates, resizes and deletes, with provisioning delays.
//!
//! A pool goes `Provisioning` (node objects appear `pool_provision` after the create, each turns Ready
//! `node_ready` later) -> `Ready` (every node Ready) -> `Deleting` (node objects removed `pool_delete` after
//! the delete) -> gone. A resize of a Ready pool shows `Resizing` until the new nodes are Ready or the
//! removed ones are gone. The fault `pool_create_failures` turns a create into `Failed` with the fault's
//! reason after the provisioning delay; `nodes_never_ready` leaves a pool's nodes `Ready=False`.
//!
//! Node `i` of pool `p` sits in zone `zones[i % zones.len()]` and is named `p-<zone suffix>-<i>` (the zone's
//! last `-` segment: `blue-1a-0` in `eu-west-1a`), so names are deterministic. Node objects carry the labels
//! listed in the crate docs, the pool's labels and taints, `status.nodeInfo.kubeletVersion = v<version>`,
//! allocatable/capacity, an InternalIP and the kubelet's four conditions. A node that is not Ready carries the
//! `node.kubernetes.io/not-ready:NoSchedule` taint, as the node lifecycle controller sets it.
//!
//! The same operations are served over HTTP under `/sim/v1/pools` (see `api::sim_api`) and in Rust by
//! [`State::create_pool`], [`State::update_pool`], [`State::delete_pool`], [`Cloud::pool`], [`Cloud::pools`]
//! (and the [`Store`] wrappers, which also wake the components). Deleting a node object through the
//! Kubernetes API does not bring it back: the cloud creates each node object once.

mod node;

pub use node::{NOT_READY_TAINT, build as node_object, node_name};

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use serde::{Deserialize, Serialize};

use crate::controllers::Reconciler;
use crate::scenario::Quantity;
use crate::store::{EventType, State, Store};

/// The desired shape of a pool. YAML (scenario `pools`) and JSON (`POST /sim/v1/pools`) use these keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// DNS label, at most 40 characters (node names derive from it).
    pub name: String,
    /// Kubelet version, `1.30.8` (a leading `v` is dropped).
    pub version: String,
    /// Node count. Mutable (PATCH).
    #[serde(default = "default_size")]
    pub size: u32,
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    #[serde(default)]
    pub allocatable: Allocatable,
    /// Nodes are spread over these zones round-robin.
    #[serde(default = "default_zones")]
    pub zones: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<TaintSpec>,
    #[serde(default)]
    pub capacity_type: CapacityType,
    /// What a provider freezes and restores; the simulated cloud itself never autoscales. Mutable (PATCH).
    #[serde(default)]
    pub autoscaling: Autoscaling,
}

fn default_size() -> u32 {
    3
}

fn default_instance_type() -> String {
    "sim.xlarge".to_string()
}

fn default_zones() -> Vec<String> {
    vec!["zone-a".into(), "zone-b".into(), "zone-c".into()]
}

/// What each node offers to pods (also its capacity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocatable {
    #[serde(default = "default_cpu")]
    pub cpu: Quantity,
    #[serde(default = "default_memory")]
    pub memory: Quantity,
    #[serde(default = "default_pods")]
    pub pods: u32,
}

fn default_cpu() -> Quantity {
    Quantity::parse("4").unwrap_or_else(|_| unreachable!("literal quantity"))
}

fn default_memory() -> Quantity {
    Quantity::parse("16Gi").unwrap_or_else(|_| unreachable!("literal quantity"))
}

fn default_pods() -> u32 {
    110
}

impl Default for Allocatable {
    fn default() -> Self {
        Self { cpu: default_cpu(), memory: default_memory(), pods: default_pods() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintSpec {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapacityType {
    #[default]
    OnDemand,
    Spot,
}

impl CapacityType {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "on-demand",
            CapacityType::Spot => "spot",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub min: u32,
    #[serde(default)]
    pub max: u32,
}

/// `PATCH /sim/v1/pools/{name}`: the mutable fields; absent ones are left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolPatch {
    #[serde(default)]
    pub size: Option<u32>,
    #[serde(default)]
    pub autoscaling: Option<AutoscalingPatch>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingPatch {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolPhase {
    Provisioning,
    Ready,
    Resizing,
    Deleting,
    Failed,
}

/// A pool as the cloud reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub name: String,
    pub spec: PoolSpec,
    pub status: PoolStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    pub phase: PoolPhase,
    /// Why the pool is `Failed`.
    pub reason: Option<String>,
    /// Node objects that exist, in index order.
    pub nodes: Vec<String>,
    pub ready_nodes: u32,
    /// RFC 3339, simulated time.
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    #[error("pool \"{0}\" not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

impl CloudError {
    /// The HTTP status of the error on `/sim/v1`.
    pub fn code(&self) -> u16 {
        match self {
            CloudError::NotFound(_) => 404,
            CloudError::Conflict(_) => 409,
            CloudError::Invalid(_) => 422,
        }
    }
}

impl PoolSpec {
    /// The spec with defaults made explicit (`v` dropped from the version).
    pub fn normalized(mut self) -> Self {
        if let Some(v) = self.version.strip_prefix('v') {
            self.version = v.to_string();
        }
        self
    }

    /// Checks the spec; on error returns the offending field (relative to the pool) and a message.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        if !is_dns_label(&self.name) || self.name.len() > 40 {
            return err(
                "name",
                format!(
                    "invalid pool name \"{}\": must be a lowercase DNS label (a-z, 0-9, '-') of at most 40 characters",
                    self.name
                ),
            );
        }
        let v = self.version.strip_prefix('v').unwrap_or(&self.version);
        let core = v.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
            return err(
                "version",
                format!("invalid version \"{}\": expected MAJOR.MINOR.PATCH, e.g. 1.30.8", self.version),
            );
        }
        if self.zones.is_empty() {
            return err("zones", "at least one zone is required".into());
        }
        for (i, z) in self.zones.iter().enumerate() {
            if z.is_empty() || self.zones[..i].contains(z) {
                return err(&format!("zones[{i}]"), format!("zone \"{z}\" is empty or listed twice"));
            }
        }
        if self.instance_type.is_empty() {
            return err("instance_type", "must not be empty".into());
        }
        if self.allocatable.cpu.millis() == 0 {
            return err("allocatable.cpu", "must be greater than 0".into());
        }
        if self.allocatable.memory.value() <= 0.0 {
            return err("allocatable.memory", "must be greater than 0".into());
        }
        if self.allocatable.pods == 0 {
            return err("allocatable.pods", "must be greater than 0".into());
        }
        for k in self.labels.keys() {
            if node::RESERVED_LABELS.contains(&k.as_str()) {
                return err(&format!("labels.{k}"), format!("label {k} is set by the cloud and cannot be overridden"));
            }
            if k.is_empty() {
                return err("labels", "label keys must not be empty".into());
            }
        }
        for (i, t) in self.taints.iter().enumerate() {
            if t.key.is_empty() {
                return err(&format!("taints[{i}].key"), "must not be empty".into());
            }
            if self.taints[..i].iter().any(|o| o.key == t.key && o.effect == t.effect) {
                return err(&format!("taints[{i}]"), format!("taint {}:{} is listed twice", t.key, t.effect.as_str()));
            }
        }
        check_autoscaling(&self.autoscaling, self.size).map_err(|m| ("autoscaling".to_string(), m))
    }

    /// Whether `other` describes the same pool apart from the mutable fields (size, autoscaling); returns the
    /// names of the fields that differ.
    fn immutable_diff(&self, other: &PoolSpec) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.version != other.version {
            d.push("version");
        }
        if self.instance_type != other.instance_type {
            d.push("instance_type");
        }
        if self.allocatable != other.allocatable {
            d.push("allocatable");
        }
        if self.zones != other.zones {
            d.push("zones");
        }
        if self.labels != other.labels {
            d.push("labels");
        }
        if self.taints != other.taints {
            d.push("taints");
        }
        if self.capacity_type != other.capacity_type {
            d.push("capacity_type");
        }
        d
    }
}

fn check_autoscaling(a: &Autoscaling, size: u32) -> Result<(), String> {
    if a.enabled && a.min > a.max {
        return Err(format!("autoscaling min {} is greater than max {}", a.min, a.max));
    }
    if a.enabled && !(a.min..=a.max).contains(&size) {
        return Err(format!("size {size} is outside the autoscaling range {}..={}", a.min, a.max));
    }
    Ok(())
}

pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// One machine of a pool.
#[derive(Debug, Clone)]
struct Instance {
    name: String,
    zone: String,
    appear_at: Timestamp,
    /// Set when the node object is created.
    ready_at: Option<Timestamp>,
    node: bool,
    ready: bool,
    remove_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct PoolState {
    spec: PoolSpec,
    seq: u32,
    created_at: Timestamp,
    phase: PoolPhase,
    reason: Option<String>,
    ever_ready: bool,
    fail_at: Option<(Timestamp, String)>,
    delete_at: Option<Timestamp>,
    instances: BTreeMap<u32, Instance>,
    next_index: u32,
}

impl PoolState {
    fn view(&self) -> Pool {
        let live = self.instances.values().filter(|i| i.node);
        Pool {
            name: self.spec.name.clone(),
            spec: self.spec.clone(),
            status: PoolStatus {
                phase: self.phase,
                reason: self.reason.clone(),
                nodes: live.clone().map(|i| i.name.clone()).collect(),
                ready_nodes: live.filter(|i| i.ready).count() as u32,
                created_at: self.created_at.to_string(),
            },
        }
    }

    fn add_instances(&mut self, count: u32, appear_at: Timestamp) {
        for _ in 0..count {
            let index = self.next_index;
            self.next_index += 1;
            let zone = self.spec.zones[index as usize % self.spec.zones.len()].clone();
            let name = node::node_name(&self.spec.name, &zone, index);
            self.instances.insert(
                index,
                Instance { name, zone, appear_at, ready_at: None, node: false, ready: false, remove_at: None },
            );
        }
    }

    /// Instances that count toward the size: not being removed.
    fn active(&self) -> u32 {
        self.instances.values().filter(|i| i.remove_at.is_none()).count() as u32
    }
}

/// All pools of the simulated cloud. Lives in [`State::cloud`].
#[derive(Debug, Default, Clone)]
pub struct Cloud {
    pools: BTreeMap<String, PoolState>,
    seq: u32,
}

impl Cloud {
    pub fn pool(&self, name: &str) -> Option<Pool> {
        self.pools.get(name).map(PoolState::view)
    }

    /// Every pool, by name.
    pub fn pools(&self) -> Vec<Pool> {
        self.pools.values().map(PoolState::view).collect()
    }
}

impl State {
    /// Creates a pool, idempotent by name: `Ok((pool, true))` when created, `Ok((pool, false))` when a pool
    /// with that name and the same spec (size and autoscaling aside) exists, `Conflict` when it differs or is
    /// being deleted. Node objects appear after the `pool_provision` delay.
    pub fn create_pool(&mut self, spec: PoolSpec) -> Result<(Pool, bool), CloudError> {
        self.create_pool_inner(spec, false)
    }

    /// Creates a pool whose nodes exist and are Ready at once (the scenario's initial pools).
    pub fn create_pool_now(&mut self, spec: PoolSpec) -> Result<Pool, CloudError> {
        let (pool, _) = self.create_pool_inner(spec, true)?;
        self.reconcile_pool(&pool.name);
        self.cloud.pool(&pool.name).ok_or(CloudError::NotFound(pool.name))
    }

    fn create_pool_inner(&mut self, spec: PoolSpec, instant: bool) -> Result<(Pool, bool), CloudError> {
        let spec = spec.normalized();
        spec.validate().map_err(|(f, m)| CloudError::Invalid(format!("{f}: {m}")))?;
        if let Some(existing) = self.cloud.pools.get(&spec.name) {
            if existing.delete_at.is_some() {
                return Err(CloudError::Conflict(format!(
                    "pool \"{}\" is being deleted; create it again once it is gone",
                    spec.name
                )));
            }
            let diff = existing.spec.immutable_diff(&spec);
            if !diff.is_empty() {
                return Err(CloudError::Conflict(format!(
                    "pool \"{}\" already exists with a different spec ({} differ)",
                    spec.name,
                    diff.join(", ")
                )));
            }
            return Ok((existing.view(), false));
        }
        let now = self.now;
        let delays = &self.timing.delays;
        let start = if instant { now } else { crate::clock::add(now, delays.pool_provision.0) };
        self.cloud.seq += 1;
        let mut p = PoolState {
            seq: self.cloud.seq,
            created_at: now,
            phase: PoolPhase::Provisioning,
            reason: None,
            ever_ready: false,
            fail_at: None,
            delete_at: None,
            instances: BTreeMap::new(),
            next_index: 0,
            spec,
        };
        match self.faults.pool_create_failure(&p.spec.name) {
            Some(reason) => p.fail_at = Some((start, reason.to_string())),
            None => p.add_instances(p.spec.size, start),
        }
        if instant {
            for i in p.instances.values_mut() {
                i.ready_at = Some(now);
            }
        }
        let view = p.view();
        tracing::info!(pool = %view.name, size = view.spec.size, version = %view.spec.version, "pool created");
        self.cloud.pools.insert(view.name.clone(), p);
        Ok((view, true))
    }

    /// Changes the size and/or autoscaling settings. Growing adds nodes after `pool_provision`; shrinking
    /// removes the highest-numbered nodes after `pool_delete`.
    pub fn update_pool(&mut self, name: &str, patch: &PoolPatch) -> Result<Pool, CloudError> {
        let now = self.now;
        let (provision, delete) = (self.timing.delays.pool_provision.0, self.timing.delays.pool_delete.0);
        let p = self.cloud.pools.get_mut(name).ok_or_else(|| CloudError::NotFound(name.to_string()))?;
        if p.delete_at.is_some() || p.phase == PoolPhase::Failed {
            return Err(CloudError::Conflict(format!(
                "pool \"{name}\" is {:?} and cannot be changed",
                if p.delete_at.is_some() { PoolPhase::Deleting } else { PoolPhase::Failed }
            )));
        }
        let size = patch.size.unwrap_or(p.spec.size);
        let mut auto = p.spec.autoscaling;
        if let Some(a) = patch.autoscaling {
            auto.enabled = a.enabled.unwrap_or(auto.enabled);
            auto.min = a.min.unwrap_or(auto.min);
            auto.max = a.max.unwrap_or(auto.max);
        }
        check_autoscaling(&auto, size).map_err(CloudError::Invalid)?;
        p.spec.autoscaling = auto;
        p.spec.size = size;
        let active = p.active();
        if size > active {
            p.add_instances(size - active, crate::clock::add(now, provision));
        } else if size < active {
            let mut surplus = active - size;
            let keys: Vec<u32> =
                p.instances.iter().rev().filter(|(_, i)| i.remove_at.is_none()).map(|(k, _)| *k).collect();
            for k in keys {
                if surplus == 0 {
                    break;
                }
                surplus -= 1;
                let node_exists = p.instances.get(&k).is_some_and(|i| i.node);
                if node_exists {
                    if let Some(i) = p.instances.get_mut(&k) {
                        i.remove_at = Some(crate::clock::add(now, delete));
                    }
                } else {
                    p.instances.remove(&k);
                }
            }
        }
        let view = p.view();
        self.reconcile_pool(name);
        Ok(self.cloud.pool(name).unwrap_or(view))
    }

    /// Starts deleting a pool: its node objects are removed after `pool_delete`, then the pool is gone.
    /// Deleting a pool already being deleted returns it unchanged.
    pub fn delete_pool(&mut self, name: &str) -> Result<Pool, CloudError> {
        let at = crate::clock::add(self.now, self.timing.delays.pool_delete.0);
        let p = self.cloud.pools.get_mut(name).ok_or_else(|| CloudError::NotFound(name.to_string()))?;
        if p.delete_at.is_none() {
            tracing::info!(pool = name, "pool deleting");
            p.delete_at = Some(at);
            p.phase = PoolPhase::Deleting;
            p.fail_at = None;
        }
        Ok(p.view())
    }

    /// One pass over a pool; returns its next timer.
    fn reconcile_pool(&mut self, name: &str) -> Option<Timestamp> {
        let mut p = self.cloud.pools.remove(name)?;
        let now = self.now;
        let mut next: Option<Timestamp> = None;
        let mut later = |t: Timestamp| next = Some(next.map_or(t, |n: Timestamp| n.min(t)));

        if let Some(at) = p.delete_at {
            if now >= at {
                for i in p.instances.values().filter(|i| i.node) {
                    self.remove::<Node>("", &i.name);
                }
                tracing::info!(pool = name, "pool deleted");
                return None;
            }
            later(at);
            self.cloud.pools.insert(name.to_string(), p);
            return next;
        }
        if let Some((at, reason)) = p.fail_at.clone() {
            if now >= at {
                tracing::warn!(pool = name, %reason, "pool creation failed");
                p.phase = PoolPhase::Failed;
                p.reason = Some(reason);
                p.fail_at = None;
            } else {
                later(at);
            }
            self.cloud.pools.insert(name.to_string(), p);
            return next;
        }
        if p.phase == PoolPhase::Failed {
            self.cloud.pools.insert(name.to_string(), p);
            return None;
        }
        let never_ready = self.faults.node_never_ready(name);
        let node_ready = self.timing.delays.node_ready.0;
        let mut gone = Vec::new();
        for (index, i) in p.instances.iter_mut() {
            if let Some(at) = i.remove_at {
                if now >= at {
                    if i.node {
                        self.remove::<Node>("", &i.name);
                    }
                    gone.push(*index);
                } else {
                    later(at);
                }
                continue;
            }
            if !i.node {
                if now < i.appear_at {
                    later(i.appear_at);
                    continue;
                }
                let ready_at = i.ready_at.unwrap_or_else(|| crate::clock::add(now, node_ready));
                i.ready_at = Some(ready_at);
                let ready = ready_at <= now && !never_ready;
                let obj = node::build(&p.spec, p.seq, *index, &i.name, &i.zone, ready, now);
                if let Err(e) = self.create::<Node>(obj, None, false) {
                    tracing::warn!(node = %i.name, error = %e, "cannot create node object; keeping the existing one");
                }
                i.node = true;
                i.ready = ready;
            }
            if !i.ready && !never_ready {
                match i.ready_at {
                    Some(at) if at <= now => {
                        if let Some(n) = self.get::<Node>("", &i.name) {
                            let mut n = (*n).clone();
                            node::mark_ready(&mut n, now);
                            self.put(n, EventType::Modified);
                        }
                        i.ready = true;
                    }
                    Some(at) => later(at),
                    None => {}
                }
            }
        }
        for k in gone {
            p.instances.remove(&k);
        }
        let all_ready =
            p.instances.len() as u32 == p.spec.size && p.instances.values().all(|i| i.ready && i.remove_at.is_none());
        p.phase = if all_ready {
            p.ever_ready = true;
            PoolPhase::Ready
        } else if p.ever_ready {
            PoolPhase::Resizing
        } else {
            PoolPhase::Provisioning
        };
        self.cloud.pools.insert(name.to_string(), p);
        next
    }
}

impl Store {
    /// [`State::create_pool`], then wakes the components.
    pub fn create_pool(&self, spec: PoolSpec) -> Result<(Pool, bool), CloudError> {
        let r = self.lock().create_pool(spec);
        self.touch();
        r
    }

    /// [`State::update_pool`], then wakes the components.
    pub fn update_pool(&self, name: &str, patch: &PoolPatch) -> Result<Pool, CloudError> {
        let r = self.lock().update_pool(name, patch);
        self.touch();
        r
    }

    /// [`State::delete_pool`], then wakes the components.
    pub fn delete_pool(&self, name: &str) -> Result<Pool, CloudError> {
        let r = self.lock().delete_pool(name);
        self.touch();
        r
    }
}

/// The cloud as a component: provisions, readies and removes nodes when their time comes.
#[derive(Debug, Default)]
pub struct CloudController;

impl Reconciler for CloudController {
    fn name(&self) -> &'static str {
        "cloud"
    }

    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp> {
        let names: Vec<String> = st.cloud.pools.keys().cloned().collect();
        let mut next: Option<Timestamp> = None;
        for name in names {
            if let Some(t) = st.reconcile_pool(&name) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }
}
