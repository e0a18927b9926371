//! kubesim: a Kubernetes API server simulator for poolshift.
//!
//! It serves the real REST/JSON protocol (discovery, list/watch, CRUD, patch, eviction) from an in-memory
//! store, runs simplified but upstream-faithful controllers (disruption, Deployment/ReplicaSet,
//! StatefulSet, DaemonSet), a scheduler, kubelet timing and a simulated cloud of node pools, injects
//! faults, and records invariants (PDB violations, lost pods, API requests).
//!
//! Layout: `store/` (objects, watch), `api/` (HTTP handling), `controllers/` (components), `transport/`
//! (in-process and TCP), `scenario/` (YAML scenarios and the generator).
//!
//! Conventions shared by the components:
//! - node labels: `kubesim.io/pool=<pool>`, `topology.kubernetes.io/zone`, `kubernetes.io/hostname`,
//!   `node.kubernetes.io/instance-type`, plus the pool's own labels;
//! - pod annotations read by the kubelet: `kubesim.io/start-delay`, `kubesim.io/ready-delay`,
//!   `kubesim.io/termination-delay` (durations such as `5s`), `kubesim.io/never-ready: "true"`,
//!   `kubesim.io/stuck-terminating: "true"`.

pub mod api;
pub mod clock;
pub mod cloud;
pub mod controllers;
pub mod error;
pub mod faults;
pub mod policy;
pub mod recorder;
pub mod scenario;
pub mod sim;
pub mod store;
pub mod transport;

pub use sim::{SimOptions, Simulator};

/// The standard components, in the order they run within a pass.
pub fn components() -> Vec<Box<dyn controllers::Reconciler>> {
    use controllers::*;
    vec![
        Box::new(nodelifecycle::NodeLifecycle::new()),
        Box::new(deployment::DeploymentController::new()),
        Box::new(replicaset::ReplicaSetController::new()),
        Box::new(statefulset::StatefulSetController::new()),
        Box::new(daemonset::DaemonSetController::new()),
        Box::new(gc::GarbageCollector::new()),
        Box::new(cloud::CloudController),
        Box::new(scheduler::Scheduler::new()),
        Box::new(kubelet::Kubelet::new()),
        Box::new(disruption::Disruption::new()),
    ]
}
