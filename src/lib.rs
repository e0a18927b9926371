//! poolshift: blue/green upgrades of Kubernetes worker node pools that never break a PodDisruptionBudget.
//!
//! `cli` holds the command line (one file per command), `exit` the documented exit codes, `logging` the
//! tracing setup, `cluster_view` the cluster summary that `demo` prints, `text_table` column alignment.

pub mod cli;
pub mod cluster_view;
pub mod exit;
pub mod logging;
pub mod text_table;

pub use exit::Exit;
