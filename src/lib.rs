//! poolshift: blue/green Kubernetes node pool upgrades that never break a PodDisruptionBudget.
//!
//! Architecture: snapshot -> plan (pure data, [`plan`]) -> execute step by step -> checkpoint.

pub mod engine;
pub mod kube;
pub mod model;
pub mod plan;
pub mod ports;
pub mod session;
pub mod state;
pub mod time;
