//! Fault injection: API errors and throttling at a rate, latency, watch cuts, and workload/node faults.

use std::time::Duration;

use rand::rngs::SmallRng;

use crate::error::ApiError;

#[derive(Debug, Default, Clone)]
pub struct Faults {}

/// What to do to one request.
#[derive(Debug, Default)]
pub struct Injected {
    pub latency: Option<Duration>,
    pub error: Option<ApiError>,
}

impl Faults {
    pub fn on_request(&self, _verb: &str, _resource: &str, _rng: &mut SmallRng) -> Injected {
        Injected::default()
    }

    /// Simulated time after which a new watch stream is cut, when that fault is on.
    pub fn watch_cut_after(&self) -> Option<Duration> {
        None
    }
}
