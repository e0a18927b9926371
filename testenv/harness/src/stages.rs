//! kwok's configuration: explicit Stages, so that nodes and pods follow the scenario's timings instead of
//! kwok's "fast" defaults (which delete a pod the moment it has a deletionTimestamp).
//!
//! - Node: Ready after the delay in annotation [`NODE_READY_DELAY`] (default 0), then heartbeats; kwok renews
//!   the node Leases, so the node lifecycle controller sees live nodes (and taints and evicts from a node
//!   whose heartbeats stop, as upstream does).
//! - Pod: bound -> Pending with an IP at once; Running after [`POD_START_DELAY`] (default 1s); Ready after
//!   [`POD_READY_DELAY`] (default 1s); once it has a deletionTimestamp (and no finalizers), deleted after
//!   [`POD_DELETE_DELAY`] (default 1s). The world loader writes the termination delay capped by the pod's
//!   grace period, as a kubelet kills a container that outlives it; nothing is deleted before its delay.
//!   Pods of Jobs succeed after [`POD_COMPLETE_DELAY`] once Ready (default 1s).

/// Go durations (`10s`, `1500ms`). The node annotations are the kwok provider's, which writes them.
pub use poolshift_provider_kwok::{KWOK_NODE_ANNOTATION, READY_DELAY_ANNOTATION as NODE_READY_DELAY};
pub const POD_START_DELAY: &str = "pod-start.stage.kwok.x-k8s.io/delay";
pub const POD_READY_DELAY: &str = "pod-ready.stage.kwok.x-k8s.io/delay";
pub const POD_DELETE_DELAY: &str = "pod-delete.stage.kwok.x-k8s.io/delay";
pub const POD_COMPLETE_DELAY: &str = "pod-complete.stage.kwok.x-k8s.io/delay";

/// The whole `--config` file for kwok.
pub const KWOK_CONFIG: &str = include_str!("stages.yaml");
