//! poolshift providers for on-prem clusters.
//!
//! - [`ExecProvider`]: any executable `poolshift-provider-<name>` (on PATH or at a configured path) speaks
//!   the versioned JSON protocol in `PROTOCOL.md`: one call per provider operation, the verb as argument,
//!   a request on stdin, an answer on stdout. Reference plugins live in `plugins/`.
//! - [`PreProvisioned`]: the operator's automation joins green nodes carrying a label; poolshift waits for
//!   them and hands the blue nodes back for retirement.

mod duration;
mod exec;
mod nodes;
mod preprovisioned;
pub mod protocol;

pub use duration::parse as parse_duration;
pub use exec::{DEFAULT_NODE_LABEL, ExecProvider, ExecSettings, PLUGIN_PREFIX};
pub use preprovisioned::{PreProvisioned, PreProvisionedSettings};
