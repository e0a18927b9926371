//! Posting a notification (JSON) to a webhook: the port the notifier delivers through.

use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Worth trying again: a connection failure, a timeout, 429 or 5xx (`retry_after` when the server said).
    #[error("{message}")]
    Transient { message: String, retry_after: Option<Duration> },
    /// Trying again would not help: 4xx other than 429, a bad URL.
    #[error("{message}")]
    Rejected { message: String },
}

#[async_trait]
pub trait WebhookPoster: Send + Sync {
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), WebhookError>;
}
