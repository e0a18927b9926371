//! Scenarios: YAML files describing pools, workloads, timings and faults, loaded into a simulator.
//! (Being written: the schema below is the agreed entry point.)

use std::path::Path;

use crate::sim::{SimOptions, Simulator};

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

/// A parsed scenario.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScenarioError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses YAML text; `origin` names it in errors (a file path, or `<builtin demo>`).
    pub fn parse(_text: &str, origin: &str) -> Result<Self, ScenarioError> {
        Ok(Self { name: origin.to_string(), seed: 1 })
    }
}

impl Simulator {
    /// A simulator holding the scenario's cluster, settled (pods placed, Running and Ready).
    pub fn from_scenario(scenario: &Scenario, opts: SimOptions) -> Result<Simulator, ScenarioError> {
        let _ = scenario;
        Ok(Simulator::new(opts))
    }
}
