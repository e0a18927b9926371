//! The narrow traits between the engine and the outside world. The engine decides; implementations of
//! these traits perform I/O (`crate::kube` for a cluster, `crate::state` for checkpoint files, providers for
//! clouds). Each has a test double.

pub mod checkpoint;
pub mod clock;
pub mod cluster;
pub mod exec;
pub mod fake;
pub mod gate;
pub mod lock;
pub mod report;
pub mod terminal;
pub mod webhook;

pub use checkpoint::{CheckpointStore, StoreError, Stored};
pub use clock::Clock;
pub use cluster::{Cluster, ClusterError, EvictOutcome, LiveView, PodRef, Replicas};
pub use gate::{GateInput, Gatekeeper};
pub use lock::{LeaseHolder, Lock, LockError};
pub use report::{Event, RecordingReporter, Reporter};
