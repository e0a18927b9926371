//! Loading a scenario into a new simulator, settled: nodes Ready, pods placed, Running and Ready.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;

use super::build::{self, WorkloadObjects};
use super::place;
use super::{Scenario, ScenarioError, generate};
use crate::clock::SimClock;
use crate::controllers::{self, Reconciler};
use crate::sim::{SimOptions, Simulator};
use crate::store::{State, Store};

/// Upper bound on settle passes (each runs the components to a fixpoint or 64 rounds).
const SETTLE_PASSES: usize = 1_000;

/// Namespaces every cluster has.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Simulator {
    /// A simulator holding the scenario's cluster, settled (pods placed, Running and Ready).
    ///
    /// The store is seeded with `scenario.seed` (set it before calling to override the file); `opts.seed`
    /// is not used. `opts.speed` sets the clock. Must be called inside a tokio runtime.
    pub fn from_scenario(scenario: &Scenario, opts: SimOptions) -> Result<Simulator, ScenarioError> {
        let clock = SimClock::new(SimClock::virtual_from_epoch().now(), opts.speed);
        let store = Arc::new(Store::new(scenario.seed, clock));
        let mut components = crate::components();
        {
            let mut st = store.lock();
            let load_error = |message| ScenarioError::Load {
                origin: if scenario.origin.is_empty() { scenario.name.clone() } else { scenario.origin.clone() },
                message,
            };
            st.timing.instant_start = true;
            populate(&mut st, scenario).map_err(load_error)?;
            // The pods placed on named nodes first, with the scheduler sitting out; then the scheduler
            // binds the others around them.
            let scheduler = components.iter().position(|c| c.name() == "scheduler").map(|i| (i, components.remove(i)));
            settle(&mut st, &mut components);
            place::finish(&mut st);
            if let Some((i, s)) = scheduler {
                components.insert(i, s);
            }
            settle(&mut st, &mut components);
            st.timing.instant_start = false;
        }
        Ok(Simulator::with_store(store, components))
    }
}

/// Runs the components (with instant pod starts) until nothing changes any more.
fn settle(st: &mut State, components: &mut [Box<dyn Reconciler>]) {
    for _ in 0..SETTLE_PASSES {
        let before = st.resource_version();
        controllers::pass(st, components);
        if st.resource_version() == before {
            break;
        }
    }
}

fn ensure_namespace(st: &mut State, name: &str) -> Result<(), String> {
    if st.get::<Namespace>("", name).is_some() {
        return Ok(());
    }
    let ns = build::namespace(name)?;
    st.create(ns, None, false).map(|_| ()).map_err(|e| format!("namespace {name}: {}", e.message))
}

fn populate(st: &mut State, s: &Scenario) -> Result<(), String> {
    st.version = s.cluster.version.trim_start_matches('v').to_string();
    st.timing.delays = s.timings.clone();
    st.timing.pdb_sync_delay = s.timings.pdb_sync.0;
    st.faults = s.faults.clone();
    let mut namespaces: Vec<String> = SYSTEM_NAMESPACES.iter().map(|n| n.to_string()).collect();
    namespaces.extend(s.workloads.iter().map(|w| w.namespace.clone()));
    namespaces.extend(s.pdbs.iter().map(|p| p.namespace.clone()));
    if let Some(g) = &s.generate {
        namespaces.extend(generate::namespaces(g));
    }
    for ns in &namespaces {
        ensure_namespace(st, ns)?;
    }
    for (i, p) in s.pools.iter().enumerate() {
        st.create_pool_now(p.clone()).map_err(|e| format!("pools[{i}] ({}): {e}", p.name))?;
    }
    if let Some(g) = &s.generate {
        generate::generate(st, g).map_err(|e| format!("generate: {e}"))?;
    }
    place::install(st, &s.workloads)?;
    for (i, w) in s.workloads.iter().enumerate() {
        let what = |e: String| format!("workloads[{i}] ({:?} {}/{}): {e}", w.kind, w.namespace, w.name);
        let api = |e: crate::error::ApiError| what(e.message);
        match build::workload(w, &s.timings).map_err(what)? {
            WorkloadObjects::Deployment(d) => st.create(*d, None, false).map(|_| ()).map_err(api)?,
            WorkloadObjects::StatefulSet(d) => st.create(*d, None, false).map(|_| ()).map_err(api)?,
            WorkloadObjects::DaemonSet(d) => st.create(*d, None, false).map(|_| ()).map_err(api)?,
            WorkloadObjects::Pods(pods) => {
                for p in pods {
                    st.create(p, None, false).map_err(api)?;
                }
            }
        }
        if let Some(pdb) = build::workload_pdb(w).map_err(what)? {
            st.create(pdb, None, false).map_err(api)?;
        }
    }
    for (i, p) in s.pdbs.iter().enumerate() {
        let pdb = build::pdb(p).map_err(|e| format!("pdbs[{i}]: {e}"))?;
        st.create(pdb, None, false).map_err(|e| format!("pdbs[{i}] ({}/{}): {}", p.namespace, p.name, e.message))?;
    }
    Ok(())
}
