//! poolshift: blue/green upgrades of Kubernetes worker node pools that never break a PodDisruptionBudget.
//!
//! Architecture: snapshot -> plan (pure data) -> execute step by step -> checkpoint.
//! - `model`: plain data (snapshot, policy, plan, checkpoint, versions); `plan`: the pure planner;
//! - `engine`: executes a plan through the `ports` traits; `kube`, `state`, `time`, `command_runner`: their
//!   implementations; `gates` (health checks, operators' commands) and `schedule` (maintenance windows):
//!   the gatekeepers the engine asks at its stop points;
//! - `report`: the dry-run report of a plan (text, markdown, json);
//! - `session`: wires them for one pool; `cli`: the command line (one file per command), `exit` the
//!   documented exit codes, `logging` the tracing setup, `cluster_view`/`text_table` terminal output.

pub mod cli;
pub mod cluster_view;
pub mod command_runner;
pub mod config;
pub mod engine;
pub mod exit;
pub mod gates;
pub mod kube;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod plan;
pub mod ports;
pub mod preflight;
#[cfg(feature = "sim")]
pub mod rehearsal;
pub mod report;
pub mod schedule;
pub mod session;
pub mod state;
pub mod text_table;
pub mod time;
pub mod webhook_client;

pub use exit::Exit;
