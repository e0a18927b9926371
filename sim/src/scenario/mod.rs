//! Scenarios: YAML files describing the cluster a simulator starts with: node pools, workloads and PDBs,
//! timings, faults, and optionally a large generated part. The format is documented in [`schema`]; the
//! shipped scenarios (`scenarios/demo.yaml`, `scenarios/r50.yaml`) are embedded ([`Scenario::builtin`]).
//!
//! A malformed scenario is an error naming the file, line, column and field:
//! `scenarios/bad.yaml:12:7: workloads[3].replicas: invalid type: string "x", expected i32`.

pub mod build;
pub mod generate;
mod load;
mod locate;
pub(crate) mod place;
pub mod schema;
mod units;
mod validate;

use std::path::Path;

pub use locate::FieldPath;
pub use schema::{
    Cluster, EvictionPolicy, Generate, PdbMix, PdbSpec, Requests, Scenario, Timings, TolerationOperator,
    TolerationSpec, TopologySpread, Workload, WorkloadKind, WorkloadPdb,
};
pub use units::{Dur, IntOrPercent, Quantity, parse_units};

/// A malformed or unloadable scenario: names the file, line and field.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{origin}:{line}:{column}: {field}: {message}")]
    Invalid { origin: String, line: usize, column: usize, field: String, message: String },
    #[error("scenario {origin}: {message}")]
    Load { origin: String, message: String },
}

const DEMO: &str = include_str!("../../../scenarios/demo.yaml");
const R50: &str = include_str!("../../../scenarios/r50.yaml");

/// Names accepted by [`Scenario::builtin`].
pub const BUILTIN: &[&str] = &["demo", "r50"];

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScenarioError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses YAML text; `origin` names it in errors (a file path, or `<builtin demo>`).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let mut scenario: Scenario =
            serde_path_to_error::deserialize(de).map_err(|e| locate::from_de_error(origin, e))?;
        validate::check(&scenario).map_err(|(path, msg)| locate::invalid_at(text, origin, &path, msg))?;
        scenario.origin = origin.to_string();
        for p in &mut scenario.pools {
            *p = p.clone().normalized();
        }
        if let Some(v) = scenario.cluster.version.strip_prefix('v') {
            scenario.cluster.version = v.to_string();
        }
        Ok(scenario)
    }

    /// A scenario shipped inside the binary: `demo` or `r50`.
    pub fn builtin(name: &str) -> Result<Self, ScenarioError> {
        let text = match name {
            "demo" => DEMO,
            "r50" => R50,
            _ => {
                return Err(ScenarioError::Load {
                    origin: format!("<builtin {name}>"),
                    message: format!("no builtin scenario named \"{name}\" (known: {})", BUILTIN.join(", ")),
                });
            }
        };
        Self::parse(text, &format!("<builtin {name}>"))
    }
}
