use serde::{Deserialize, Serialize};

/// What kind of failure a provider call hit: decides whether poolshift retries, stops, or reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Throttled or a transient server error: retried with jittered backoff.
    Transient,
    /// Quota exhausted (instances, IPs, CPUs): stops the run.
    Quota,
    /// No capacity for the instance type in the zone: stops the run.
    Capacity,
    /// The credentials lack a permission: stops the run.
    Permission,
    /// The pool does not exist.
    NotFound,
    /// A pool with that name exists with a different spec, or another operation is in progress.
    Conflict,
    /// The request was rejected as invalid (bad version, bad instance type ...).
    Invalid,
    /// The provider (plugin, API) misbehaved: timed out, crashed, answered garbage.
    Failed,
}

impl ErrorKind {
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Transient)
    }
}

/// A provider failure with the provider's own message and what the operator can do.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("{provider} {operation} failed ({kind:?}): {message}{}", hint.as_ref().map(|h| format!(" — {h}")).unwrap_or_default())]
pub struct ProviderError {
    pub provider: String,
    pub operation: String,
    pub kind: ErrorKind,
    pub message: String,
    /// What to do about it (a runbook id where one exists).
    pub hint: Option<String>,
}

impl ProviderError {
    pub fn new(provider: &str, operation: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { provider: provider.into(), operation: operation.into(), kind, message: message.into(), hint: None }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}
