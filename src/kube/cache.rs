//! [`LiveCache`]: the watch-fed [`LiveView`]. Six watchers (pods, nodes, PDBs, ReplicaSets, Deployments,
//! StatefulSets) feed one index; every event updates only the entries it touches, so a 150k-pod cluster is
//! not rebuilt per event. A relist (`Init` .. `InitDone`, after a watch expired) upserts as it goes and, at
//! `InitDone`, drops whatever the relist did not mention.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use foldhash::{HashMap, HashSet, HashSetExt};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::slim::SlimPod;
use crate::model::identity::{PodKey, WorkloadKey, WorkloadRef};
use crate::model::snapshot::{NodeInfo, PdbInfo, PodInfo};
use crate::ports::{ClusterError, LiveView, Replicas};

/// The watched kinds, in the order of [`Shared::synced`] bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Pod,
    Node,
    Pdb,
    ReplicaSet,
    Deployment,
    StatefulSet,
}

const ALL_KINDS: [Kind; 6] = [Kind::Pod, Kind::Node, Kind::Pdb, Kind::ReplicaSet, Kind::Deployment, Kind::StatefulSet];

impl Kind {
    fn bit(self) -> u8 {
        1 << self as u8
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Node => "nodes",
            Kind::Pdb => "poddisruptionbudgets",
            Kind::ReplicaSet => "replicasets",
            Kind::Deployment => "deployments",
            Kind::StatefulSet => "statefulsets",
        }
    }
}

/// A watched object, reduced to what the index keeps.
#[derive(Debug, Clone)]
// Short-lived (one per watch event, reduced at once into the indexes) and mostly pods: boxing the pod would
// add an allocation per pod event for nothing.
#[allow(clippy::large_enum_variant)]
enum Obj {
    Pod(PodInfo),
    Node(NodeInfo),
    Pdb(PdbInfo),
    ReplicaSet(RsInfo),
    /// Deployments and StatefulSets: only their desired replicas.
    Scale {
        kind: Kind,
        key: String,
        replicas: i32,
    },
}

#[derive(Debug, Clone)]
struct RsInfo {
    namespace: String,
    name: String,
    uid: String,
    /// The controlling Deployment's name.
    deployment: Option<String>,
    replicas: i32,
}

impl Obj {
    fn kind(&self) -> Kind {
        match self {
            Obj::Pod(_) => Kind::Pod,
            Obj::Node(_) => Kind::Node,
            Obj::Pdb(_) => Kind::Pdb,
            Obj::ReplicaSet(_) => Kind::ReplicaSet,
            Obj::Scale { kind, .. } => *kind,
        }
    }

    /// The key within its kind: `ns/name`, or the node name, or `Kind/ns/name` for scales.
    fn key(&self) -> String {
        match self {
            Obj::Pod(p) => p.key(),
            Obj::Node(n) => n.name.clone(),
            Obj::Pdb(p) => p.key(),
            Obj::ReplicaSet(r) => format!("{}/{}", r.namespace, r.name),
            Obj::Scale { key, .. } => key.clone(),
        }
    }
}

/// A kind the cache watches, and how it is reduced.
trait Watched: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static {
    const KIND: Kind;
    fn reduce(&self) -> Obj;
}

fn scale_key(kind: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!("{kind}/{}/{}", meta.namespace.as_deref().unwrap_or(""), meta.name.as_deref().unwrap_or(""))
}

impl Watched for SlimPod {
    const KIND: Kind = Kind::Pod;
    fn reduce(&self) -> Obj {
        Obj::Pod(PodInfo::from(&self.0))
    }
}

impl Watched for Node {
    const KIND: Kind = Kind::Node;
    fn reduce(&self) -> Obj {
        Obj::Node(NodeInfo::from(self))
    }
}

impl Watched for PodDisruptionBudget {
    const KIND: Kind = Kind::Pdb;
    fn reduce(&self) -> Obj {
        Obj::Pdb(PdbInfo::from(self))
    }
}

impl Watched for ReplicaSet {
    const KIND: Kind = Kind::ReplicaSet;
    fn reduce(&self) -> Obj {
        let m = &self.metadata;
        Obj::ReplicaSet(RsInfo {
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            uid: m.uid.clone().unwrap_or_default(),
            deployment: m
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true) && r.kind == "Deployment")
                .map(|r| r.name.clone()),
            replicas: self.spec.replicas.unwrap_or(1),
        })
    }
}

impl Watched for Deployment {
    const KIND: Kind = Kind::Deployment;
    fn reduce(&self) -> Obj {
        Obj::Scale {
            kind: Kind::Deployment,
            key: scale_key("Deployment", &self.metadata),
            replicas: self.spec.replicas.unwrap_or(1),
        }
    }
}

impl Watched for StatefulSet {
    const KIND: Kind = Kind::StatefulSet;
    fn reduce(&self) -> Obj {
        Obj::Scale {
            kind: Kind::StatefulSet,
            key: scale_key("StatefulSet", &self.metadata),
            replicas: self.spec.replicas.unwrap_or(1),
        }
    }
}

/// The indexes. Pod keys are `ns/name`; workload keys `Kind/ns/name`.
#[derive(Default)]
struct Index {
    /// Pods with `workload` resolved through their ReplicaSet's owner (re-resolved when ReplicaSets change).
    pods: HashMap<String, Arc<PodInfo>>,
    pods_by_node: HashMap<String, BTreeSet<String>>,
    /// By the pod's own controller reference (`ReplicaSet/ns/web-abc`, `StatefulSet/ns/db`).
    pods_by_controller: HashMap<String, BTreeSet<String>>,
    /// By the controller's UID (to follow ReplicaSet -> Deployment ownership).
    pods_by_owner_uid: HashMap<String, BTreeSet<String>>,
    /// Ready, non-terminating pods by the controller's UID (the readiness gate counts them often).
    ready_by_owner_uid: HashMap<String, i32>,
    /// Pods the scheduler cannot place, by the controller's UID.
    unschedulable_by_owner_uid: HashMap<String, BTreeSet<String>>,
    nodes: BTreeMap<String, NodeInfo>,
    /// Namespace -> name -> PDB.
    pdbs: HashMap<String, BTreeMap<String, Arc<PdbInfo>>>,
    /// `ns/name` -> ReplicaSet.
    replicasets: HashMap<String, RsInfo>,
    /// ReplicaSet UID -> `ns/name`.
    rs_by_uid: HashMap<String, String>,
    /// `Deployment/ns/name` -> UIDs of the ReplicaSets it controls.
    deployment_rss: HashMap<String, BTreeSet<String>>,
    /// `Kind/ns/name` -> desired replicas.
    scales: HashMap<String, i32>,
    /// Keys seen since a relist of that kind began (`Init`).
    relisting: HashMap<Kind, HashSet<String>>,
}

fn add_to(map: &mut HashMap<String, BTreeSet<String>>, k: &str, v: &str) {
    map.entry(k.to_string()).or_default().insert(v.to_string());
}

fn remove_from(map: &mut HashMap<String, BTreeSet<String>>, k: &str, v: &str) {
    if let Some(set) = map.get_mut(k) {
        set.remove(v);
        if set.is_empty() {
            map.remove(k);
        }
    }
}

fn controller_key(p: &PodInfo) -> Option<String> {
    p.controller.as_ref().map(|c| format!("{}/{}/{}", c.kind, p.namespace, c.name))
}

impl Index {
    fn apply(&mut self, obj: Obj) {
        if let Some(seen) = self.relisting.get_mut(&obj.kind()) {
            seen.insert(obj.key());
        }
        match obj {
            Obj::Pod(p) => self.put_pod(p),
            Obj::Node(n) => {
                self.nodes.insert(n.name.clone(), n);
            }
            Obj::Pdb(p) => {
                self.pdbs.entry(p.namespace.clone()).or_default().insert(p.name.clone(), Arc::new(p));
            }
            Obj::ReplicaSet(r) => self.put_rs(r),
            Obj::Scale { key, replicas, .. } => {
                self.scales.insert(key, replicas);
            }
        }
    }

    fn delete(&mut self, obj: &Obj) {
        match obj {
            // A delete of an older incarnation (same name, other UID) must not drop the new pod.
            Obj::Pod(p) => {
                if self.pods.get(&p.key()).is_some_and(|cur| p.uid.is_empty() || cur.uid == p.uid) {
                    self.remove(Kind::Pod, &p.key());
                }
            }
            other => self.remove(other.kind(), &other.key()),
        }
    }

    fn remove(&mut self, kind: Kind, key: &str) {
        match kind {
            Kind::Pod => self.remove_pod(key),
            Kind::Node => {
                self.nodes.remove(key);
            }
            Kind::Pdb => {
                if let Some((ns, name)) = key.split_once('/')
                    && let Some(m) = self.pdbs.get_mut(ns)
                {
                    m.remove(name);
                    if m.is_empty() {
                        self.pdbs.remove(ns);
                    }
                }
            }
            Kind::ReplicaSet => self.remove_rs(key),
            Kind::Deployment | Kind::StatefulSet => {
                self.scales.remove(key);
            }
        }
    }

    fn put_pod(&mut self, mut p: PodInfo) {
        let key = p.key();
        p.workload = self.workload_of(&p);
        // The common case, a status change: same node and controller, only the counters move.
        if let Some(old) = self.pods.get(&key)
            && old.node == p.node
            && old.controller == p.controller
        {
            let old = old.clone();
            if let Some(c) = &p.controller {
                let was_ready = old.ready && !old.terminating;
                let is_ready = p.ready && !p.terminating;
                if was_ready != is_ready {
                    let n = self.ready_by_owner_uid.entry(c.uid.clone()).or_default();
                    *n += if is_ready { 1 } else { -1 };
                    if *n <= 0 {
                        self.ready_by_owner_uid.remove(&c.uid);
                    }
                }
                match (old.unschedulable.is_some(), p.unschedulable.is_some()) {
                    (false, true) => add_to(&mut self.unschedulable_by_owner_uid, &c.uid, &key),
                    (true, false) => remove_from(&mut self.unschedulable_by_owner_uid, &c.uid, &key),
                    _ => {}
                }
            }
            self.pods.insert(key, Arc::new(p));
            return;
        }
        self.remove_pod(&key);
        if let Some(n) = &p.node {
            add_to(&mut self.pods_by_node, n, &key);
        }
        if let Some(c) = controller_key(&p) {
            add_to(&mut self.pods_by_controller, &c, &key);
        }
        if let Some(c) = &p.controller {
            add_to(&mut self.pods_by_owner_uid, &c.uid, &key);
            if p.ready && !p.terminating {
                *self.ready_by_owner_uid.entry(c.uid.clone()).or_default() += 1;
            }
            if p.unschedulable.is_some() {
                add_to(&mut self.unschedulable_by_owner_uid, &c.uid, &key);
            }
        }
        self.pods.insert(key, Arc::new(p));
    }

    fn remove_pod(&mut self, key: &str) {
        let Some(old) = self.pods.remove(key) else { return };
        if let Some(n) = &old.node {
            remove_from(&mut self.pods_by_node, n, key);
        }
        if let Some(c) = controller_key(&old) {
            remove_from(&mut self.pods_by_controller, &c, key);
        }
        if let Some(c) = &old.controller {
            remove_from(&mut self.pods_by_owner_uid, &c.uid, key);
            if old.ready
                && !old.terminating
                && let Some(n) = self.ready_by_owner_uid.get_mut(&c.uid)
            {
                *n -= 1;
                if *n <= 0 {
                    self.ready_by_owner_uid.remove(&c.uid);
                }
            }
            if old.unschedulable.is_some() {
                remove_from(&mut self.unschedulable_by_owner_uid, &c.uid, key);
            }
        }
    }

    /// Re-resolves the workload of the pods of the ReplicaSet with this UID (its owner may have changed).
    fn reresolve(&mut self, rs_uid: &str) {
        let keys: Vec<String> = self.pods_by_owner_uid.get(rs_uid).into_iter().flatten().cloned().collect();
        for k in keys {
            let Some(p) = self.pods.get(&k) else { continue };
            let w = self.workload_of(p);
            if w != p.workload {
                let mut next = (**p).clone();
                next.workload = w;
                self.pods.insert(k, Arc::new(next));
            }
        }
    }

    fn put_rs(&mut self, r: RsInfo) {
        let key = format!("{}/{}", r.namespace, r.name);
        let old = self.unlink_rs(&key);
        self.scales.insert(format!("ReplicaSet/{key}"), r.replicas);
        self.rs_by_uid.insert(r.uid.clone(), key.clone());
        if let Some(d) = &r.deployment {
            add_to(&mut self.deployment_rss, &format!("Deployment/{}/{d}", r.namespace), &r.uid);
        }
        let uid = r.uid.clone();
        // A status or scale change (the common case: every pod started or stopped changes one) leaves the
        // owner as it was: the pods' workloads stand.
        let owner_changed = old.as_ref().is_none_or(|o| o.uid != r.uid || o.deployment != r.deployment);
        self.replicasets.insert(key, r);
        if let Some(old) = old.filter(|o| o.uid != uid) {
            self.reresolve(&old.uid);
        }
        if owner_changed {
            self.reresolve(&uid);
        }
    }

    fn remove_rs(&mut self, key: &str) {
        if let Some(old) = self.unlink_rs(key) {
            self.reresolve(&old.uid);
        }
    }

    /// Takes a ReplicaSet out of the indexes, leaving its pods' workloads to the caller.
    fn unlink_rs(&mut self, key: &str) -> Option<RsInfo> {
        let old = self.replicasets.remove(key)?;
        self.scales.remove(&format!("ReplicaSet/{key}"));
        self.rs_by_uid.remove(&old.uid);
        if let Some(d) = &old.deployment {
            remove_from(&mut self.deployment_rss, &format!("Deployment/{}/{d}", old.namespace), &old.uid);
        }
        Some(old)
    }

    fn keys_of(&self, kind: Kind) -> Vec<String> {
        match kind {
            Kind::Pod => self.pods.keys().cloned().collect(),
            Kind::Node => self.nodes.keys().cloned().collect(),
            Kind::Pdb => self.pdbs.values().flat_map(|m| m.values().map(|p| p.key())).collect(),
            Kind::ReplicaSet => self.replicasets.keys().cloned().collect(),
            Kind::Deployment => self.scales.keys().filter(|k| k.starts_with("Deployment/")).cloned().collect(),
            Kind::StatefulSet => self.scales.keys().filter(|k| k.starts_with("StatefulSet/")).cloned().collect(),
        }
    }

    /// `InitDone`: whatever the relist did not mention is gone.
    fn finish_relist(&mut self, kind: Kind) {
        let Some(seen) = self.relisting.remove(&kind) else { return };
        for key in self.keys_of(kind) {
            if !seen.contains(&key) {
                self.remove(kind, &key);
            }
        }
    }

    /// The Deployment controlling the ReplicaSet with this UID.
    fn deployment_of_rs(&self, uid: &str) -> Option<&str> {
        let key = self.rs_by_uid.get(uid)?;
        self.replicasets.get(key)?.deployment.as_deref()
    }

    /// A pod's workload as the snapshot shows it: its controller, or for a ReplicaSet owned by a Deployment,
    /// the Deployment.
    fn workload_of(&self, p: &PodInfo) -> Option<WorkloadRef> {
        let c = p.controller.as_ref()?;
        match self.deployment_of_rs(&c.uid).filter(|_| c.kind == "ReplicaSet") {
            Some(d) => Some(WorkloadRef::new("Deployment", d)),
            None => Some(WorkloadRef::new(&c.kind, &c.name)),
        }
    }

    fn pods_for<'a>(&'a self, keys: impl IntoIterator<Item = &'a String>) -> Vec<Arc<PodInfo>> {
        keys.into_iter().filter_map(|k| self.pods.get(k)).cloned().collect()
    }

    /// The keys of a workload's pods, unordered: a Deployment's through its ReplicaSets (a pod has one
    /// controller, so no key comes twice); a ReplicaSet's only when no Deployment controls it (its pods then
    /// belong to the Deployment).
    fn workload_keys<'a>(&'a self, workload: &WorkloadKey) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        // The indexes are keyed by the workload's printed name.
        let index_key = workload.to_string();
        if workload.kind == "Deployment" {
            return Box::new(
                self.deployment_rss
                    .get(&index_key)
                    .into_iter()
                    .flatten()
                    .filter_map(|uid| self.pods_by_owner_uid.get(uid))
                    .flatten(),
            );
        }
        let of_rs = workload.kind == "ReplicaSet";
        Box::new(self.pods_by_controller.get(&index_key).into_iter().flatten().filter(move |k| {
            !of_rs
                || self
                    .pods
                    .get(*k)
                    .and_then(|p| p.controller.as_ref())
                    .is_none_or(|c| self.deployment_of_rs(&c.uid).is_none())
        }))
    }

    fn pods_of(&self, workload: &WorkloadKey) -> Vec<Arc<PodInfo>> {
        let mut keys: Vec<&String> = self.workload_keys(workload).collect();
        keys.sort();
        self.pods_for(keys)
    }

    fn replicas(&self, workload: &WorkloadKey) -> Replicas {
        let mut r = Replicas::default();
        if workload.kind == "Deployment" {
            // From the counters: no pod is visited.
            for uid in self.deployment_rss.get(&workload.to_string()).into_iter().flatten() {
                r.ready += self.ready_by_owner_uid.get(uid).copied().unwrap_or(0);
                for k in self.unschedulable_by_owner_uid.get(uid).into_iter().flatten() {
                    if let Some(p) = self.pods.get(k)
                        && let Some(msg) = p.unschedulable.clone()
                    {
                        r.unschedulable.push((p.pod_key(), msg));
                    }
                }
            }
            return r;
        }
        for p in self.workload_keys(workload).filter_map(|k| self.pods.get(k)) {
            if p.ready && !p.terminating {
                r.ready += 1;
            }
            if let Some(msg) = &p.unschedulable {
                r.unschedulable.push((p.pod_key(), msg.clone()));
            }
        }
        r
    }
}

#[derive(Default)]
struct Shared {
    index: RwLock<Index>,
    /// Bumped by every change; `seen` is the generation when [`LiveView::changed`] last returned.
    generation: AtomicU64,
    seen: AtomicU64,
    notify: Notify,
    sync: Mutex<SyncState>,
}

#[derive(Default)]
struct SyncState {
    /// Bits of the kinds whose first list completed.
    synced: u8,
    last_error: Option<String>,
    /// The first refusal (401, 403) of a list or watch: the view stopped following that kind for good.
    refused: Option<ClusterError>,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn handle<K: Watched>(&self, ev: Event<K>) {
        match ev {
            Event::Apply(o) => {
                let obj = o.reduce();
                self.write().apply(obj);
            }
            Event::Delete(o) => {
                let obj = o.reduce();
                self.write().delete(&obj);
            }
            Event::Init => {
                self.write().relisting.insert(K::KIND, HashSet::new());
            }
            Event::InitApply(o) => {
                let obj = o.reduce();
                self.write().apply(obj);
            }
            Event::InitDone => {
                self.write().finish_relist(K::KIND);
                let mut sync = self.sync.lock().unwrap_or_else(PoisonError::into_inner);
                sync.synced |= K::KIND.bit();
            }
        }
        self.bump();
    }

    /// Records a refusal and wakes every waiter, so that nobody goes on deciding from a view that stopped.
    fn refuse(&self, e: ClusterError) {
        tracing::warn!(error = %e, "the API server refuses a watch; the live view stops");
        self.sync.lock().unwrap_or_else(PoisonError::into_inner).refused.get_or_insert(e);
        self.bump();
    }

    fn refused(&self) -> Option<ClusterError> {
        self.sync.lock().unwrap_or_else(PoisonError::into_inner).refused.clone()
    }

    fn unsynced(&self) -> Vec<&'static str> {
        let synced = self.sync.lock().unwrap_or_else(PoisonError::into_inner).synced;
        ALL_KINDS.iter().filter(|k| synced & k.bit() == 0).map(|k| k.plural()).collect()
    }
}

/// The live view. Dropping the last handle stops its watchers.
pub struct LiveCache {
    shared: Arc<Shared>,
    tasks: Vec<AbortHandle>,
}

impl Drop for LiveCache {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A list or watch error that asking again will not change: the API server refusing the request (403: RBAC,
/// 401: credentials). Anything else (a dropped connection, 410 Gone, a 5xx) is retried with backoff.
fn refusal(kind: Kind, e: &watcher::Error) -> Option<ClusterError> {
    let (operation, status) = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s)) => ("list", s.as_ref()),
        watcher::Error::WatchStartFailed(kube::Error::Api(s)) | watcher::Error::WatchFailed(kube::Error::Api(s)) => {
            ("watch", s.as_ref())
        }
        watcher::Error::WatchError(s) => ("watch", s.as_ref()),
        _ => return None,
    };
    matches!(status.code, 401 | 403).then(|| ClusterError::Api {
        operation: operation.into(),
        object: kind.plural().into(),
        code: status.code,
        reason: status.reason.clone(),
        message: status.message.clone(),
    })
}

fn spawn_watcher<K: Watched>(api: Api<K>, shared: Arc<Shared>) -> AbortHandle {
    tokio::spawn(async move {
        let mut stream = pin!(watcher::watcher(api, watcher::Config::default()).default_backoff());
        while let Some(item) = stream.next().await {
            match item {
                Ok(ev) => shared.handle(ev),
                Err(e) if let Some(refused) = refusal(K::KIND, &e) => {
                    // Asking again gets the same answer (RBAC, credentials): retrying with backoff would leave
                    // the view silently stale while the run waits on it.
                    shared.refuse(refused);
                    return;
                }
                Err(e) => {
                    tracing::warn!(kind = K::KIND.plural(), error = %e, "watch failed; retrying with backoff");
                    shared.sync.lock().unwrap_or_else(PoisonError::into_inner).last_error =
                        Some(format!("{}: {e}", K::KIND.plural()));
                }
            }
        }
    })
    .abort_handle()
}

impl LiveCache {
    /// Starts the watchers and waits (up to `sync_timeout`) until each kind has been listed once.
    pub async fn start(client: Client, sync_timeout: Duration) -> Result<Arc<Self>, ClusterError> {
        let shared = Arc::new(Shared::default());
        let tasks = vec![
            spawn_watcher::<SlimPod>(Api::all(client.clone()), shared.clone()),
            spawn_watcher::<Node>(Api::all(client.clone()), shared.clone()),
            spawn_watcher::<PodDisruptionBudget>(Api::all(client.clone()), shared.clone()),
            spawn_watcher::<ReplicaSet>(Api::all(client.clone()), shared.clone()),
            spawn_watcher::<Deployment>(Api::all(client.clone()), shared.clone()),
            spawn_watcher::<StatefulSet>(Api::all(client), shared.clone()),
        ];
        let cache = Arc::new(Self { shared, tasks });
        match tokio::time::timeout(sync_timeout, cache.synced()).await {
            Ok(Ok(())) => Ok(cache),
            Ok(Err(refused)) => Err(refused),
            Err(_) => {
                let last = cache.shared.sync.lock().unwrap_or_else(PoisonError::into_inner).last_error.clone();
                Err(ClusterError::Transport {
                    operation: "watch".into(),
                    object: cache.shared.unsynced().join(", "),
                    message: format!(
                        "no complete initial list within {sync_timeout:?}{}",
                        last.map(|e| format!("; last error: {e}")).unwrap_or_default()
                    ),
                })
            }
        }
    }

    /// Why the view stopped following the cluster, if it did (see [`LiveView::changed`]).
    pub fn stopped(&self) -> Option<ClusterError> {
        self.shared.refused()
    }

    /// Resolves once every kind has been listed once, or with the first refusal.
    async fn synced(&self) -> Result<(), ClusterError> {
        loop {
            let mut notified = pin!(self.shared.notify.notified());
            notified.as_mut().enable();
            if let Some(refused) = self.shared.refused() {
                return Err(refused);
            }
            if self.shared.unsynced().is_empty() {
                return Ok(());
            }
            notified.await;
        }
    }
}

#[async_trait]
impl LiveView for LiveCache {
    fn pods_on(&self, node: &str) -> Vec<Arc<PodInfo>> {
        let idx = self.shared.read();
        match idx.pods_by_node.get(node) {
            Some(keys) => idx.pods_for(keys),
            None => Vec::new(),
        }
    }

    fn pods_of(&self, workload: &WorkloadKey) -> Vec<Arc<PodInfo>> {
        self.shared.read().pods_of(workload)
    }

    fn replicas(&self, workload: &WorkloadKey) -> Replicas {
        self.shared.read().replicas(workload)
    }

    fn pod(&self, key: &PodKey) -> Option<Arc<PodInfo>> {
        self.shared.read().pods.get(&key.to_string()).cloned()
    }

    fn pdbs(&self, namespace: &str) -> Vec<Arc<PdbInfo>> {
        self.shared.read().pdbs.get(namespace).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.shared.read().nodes.values().cloned().collect()
    }

    fn scale(&self, workload: &WorkloadKey) -> Option<i32> {
        self.shared.read().scales.get(&workload.to_string()).copied()
    }

    /// Returns at once if anything changed since the last call returned (or, on the first call, since the
    /// cache started); otherwise waits for the next change. Every caller waiting when a change happens wakes.
    async fn changed(&self) -> Result<(), ClusterError> {
        let mut notified = pin!(self.shared.notify.notified());
        notified.as_mut().enable();
        let current = self.shared.generation.load(Ordering::SeqCst);
        if self.shared.seen.swap(current, Ordering::SeqCst) == current {
            notified.await;
            self.shared.seen.fetch_max(self.shared.generation.load(Ordering::SeqCst), Ordering::SeqCst);
        }
        // A refusal bumps the generation: it is seen here as soon as it happens, and on every call after.
        self.shared.refused().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::snapshot::{OwnerRef, Resources};

    fn wk(s: &str) -> WorkloadKey {
        s.parse().expect("a workload key")
    }

    fn pod(name: &str, node: &str, owner: (&str, &str, &str), uid: &str) -> PodInfo {
        PodInfo {
            namespace: "shop".into(),
            name: name.into(),
            uid: uid.into(),
            node: Some(node.into()),
            phase: "Running".into(),
            ready: true,
            terminating: false,
            labels: BTreeMap::new(),
            controller: Some(OwnerRef { kind: owner.0.into(), name: owner.1.into(), uid: owner.2.into() }),
            workload: Some(WorkloadRef::new(owner.0, owner.1)),
            requests: Resources::default(),
            empty_dir: false,
            pvcs: vec![],
            mirror: false,
            do_not_disrupt: None,
            safe_to_evict: None,
            tolerates_all: false,
            priority_class: None,
            unschedulable: None,
            node_selector: BTreeMap::new(),
            spread: vec![],
        }
    }

    fn rs(name: &str, uid: &str, deployment: Option<&str>) -> Obj {
        Obj::ReplicaSet(RsInfo {
            namespace: "shop".into(),
            name: name.into(),
            uid: uid.into(),
            deployment: deployment.map(str::to_string),
            replicas: 2,
        })
    }

    fn names(pods: &[Arc<PodInfo>]) -> Vec<&str> {
        pods.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn pods_resolve_to_deployments_whichever_arrives_first() {
        let mut idx = Index::default();
        idx.apply(Obj::Pod(pod("web-1", "n1", ("ReplicaSet", "web-abc", "rs1"), "p1")));
        idx.apply(Obj::Pod(pod("bare-1", "n1", ("ReplicaSet", "bare", "rs2"), "p2")));
        // Before the ReplicaSet is known the pod belongs to it.
        assert_eq!(names(&idx.pods_of(&wk("ReplicaSet/shop/web-abc"))), ["web-1"]);
        idx.apply(rs("web-abc", "rs1", Some("web")));
        idx.apply(rs("bare", "rs2", None));
        assert_eq!(names(&idx.pods_of(&wk("Deployment/shop/web"))), ["web-1"]);
        assert!(idx.pods_of(&wk("ReplicaSet/shop/web-abc")).is_empty());
        assert_eq!(names(&idx.pods_of(&wk("ReplicaSet/shop/bare"))), ["bare-1"]);
        assert_eq!(
            idx.pods["shop/web-1"].workload.as_ref().map(ToString::to_string).as_deref(),
            Some("Deployment/web")
        );
        assert_eq!(idx.scales.get("ReplicaSet/shop/web-abc"), Some(&2));
        // The ReplicaSet leaves: its pod is its own controller's again.
        idx.delete(&rs("web-abc", "rs1", Some("web")));
        assert_eq!(
            idx.pods["shop/web-1"].workload.as_ref().map(ToString::to_string).as_deref(),
            Some("ReplicaSet/web-abc")
        );
    }

    #[test]
    fn a_replicaset_update_moves_its_pods_only_when_its_owner_changes() {
        let mut idx = Index::default();
        idx.apply(rs("web-abc", "rs1", Some("web")));
        idx.apply(Obj::Pod(pod("web-1", "n1", ("ReplicaSet", "web-abc", "rs1"), "p1")));
        let before = idx.pods["shop/web-1"].clone();
        // A status or scale update (same owner): the pods stand as they were, the scale follows.
        let Obj::ReplicaSet(mut scaled) = rs("web-abc", "rs1", Some("web")) else { unreachable!() };
        scaled.replicas = 5;
        idx.apply(Obj::ReplicaSet(scaled));
        assert!(Arc::ptr_eq(&before, &idx.pods["shop/web-1"]), "the pod was not rewritten");
        assert_eq!(idx.scales.get("ReplicaSet/shop/web-abc"), Some(&5));
        // Orphaned (the Deployment let it go), then adopted by another one: the pod follows each time.
        idx.apply(rs("web-abc", "rs1", None));
        assert_eq!(
            idx.pods["shop/web-1"].workload.as_ref().map(ToString::to_string).as_deref(),
            Some("ReplicaSet/web-abc")
        );
        assert_eq!(names(&idx.pods_of(&wk("ReplicaSet/shop/web-abc"))), ["web-1"]);
        idx.apply(rs("web-abc", "rs1", Some("api")));
        assert_eq!(names(&idx.pods_of(&wk("Deployment/shop/api"))), ["web-1"]);
        assert!(idx.pods_of(&wk("Deployment/shop/web")).is_empty());
    }

    #[test]
    fn moving_a_pod_updates_the_node_index_and_a_stale_delete_is_ignored() {
        let mut idx = Index::default();
        idx.apply(Obj::Pod(pod("db-0", "n1", ("StatefulSet", "db", "s1"), "old")));
        idx.apply(Obj::Pod(pod("db-0", "n2", ("StatefulSet", "db", "s1"), "new")));
        assert!(!idx.pods_by_node.contains_key("n1"));
        assert_eq!(idx.pods_by_node["n2"].len(), 1);
        idx.delete(&Obj::Pod(pod("db-0", "n1", ("StatefulSet", "db", "s1"), "old")));
        assert_eq!(idx.pods_of(&wk("StatefulSet/shop/db"))[0].uid, "new");
        idx.delete(&Obj::Pod(pod("db-0", "n2", ("StatefulSet", "db", "s1"), "new")));
        assert!(idx.pods.is_empty() && idx.pods_by_node.is_empty() && idx.pods_by_controller.is_empty());
        assert!(idx.pods_by_owner_uid.is_empty());
    }

    #[test]
    fn relist_drops_what_it_did_not_mention() {
        let mut idx = Index::default();
        idx.apply(Obj::Pod(pod("a", "n1", ("StatefulSet", "s", "s1"), "1")));
        idx.apply(Obj::Pod(pod("b", "n1", ("StatefulSet", "s", "s1"), "2")));
        idx.apply(rs("web-abc", "rs1", Some("web")));
        idx.relisting.insert(Kind::Pod, HashSet::new());
        idx.apply(Obj::Pod(pod("b", "n1", ("StatefulSet", "s", "s1"), "2")));
        idx.apply(Obj::Pod(pod("c", "n1", ("StatefulSet", "s", "s1"), "3")));
        idx.finish_relist(Kind::Pod);
        assert_eq!(names(&idx.pods_for(&idx.pods_by_node["n1"])), ["b", "c"]);
        // Other kinds are untouched by a pod relist.
        assert_eq!(idx.deployment_rss["Deployment/shop/web"].len(), 1);
    }

    #[test]
    fn replica_counters_follow_readiness_termination_and_scheduling() {
        let mut idx = Index::default();
        idx.apply(rs("web-abc", "rs1", Some("web")));
        idx.apply(rs("web-def", "rs2", Some("web")));
        let ready = |name: &str, uid: &str, rs: (&str, &str)| {
            let mut p = pod(name, "n1", ("ReplicaSet", rs.0, rs.1), uid);
            p.ready = true;
            p
        };
        idx.apply(Obj::Pod(ready("web-1", "p1", ("web-abc", "rs1"))));
        idx.apply(Obj::Pod(ready("web-2", "p2", ("web-def", "rs2"))));
        let mut pending = pod("web-3", "", ("ReplicaSet", "web-def", "rs2"), "p3");
        pending.node = None;
        pending.ready = false;
        pending.unschedulable = Some("0/3 nodes are available".into());
        idx.apply(Obj::Pod(pending.clone()));
        let r = idx.replicas(&wk("Deployment/shop/web"));
        assert_eq!(r.ready, 2);
        assert_eq!(r.unschedulable, vec![(PodKey::new("shop", "web-3"), "0/3 nodes are available".to_string())]);
        // Terminating: no longer counted; the pending pod is scheduled and Ready.
        let mut going = ready("web-1", "p1", ("web-abc", "rs1"));
        going.terminating = true;
        idx.apply(Obj::Pod(going.clone()));
        pending.unschedulable = None;
        pending.node = Some("n2".into());
        pending.ready = true;
        idx.apply(Obj::Pod(pending));
        assert_eq!(idx.replicas(&wk("Deployment/shop/web")), Replicas { ready: 2, unschedulable: vec![] });
        idx.delete(&Obj::Pod(going));
        idx.delete(&Obj::Pod(ready("web-2", "p2", ("web-def", "rs2"))));
        assert_eq!(idx.replicas(&wk("Deployment/shop/web")).ready, 1);
        // The counters agree with counting the pods one by one.
        let counted = idx.pods_of(&wk("Deployment/shop/web")).iter().filter(|p| p.ready && !p.terminating).count();
        assert_eq!(counted, 1);
        assert!(!idx.ready_by_owner_uid.contains_key("rs1"));
    }
}
