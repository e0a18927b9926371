//! The object store: one table per resource kind behind a single lock (like one etcd), a global
//! resourceVersion counter, and per-table watch fan-out with a bounded history for watch-from-resourceVersion.
//!
//! Everything that changes cluster state (API handlers, controllers, the kubelet, the cloud) goes through
//! [`State`]'s methods, so watch events, resourceVersions and the invariant recorder see every write.

pub mod kinds;
pub mod objects;
pub mod selector;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use foldhash::{HashMap, HashMapExt};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::{Notify, broadcast};

use crate::clock::SimClock;
use crate::cloud::Cloud;
use crate::faults::Faults;
use crate::recorder::Recorder;
use selector::{Op, Selector};

pub use kinds::Kind;

/// `(namespace, name)`; namespace is empty for cluster-scoped objects.
pub type Key = (String, String);

/// A `(namespace, name)` to look a [`Key`] up by, without allocating one (the tables are read far more
/// often than written).
trait KeyRef {
    fn pair(&self) -> (&str, &str);
}

impl KeyRef for Key {
    fn pair(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl KeyRef for (&str, &str) {
    fn pair(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn KeyRef + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyRef + 'a) {
        self
    }
}

impl PartialEq for dyn KeyRef + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for dyn KeyRef + '_ {}

impl PartialOrd for dyn KeyRef + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The order of [`Key`]: namespace, then name.
impl Ord for dyn KeyRef + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.pair().cmp(&other.pair())
    }
}

/// Watch events kept per table for watches that start from an older resourceVersion.
const HISTORY: usize = 20_000;
/// Events buffered per watcher before it is cut off (the client re-lists, as with a real server).
const FANOUT: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WatchEvent<K> {
    pub ty: EventType,
    pub object: Arc<K>,
    /// The object before a MODIFIED event (watchers with selectors turn a change of match into ADDED/DELETED).
    pub prev: Option<Arc<K>>,
    pub rv: u64,
}

/// All objects of one kind.
pub struct Table<K> {
    objects: BTreeMap<Key, Arc<K>>,
    history: VecDeque<WatchEvent<K>>,
    tx: broadcast::Sender<WatchEvent<K>>,
    /// resourceVersion of the oldest event dropped from `history` (watches older than this get 410).
    compacted: u64,
}

impl<K: Clone> Default for Table<K> {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(FANOUT);
        Self { objects: BTreeMap::new(), history: VecDeque::new(), tx, compacted: 0 }
    }
}

impl<K: Clone> Table<K> {
    pub fn get(&self, ns: &str, name: &str) -> Option<&Arc<K>> {
        self.objects.get(&(ns, name) as &dyn KeyRef)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<K>> {
        self.objects.values()
    }

    /// Objects whose key is strictly after `after`, in key order (pagination).
    pub fn range_after(&self, after: Option<&Key>) -> impl Iterator<Item = (&Key, &Arc<K>)> {
        use std::ops::Bound;
        let lower = match after {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Unbounded,
        };
        self.objects.range((lower, Bound::Unbounded))
    }

    /// Objects of one namespace, in key order.
    pub fn in_namespace<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a Arc<K>> + 'a {
        self.objects.range((ns.to_string(), String::new())..).take_while(move |(k, _)| k.0 == ns).map(|(_, v)| v)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent<K>> {
        self.tx.subscribe()
    }

    /// Events after `rv`, or `None` when `rv` is older than the kept history (the caller answers 410 Gone).
    pub fn events_since(&self, rv: u64) -> Option<Vec<WatchEvent<K>>> {
        if rv < self.compacted {
            return None;
        }
        // The history is in resourceVersion order.
        let first = self.history.partition_point(|e| e.rv <= rv);
        Some(self.history.range(first..).cloned().collect())
    }

    /// Whether anything was written after `rv` (or the history no longer reaches back that far), without
    /// copying the events.
    pub fn changed_after(&self, rv: u64) -> bool {
        rv < self.compacted || self.history.back().is_some_and(|e| e.rv > rv)
    }

    fn record(&mut self, ev: WatchEvent<K>) {
        if self.history.len() >= HISTORY
            && let Some(old) = self.history.pop_front()
        {
            self.compacted = old.rv;
        }
        self.history.push_back(ev.clone());
        // No receiver is not an error: nobody is watching.
        let _ = self.tx.send(ev);
    }
}

/// The whole simulated cluster state. Reached through [`Store::lock`].
pub struct State {
    /// Simulated time at the moment the lock was taken.
    pub now: Timestamp,
    /// Control plane (kube-apiserver) version, `1.31.4`.
    pub version: String,
    rv: u64,
    uid_seq: u64,
    uid_prefix: u32,
    pub rng: SmallRng,
    pub pods: Table<Pod>,
    pub nodes: Table<Node>,
    pub namespaces: Table<Namespace>,
    pub configmaps: Table<ConfigMap>,
    pub events: Table<Event>,
    pub deployments: Table<Deployment>,
    pub replicasets: Table<ReplicaSet>,
    pub statefulsets: Table<StatefulSet>,
    pub daemonsets: Table<DaemonSet>,
    pub pdbs: Table<PodDisruptionBudget>,
    pub leases: Table<Lease>,
    pub recorder: Recorder,
    pub cloud: Cloud,
    pub faults: Faults,
    /// Per-object bookkeeping of the simulated components (kubelet timelines, PDB sync times ...).
    pub timing: crate::controllers::Timing,
    /// While a scenario loads: the named nodes its pods are bound to as they are created.
    pub(crate) placement: Option<crate::scenario::place::Placement>,
    /// Keys of the pods bound to each node (`spec.nodeName`).
    pods_by_node: HashMap<String, BTreeSet<Key>>,
    /// Names of the pods carrying each label, by (namespace, label key, label value).
    pods_by_label: HashMap<(String, String, String), BTreeSet<String>>,
}

impl State {
    pub fn new(seed: u64, now: Timestamp) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let uid_prefix = rand::Rng::random::<u32>(&mut rng);
        Self {
            now,
            version: "1.31.4".to_string(),
            rv: 1,
            uid_seq: 0,
            uid_prefix,
            rng,
            pods: Table::default(),
            nodes: Table::default(),
            namespaces: Table::default(),
            configmaps: Table::default(),
            events: Table::default(),
            deployments: Table::default(),
            replicasets: Table::default(),
            statefulsets: Table::default(),
            daemonsets: Table::default(),
            pdbs: Table::default(),
            leases: Table::default(),
            recorder: Recorder::default(),
            cloud: Cloud::default(),
            faults: Faults::default(),
            timing: Default::default(),
            placement: None,
            pods_by_node: HashMap::new(),
            pods_by_label: HashMap::new(),
        }
    }

    /// The pods bound to `node`, in key order.
    pub fn pods_on_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Arc<Pod>> + 'a {
        self.pods_by_node.get(node).into_iter().flatten().filter_map(|(ns, n)| self.pods.get(ns, n))
    }

    /// The pods of namespace `ns` that `selector` matches, in name order. A selector with an equality
    /// requirement starts from the pods carrying that label instead of the whole namespace.
    pub fn pods_matching(&self, ns: &str, selector: &Selector) -> Vec<Arc<Pod>> {
        let reqs = match selector {
            Selector::Nothing => return Vec::new(),
            Selector::All(reqs) => reqs,
        };
        let indexed = reqs.iter().find_map(|r| match &r.op {
            Op::Eq(v) => Some((r.key.as_str(), v.as_str())),
            Op::In(vs) if vs.len() == 1 => Some((r.key.as_str(), vs[0].as_str())),
            _ => None,
        });
        let matches = |p: &&Arc<Pod>| selector.matches(p.metadata.labels.as_ref());
        match indexed {
            Some((k, v)) => self
                .pods_by_label
                .get(&(ns.to_string(), k.to_string(), v.to_string()))
                .into_iter()
                .flatten()
                .filter_map(|name| self.pods.get(ns, name))
                .filter(matches)
                .cloned()
                .collect(),
            None => self.pods.in_namespace(ns).filter(matches).cloned().collect(),
        }
    }

    /// Keeps the pod indexes (by node, by label) current when a pod is stored, changed or removed.
    pub(crate) fn index_pod(&mut self, old: Option<&Pod>, new: Option<&Pod>) {
        let node = |p: Option<&Pod>| {
            p.and_then(|p| p.spec.as_ref()).and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty())
        };
        let (from, to) = (node(old), node(new));
        if from != to {
            if let (Some(n), Some(p)) = (from, old)
                && let Some(set) = self.pods_by_node.get_mut(&n)
            {
                set.remove(&kinds::key_of(p));
                if set.is_empty() {
                    self.pods_by_node.remove(&n);
                }
            }
            if let (Some(n), Some(p)) = (to, new) {
                self.pods_by_node.entry(n).or_default().insert(kinds::key_of(p));
            }
        }
        fn labels(p: Option<&Pod>) -> Option<&BTreeMap<String, String>> {
            p.and_then(|p| p.metadata.labels.as_ref())
        }
        if labels(old) == labels(new) {
            return;
        }
        if let Some(p) = old {
            let (ns, name) = kinds::key_of(p);
            for (k, v) in labels(old).into_iter().flatten() {
                let entry = (ns.clone(), k.clone(), v.clone());
                if let Some(set) = self.pods_by_label.get_mut(&entry) {
                    set.remove(&name);
                    if set.is_empty() {
                        self.pods_by_label.remove(&entry);
                    }
                }
            }
        }
        if let Some(p) = new {
            let (ns, name) = kinds::key_of(p);
            for (k, v) in labels(new).into_iter().flatten() {
                self.pods_by_label.entry((ns.clone(), k.clone(), v.clone())).or_default().insert(name.clone());
            }
        }
    }

    /// The current resourceVersion (of the last write).
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub(crate) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// A fresh, deterministic (for a given seed) UID.
    pub fn next_uid(&mut self) -> String {
        self.uid_seq += 1;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            self.uid_prefix,
            (self.uid_seq >> 48) & 0xffff,
            (self.uid_seq >> 36) & 0xfff,
            (self.uid_seq >> 24) & 0xfff,
            self.uid_seq & 0xffff_ffff_ffff
        )
    }

    /// A random lowercase suffix as the apiserver's generateName uses (5 characters).
    pub fn random_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5).map(|_| ALPHABET[rand::Rng::random_range(&mut self.rng, 0..ALPHABET.len())] as char).collect()
    }

    pub fn table<K: Kind>(&self) -> &Table<K> {
        K::table(self)
    }

    pub fn get<K: Kind>(&self, ns: &str, name: &str) -> Option<Arc<K>> {
        K::table(self).get(ns, name).cloned()
    }

    /// Stores `obj` under its key, bumps its resourceVersion and emits the watch event. Low level: the
    /// callers in [`objects`] check existence, preconditions and defaults first.
    pub(crate) fn put<K: Kind>(&mut self, mut obj: K, ty: EventType) -> Arc<K> {
        let rv = self.next_rv();
        obj.metadata_mut().resource_version = Some(rv.to_string());
        let key = kinds::key_of(&obj);
        let obj = Arc::new(obj);
        let prev = K::table_mut(self).objects.insert(key, obj.clone());
        K::reindex(self, prev.as_deref(), Some(&obj));
        let prev = if ty == EventType::Modified { prev } else { None };
        K::table_mut(self).record(WatchEvent { ty, object: obj.clone(), prev, rv });
        obj
    }

    /// Removes an object for good and emits DELETED. Returns the removed object.
    pub fn remove<K: Kind>(&mut self, ns: &str, name: &str) -> Option<Arc<K>> {
        let key = (ns.to_string(), name.to_string());
        let old = K::table_mut(self).objects.remove(&key)?;
        K::reindex(self, Some(&old), None);
        let rv = self.next_rv();
        let mut gone = (*old).clone();
        gone.metadata_mut().resource_version = Some(rv.to_string());
        let gone = Arc::new(gone);
        K::table_mut(self).record(WatchEvent { ty: EventType::Deleted, object: gone.clone(), prev: None, rv });
        K::on_removed(self, &gone);
        Some(gone)
    }
}

/// The shared store: state behind one lock, plus a notification that wakes the controllers after writes.
pub struct Store {
    state: Mutex<State>,
    clock: SimClock,
    changed: Notify,
}

impl Store {
    pub fn new(seed: u64, clock: SimClock) -> Self {
        Self { state: Mutex::new(State::new(seed, clock.now())), clock, changed: Notify::new() }
    }

    /// Locks the state and stamps it with the current simulated time.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            // A panic while holding the lock leaves the data as it was at the panic: keep serving.
            Err(poisoned) => poisoned.into_inner(),
        };
        g.now = self.clock.now();
        g
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Wakes the controller manager after a write.
    pub fn touch(&self) {
        self.changed.notify_one();
    }

    pub(crate) async fn changed(&self) {
        self.changed.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, labels: &[(&str, &str)]) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "shop",
                         "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
            "spec": {"nodeName": node, "containers": []}
        }))
        .unwrap()
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        pods.iter().map(|p| p.metadata.name.clone().unwrap_or_default()).collect()
    }

    /// What a scan of the namespace finds: the indexes must always agree with it.
    fn scanned(st: &State, sel: &Selector) -> Vec<String> {
        names(st.pods.in_namespace("shop").filter(|p| sel.matches(p.metadata.labels.as_ref())).cloned().collect())
    }

    #[test]
    fn lookups_by_namespace_and_name_find_the_right_object() {
        let mut st = State::new(1, Timestamp::UNIX_EPOCH);
        for (ns, name, node) in [("shop", "a", "n1"), ("shop-x", "a", "n2"), ("sho", "pa", "n3"), ("shop", "ab", "n4")]
        {
            let mut p = pod(name, node, &[]);
            p.metadata.namespace = Some(ns.into());
            st.put(p, EventType::Added);
        }
        let node = |ns: &str, name: &str| {
            st.pods.get(ns, name).and_then(|p| p.spec.as_ref()?.node_name.clone()).unwrap_or_default()
        };
        assert_eq!(
            [node("shop", "a"), node("shop-x", "a"), node("sho", "pa"), node("shop", "ab")],
            ["n1", "n2", "n3", "n4"]
        );
        assert!(
            st.pods.get("shop", "b").is_none() && st.pods.get("", "a").is_none() && st.pods.get("shopa", "").is_none()
        );
    }

    #[test]
    fn pod_indexes_follow_labels_nodes_and_removals() {
        let mut st = State::new(1, Timestamp::UNIX_EPOCH);
        st.put(pod("a", "n1", &[("app", "web"), ("tier", "fe")]), EventType::Added);
        st.put(pod("b", "n1", &[("app", "web")]), EventType::Added);
        st.put(pod("c", "n2", &[("app", "db")]), EventType::Added);
        let web = Selector::parse_labels("app=web").unwrap();
        let fe = Selector::parse_labels("app in (web),tier=fe").unwrap();
        let not_db = Selector::parse_labels("app!=db").unwrap();
        for sel in [&web, &fe, &not_db] {
            assert_eq!(names(st.pods_matching("shop", sel)), scanned(&st, sel));
        }
        assert_eq!(names(st.pods_matching("shop", &web)), ["a", "b"]);
        assert_eq!(names(st.pods_matching("other", &web)), Vec::<String>::new());
        assert_eq!(names(st.pods_on_node("n1").cloned().collect()), ["a", "b"]);

        // Relabelled and rebound: both indexes move it.
        st.put(pod("b", "n2", &[("app", "db")]), EventType::Modified);
        assert_eq!(names(st.pods_matching("shop", &web)), ["a"]);
        assert_eq!(names(st.pods_on_node("n2").cloned().collect()), ["b", "c"]);
        st.remove::<Pod>("shop", "a");
        for sel in [&web, &fe, &not_db] {
            assert_eq!(names(st.pods_matching("shop", sel)), scanned(&st, sel));
        }
        assert!(st.pods_on_node("n1").next().is_none());
        assert!(st.pods_by_label.keys().all(|(_, _, v)| v == "db"), "{:?}", st.pods_by_label.keys());
    }
}
