//! [`TokioClock`]: the engine's [`Clock`] on tokio time.
//!
//! - real time: `TokioClock::new(1.0)`;
//! - accelerated (the demo): `speed = X` makes one real second X seconds of engine time, so a 60 s soak
//!   sleeps 60/X real seconds and timestamps advance X times faster than the wall clock;
//! - virtual: under a paused tokio runtime (`#[tokio::test(start_paused = true)]`) tokio's clock only moves
//!   when every task is idle or on `tokio::time::advance`, and so does this clock.
//!
//! Wall time is the start timestamp plus the elapsed engine time, so all timestamps of one run come from one
//! monotonic source (an NTP step cannot make a lease look expired).

use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use crate::ports::Clock;

#[derive(Debug, Clone)]
pub struct TokioClock {
    start_wall: Timestamp,
    start: Instant,
    speed: f64,
}

impl TokioClock {
    /// Starts now (the system's wall clock), running `speed` times faster than real time. A speed that is not
    /// a positive finite number is taken as 1.
    pub fn new(speed: f64) -> Self {
        Self::starting_at(Timestamp::now(), speed)
    }

    /// Starts at `start_wall` (e.g. the simulator's clock, or a fixed date for reproducible tests).
    pub fn starting_at(start_wall: Timestamp, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        Self { start_wall, start: Instant::now(), speed }
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// An engine-time duration in real (tokio) time.
    pub fn to_real(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }
}

#[async_trait]
impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let d = SignedDuration::try_from(self.elapsed()).unwrap_or(SignedDuration::MAX);
        self.start_wall.checked_add(d).unwrap_or(self.start_wall)
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed().mul_f64(self.speed)
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(self.to_real(d)).await;
    }
}

/// A clock for unit tests: sleeping returns at once, advancing the clock and recording how long was asked.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct SteppingClock {
    elapsed: std::sync::Mutex<Duration>,
    slept: std::sync::Mutex<Vec<Duration>>,
}

#[cfg(test)]
impl SteppingClock {
    /// Every sleep so far, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[cfg(test)]
#[async_trait]
impl Clock for SteppingClock {
    fn now(&self) -> Timestamp {
        let d = SignedDuration::try_from(self.elapsed()).unwrap_or(SignedDuration::MAX);
        Timestamp::UNIX_EPOCH.checked_add(d).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn sleep(&self, d: Duration) {
        *self.elapsed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += d;
        self.slept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn wall_time_is_start_plus_elapsed_times_speed() {
        let clock = TokioClock::starting_at(t0(), 10.0);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(clock.elapsed(), Duration::from_secs(30));
        assert_eq!(clock.now().to_string(), "2026-01-01T00:00:30Z");
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_is_shortened_by_the_speed() {
        let clock = TokioClock::starting_at(t0(), 4.0);
        let real = Instant::now();
        clock.sleep(Duration::from_secs(60)).await;
        assert_eq!(real.elapsed(), Duration::from_secs(15));
        assert_eq!(clock.elapsed(), Duration::from_secs(60));
    }

    #[test]
    fn nonsense_speeds_mean_real_time() {
        for s in [0.0, -2.0, f64::NAN, f64::INFINITY] {
            assert_eq!(TokioClock::starting_at(t0(), s).speed(), 1.0);
        }
    }
}
