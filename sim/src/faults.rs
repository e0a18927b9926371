//! Fault injection: API errors and throttling at a rate, latency, watch cuts, and workload/node faults.

use std::time::Duration;

use rand::rngs::SmallRng;

use k8s_openapi::api::core::v1::Pod;

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

    /// The pod never becomes Ready (annotation `kubesim.io/never-ready`, or a fault rule).
    pub fn pod_never_ready(&self, pod: &Pod) -> bool {
        annotation_true(pod, "kubesim.io/never-ready")
    }

    /// The pod stays Terminating until force-deleted (annotation `kubesim.io/stuck-terminating`, or a rule).
    pub fn pod_stuck_terminating(&self, pod: &Pod) -> bool {
        annotation_true(pod, "kubesim.io/stuck-terminating")
    }

    /// Simulated time after which a new watch stream is cut, when that fault is on.
    pub fn watch_cut_after(&self) -> Option<Duration> {
        None
    }
}

fn annotation_true(pod: &Pod, key: &str) -> bool {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(key)).is_some_and(|v| v == "true")
}
