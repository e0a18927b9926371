//! Time for the engine: real, accelerated (the demo), or tokio's paused time (tests).

use std::time::Duration;

use async_trait::async_trait;

#[async_trait]
pub trait Clock: Send + Sync {
    /// Wall-clock time now, RFC 3339 (for checkpoints and reports).
    fn now(&self) -> jiff::Timestamp;
    /// Time since an arbitrary origin, for measuring durations.
    fn elapsed(&self) -> Duration;
    async fn sleep(&self, d: Duration);
}
