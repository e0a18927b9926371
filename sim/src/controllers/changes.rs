//! Cheap "did anything I watch change?" checks, so a component does nothing on passes that do not concern it,
//! and timer bookkeeping shared by the components.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use foldhash::{HashMap, HashMapExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::pods::controller_uid;
use crate::store::kinds::key_of;
use crate::store::{EventType, Key, Kind, State, Table, WatchEvent};

/// Slack when comparing a timer with the clock: a timer that fires a hair early (float rounding of an
/// accelerated clock) still counts as due, so the manager never spins on a timer it cannot reach.
const SLACK: Duration = Duration::from_millis(1);

/// Whether the simulated time `at` has come.
pub fn due(now: Timestamp, at: Timestamp) -> bool {
    at <= crate::clock::add(now, SLACK)
}

/// The earlier of two optional times.
pub fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Whether `table` saw a write after resourceVersion `rv` (or its history no longer reaches back that far).
pub fn changed_since<K: Kind>(table: &Table<K>, rv: u64) -> bool {
    table.changed_after(rv)
}

/// What a component remembers between passes: the resourceVersion its last pass started at, and its timer.
#[derive(Debug, Default, Clone)]
pub struct Gate {
    seen: u64,
    timer: Option<Timestamp>,
}

impl Gate {
    /// Whether a pass is needed: something watched changed (`changed`, computed with [`Gate::seen`]) or the
    /// timer is due. When it is, records the current resourceVersion: writes made by the pass itself count
    /// as changes for the next round, which then confirms the fixpoint.
    pub fn open(&mut self, st: &State, changed: bool) -> bool {
        let run = changed || self.timer.is_some_and(|t| due(st.now, t));
        if run {
            self.seen = st.resource_version();
        }
        run
    }

    /// The resourceVersion the last pass started at.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn timer(&self) -> Option<Timestamp> {
        self.timer
    }

    /// Whether the stored timer has come (check before [`Gate::open`]).
    pub fn timer_due(&self, st: &State) -> bool {
        self.timer.is_some_and(|t| due(st.now, t))
    }

    /// Stores the timer the pass asked for and returns what to tell the manager: that timer, or "now" when
    /// the pass wrote, so that a chain of reactions cut short by the manager's round limit resumes at once
    /// (after a fixpoint the last round writes nothing, so this never spins).
    pub fn close(&mut self, st: &State, timer: Option<Timestamp>) -> Option<Timestamp> {
        self.timer = timer;
        let wrote = st.resource_version() > self.seen;
        earliest(timer, wrote.then_some(st.now))
    }
}

/// What changed in one table since a resourceVersion: the watch events, or `Unknown` when the history no
/// longer reaches back that far (the caller then looks at everything).
pub enum Changes<K> {
    Unknown,
    Events(Vec<WatchEvent<K>>),
}

impl<K: Kind> Changes<K> {
    pub fn since(table: &Table<K>, rv: u64) -> Self {
        match table.events_since(rv) {
            Some(events) => Changes::Events(events),
            None => Changes::Unknown,
        }
    }

    /// Whether anything changed (or might have).
    pub fn any(&self) -> bool {
        match self {
            Changes::Unknown => true,
            Changes::Events(e) => !e.is_empty(),
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Changes::Unknown)
    }

    pub fn events(&self) -> &[WatchEvent<K>] {
        match self {
            Changes::Unknown => &[],
            Changes::Events(e) => e,
        }
    }

    /// Every object version the events carry: the new (or deleted) state and, for a modification, the one
    /// before.
    pub fn touched(&self) -> impl Iterator<Item = &K> {
        self.events().iter().flat_map(|e| std::iter::once(e.object.as_ref()).chain(e.prev.as_deref()))
    }
}

/// The pods of each controller (of one kind), by controller UID, kept current from pod events so that a
/// controller never scans all pods to find its own. It holds the pods as the last event showed them, which
/// is the stored object once [`OwnerIndex::update`] has taken the events up to now.
#[derive(Debug)]
pub struct OwnerIndex {
    kind: &'static str,
    by_owner: HashMap<String, BTreeMap<Key, Arc<Pod>>>,
    synced: bool,
}

impl OwnerIndex {
    pub fn new(kind: &'static str) -> Self {
        Self { kind, by_owner: HashMap::new(), synced: false }
    }

    /// Applies the pod events (or rebuilds, on a history gap or the first call).
    pub fn update(&mut self, st: &State, pods: &Changes<Pod>) {
        if !self.synced || pods.is_unknown() {
            self.by_owner.clear();
            for p in st.pods.iter() {
                self.insert(p);
            }
            self.synced = true;
            return;
        }
        for e in pods.events() {
            if let Some(prev) = &e.prev {
                self.remove(prev);
            }
            match e.ty {
                EventType::Deleted => self.remove(&e.object),
                _ => self.insert(&e.object),
            }
        }
    }

    fn owner<'a>(&self, p: &'a Pod) -> Option<&'a str> {
        controller_uid(&p.metadata, self.kind)
    }

    fn insert(&mut self, p: &Arc<Pod>) {
        if let Some(u) = self.owner(p) {
            self.by_owner.entry(u.to_string()).or_default().insert(key_of(p.as_ref()), p.clone());
        }
    }

    fn remove(&mut self, p: &Pod) {
        if let Some(u) = self.owner(p)
            && let Some(pods) = self.by_owner.get_mut(u)
        {
            pods.remove(&key_of(p));
            if pods.is_empty() {
                self.by_owner.remove(u);
            }
        }
    }

    /// The pods of the controller with UID `owner`, in key order.
    pub fn pods(&self, owner: &str) -> Vec<Arc<Pod>> {
        self.by_owner.get(owner).map(|pods| pods.values().cloned().collect()).unwrap_or_default()
    }
}
