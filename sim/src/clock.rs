//! Simulated time. All simulator timing (kubelet delays, provisioning, PDB timeouts, watch bookmarks) goes
//! through [`SimClock`]. It is built on tokio's clock, so it runs:
//! - in real time (`speed = 1`),
//! - accelerated (`speed = X`: one real second is X simulated seconds),
//! - or virtual, when the tokio runtime's time is paused (tests): timers then fire as soon as every task is
//!   idle, which runs as fast as the CPU allows and is deterministic for a given seed.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct SimClock {
    origin_wall: Timestamp,
    origin: Instant,
    speed: f64,
}

impl SimClock {
    /// `origin_wall` is the simulated wall-clock time at this instant.
    pub fn new(origin_wall: Timestamp, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        Self { origin_wall, origin: Instant::now(), speed }
    }

    /// A clock that starts at a fixed date, so virtual-time runs produce identical timestamps.
    pub fn virtual_from_epoch() -> Self {
        // 2026-01-01T00:00:00Z: fixed so that deterministic runs print identical timestamps.
        Self::new(Timestamp::from_second(1_767_225_600).unwrap_or(Timestamp::UNIX_EPOCH), 1.0)
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Simulated time elapsed since the clock started.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed().mul_f64(self.speed)
    }

    /// Simulated wall-clock time now.
    pub fn now(&self) -> Timestamp {
        let d = SignedDuration::try_from(self.elapsed()).unwrap_or(SignedDuration::MAX);
        self.origin_wall.checked_add(d).unwrap_or(self.origin_wall)
    }

    /// Sleep for a simulated duration.
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(self.to_real(d)).await
    }

    /// The tokio instant at which the simulated wall time `at` is reached.
    pub fn instant_at(&self, at: Timestamp) -> Instant {
        let since = at.duration_since(self.origin_wall);
        let since = Duration::try_from(since).unwrap_or(Duration::ZERO);
        self.origin + self.to_real(since)
    }

    /// A simulated duration expressed in real (tokio) time.
    pub fn to_real(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }
}

/// Adds a std duration to a timestamp, saturating.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.checked_add(d).unwrap_or(t)
}

/// `a - b` as a std duration, zero when negative.
pub fn since(a: Timestamp, b: Timestamp) -> Duration {
    Duration::try_from(a.duration_since(b)).unwrap_or(Duration::ZERO)
}
