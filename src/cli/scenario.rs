//! Finding and loading the scenario a command runs on.

use std::path::{Path, PathBuf};

use kubesim::scenario::Scenario;

use super::error::CliError;

/// The demo scenario's path relative to the repository root.
pub const DEMO_SCENARIO: &str = "scenarios/demo.yaml";

/// Loads a scenario file; the error names the file, line and field.
pub fn load(path: &Path) -> Result<Scenario, CliError> {
    tracing::debug!(path = %path.display(), "loading scenario");
    Ok(Scenario::load(path)?)
}

/// The demo scenario: `scenarios/demo.yaml` under the current directory, else under the source tree this
/// binary was built from (so `cargo run -- demo` works from anywhere in a checkout).
pub fn demo_path() -> Result<PathBuf, CliError> {
    let candidates = [PathBuf::from(DEMO_SCENARIO), Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_SCENARIO)];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| CliError::DemoScenarioMissing { looked: PathBuf::from(DEMO_SCENARIO) })
}
