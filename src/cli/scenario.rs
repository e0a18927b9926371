//! Finding and loading the scenario a command runs on.

use std::path::Path;

use kubesim::scenario::Scenario;

use super::error::CliError;

/// Loads a scenario file; the error names the file, line and field.
pub fn load(path: &Path) -> Result<Scenario, CliError> {
    tracing::debug!(path = %path.display(), "loading scenario");
    Ok(Scenario::load(path)?)
}
