//! The simulated control plane components (controllers, scheduler, kubelet, cloud), run by one manager task
//! that wakes after every write and at the next timer any component asked for.
//!
//! Each component is a [`Reconciler`]: a synchronous pass over the locked [`State`] that moves it one step
//! toward the desired state. The manager repeats passes until nothing changes (a fixpoint), so a chain such
//! as ReplicaSet -> pod -> scheduler -> binding settles within one simulated instant, as it does in a real
//! cluster within milliseconds.

pub mod changes;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod gc;
pub mod kubelet;
pub mod nodelifecycle;
pub mod nodematch;
pub mod pods;
pub mod quantity;
pub mod replicaset;
pub mod scheduler;
pub mod statefulset;

use std::sync::Arc;
use std::time::Duration;

use foldhash::HashMap;
use jiff::Timestamp;

use crate::store::{State, Store};

/// Passes per wake-up before the manager yields even if components keep writing (a guard against
/// two components fighting over one object).
const MAX_ROUNDS: usize = 64;

pub trait Reconciler: Send {
    fn name(&self) -> &'static str;
    /// One pass. Returns the simulated time at which this component wants to run again, if any.
    fn reconcile(&mut self, st: &mut State) -> Option<Timestamp>;
}

/// Per-object timing the components keep outside the API objects (like a kubelet's own memory).
#[derive(Debug, Default, Clone)]
pub struct Timing {
    /// Pod UID -> simulated times of its lifecycle steps, kept by the kubelet.
    pub pods: HashMap<String, PodTimes>,
    /// While set (scenario loading), the kubelet starts bound pods at once: Running and Ready, no delays.
    pub instant_start: bool,
    /// Pod IPs the kubelets handed out so far (the next one is derived from it).
    pub pod_ips: u32,
    /// How long the disruption controller takes to observe a created or edited PodDisruptionBudget
    /// (default 0; tests use it to see `observedGeneration` behind `generation`).
    pub pdb_sync_delay: Duration,
    /// Default delays (the scenario's `timings`): pool provisioning, node readiness, pod start/ready/
    /// termination, PDB sync. Pod annotations override the pod ones.
    pub delays: crate::scenario::Timings,
}

#[derive(Debug, Default, Clone)]
pub struct PodTimes {
    pub bound_at: Option<Timestamp>,
    pub running_at: Option<Timestamp>,
    pub ready_at: Option<Timestamp>,
}

/// Runs the components until the store is dropped by everyone else.
pub async fn run(store: Arc<Store>, mut components: Vec<Box<dyn Reconciler>>) {
    loop {
        let next = {
            let mut st = store.lock();
            pass(&mut st, &mut components)
        };
        let wake = next.map(|t| store.clock().instant_at(t));
        tokio::select! {
            _ = store.changed() => {}
            _ = async {
                match wake {
                    Some(w) => tokio::time::sleep_until(w).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
        if Arc::strong_count(&store) == 1 {
            return;
        }
    }
}

/// Runs every component until a fixpoint; returns the earliest timer asked for.
pub fn pass(st: &mut State, components: &mut [Box<dyn Reconciler>]) -> Option<Timestamp> {
    let mut next: Option<Timestamp> = None;
    for _ in 0..MAX_ROUNDS {
        let before = st.resource_version();
        next = None;
        for c in components.iter_mut() {
            if let Some(t) = c.reconcile(st) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        if st.resource_version() == before {
            break;
        }
    }
    // A timer in the past (or now) means "again right away": run at the next instant.
    next.map(|t| t.max(st.now))
}
