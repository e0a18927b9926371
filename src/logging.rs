//! Log setup: human-readable lines on a terminal, JSON lines for jobs (or with `--log-format json`).
//! Logs go to stderr; stdout carries only the command's output (tables, reports, scripts).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human format when stderr is a terminal, JSON otherwise (a CronJob, a CI log).
    #[default]
    Auto,
    Human,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log level {value:?}: {message} (use error, warn, info, debug, trace, or RUST_LOG directives)")]
    InvalidFilter { value: String, message: String },
}

/// The filter used when neither `--log-level` nor `RUST_LOG` is set: our crates at info, dependencies at warn.
const DEFAULT_FILTER: &str = "warn,poolshift=info,kubesim=info";

/// Builds the filter: a bare level (`debug`) applies to poolshift's own crates, dependencies stay at warn;
/// anything else is taken as `RUST_LOG`-style directives.
pub fn filter(level: Option<&str>, rust_log: Option<&str>) -> Result<EnvFilter, LoggingError> {
    let directives = match (level, rust_log) {
        (Some(l), _) if is_bare_level(l) => format!("warn,poolshift={l},kubesim={l}"),
        (Some(l), _) => l.to_string(),
        (None, Some(env)) if !env.trim().is_empty() => env.to_string(),
        _ => DEFAULT_FILTER.to_string(),
    };
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| LoggingError::InvalidFilter { value: directives.clone(), message: e.to_string() })
}

fn is_bare_level(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "error" | "warn" | "info" | "debug" | "trace" | "off")
}

/// Whether logs are written as JSON.
pub fn use_json(format: LogFormat, stderr_is_terminal: bool) -> bool {
    match format {
        LogFormat::Auto => !stderr_is_terminal,
        LogFormat::Human => false,
        LogFormat::Json => true,
    }
}

/// Installs the global subscriber. A second call (tests running commands in one process) keeps the first.
pub fn init(format: LogFormat, level: Option<&str>) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(level, rust_log.as_deref())?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if use_json(format, std::io::stderr().is_terminal()) {
        builder.json().with_current_span(false).try_init()
    } else {
        builder.with_target(false).try_init()
    };
    // Already installed: keep it.
    let _ = result;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_level_scopes_to_our_crates() {
        let f = filter(Some("debug"), Some("trace")).unwrap();
        assert_eq!(f.to_string(), EnvFilter::new("warn,poolshift=debug,kubesim=debug").to_string());
    }

    #[test]
    fn rust_log_applies_when_no_flag() {
        let f = filter(None, Some("kube=debug")).unwrap();
        assert_eq!(f.to_string(), "kube=debug");
        assert_eq!(filter(None, None).unwrap().to_string(), EnvFilter::new(DEFAULT_FILTER).to_string());
    }

    #[test]
    fn bad_directive_is_an_error() {
        let e = filter(Some("poolshift=loud"), None).unwrap_err();
        assert!(e.to_string().contains("poolshift=loud"), "{e}");
    }

    #[test]
    fn json_when_not_a_terminal_unless_told() {
        assert!(use_json(LogFormat::Auto, false));
        assert!(!use_json(LogFormat::Auto, true));
        assert!(use_json(LogFormat::Json, true));
        assert!(!use_json(LogFormat::Human, false));
    }
}
