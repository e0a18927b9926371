//! Fault injection: API errors and throttling at a rate, latency, watch cuts, and workload/node/pool faults.
//!
//! Set from a scenario's `faults` section or at runtime with `PUT /sim/v1/faults` (same keys, JSON):
//!
//! ```yaml
//! faults:
//!   api:                          # rules, each applied to the requests it matches
//!     - verbs: [create]           # get, list, watch, create, update, patch, delete, deletecollection; empty = all
//!       resources: [pods/eviction]  # plural[/subresource]; empty = all
//!       error_rate: 0.05          # 500 InternalError
//!       throttle_rate: 0.2        # 429 TooManyRequests + Retry-After (no DisruptionBudget cause)
//!       retry_after_seconds: 2    # default 1
//!       latency: 50ms             # added to every matching request
//!       forbidden: false          # true: 403 Forbidden as RBAC answers it, watches included (a right removed)
//!   watch_cut_after: 5m           # every new watch stream ends after this simulated time
//!   pods_never_ready: [{namespace: shop, selector: "app=cart"}]   # besides the pod annotations
//!   pods_stuck_terminating: [{selector: "app=legacy"}]
//!   nodes_never_ready: [green]    # pools whose nodes stay Ready=False
//!   pool_create_failures: [{pool: green, reason: "InsufficientInstanceCapacity: no capacity in zone-b"}]
//! ```
//!
//! Rates are drawn from the store's seeded RNG, so a run with a given seed fails the same requests.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::scenario::Dur;
use crate::store::selector::Selector;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub api: Vec<ApiFault>,
    #[serde(default)]
    pub watch_cut_after: Option<Dur>,
    #[serde(default)]
    pub pods_never_ready: Vec<PodRule>,
    #[serde(default)]
    pub pods_stuck_terminating: Vec<PodRule>,
    #[serde(default)]
    pub nodes_never_ready: Vec<String>,
    #[serde(default)]
    pub pool_create_failures: Vec<PoolFailure>,
}

/// Errors, throttling and latency for the requests that match `verbs` and `resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFault {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default)]
    pub throttle_rate: f64,
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u32,
    #[serde(default)]
    pub latency: Option<Dur>,
    /// Every matching request, watches included, is refused with 403 Forbidden worded as RBAC words it (a
    /// right taken away).
    #[serde(default)]
    pub forbidden: bool,
}

fn default_retry_after() -> u32 {
    1
}

/// Pods in `namespace` (any when absent) whose labels match `selector` (label selector syntax; all when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodRule {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolFailure {
    pub pool: String,
    pub reason: String,
}

/// What to do to one request.
#[derive(Debug, Default)]
pub struct Injected {
    pub latency: Option<Duration>,
    pub error: Option<ApiError>,
}

impl ApiFault {
    fn matches(&self, verb: &str, resource: &str) -> bool {
        (self.verbs.is_empty() || self.verbs.iter().any(|v| v == verb))
            && (self.resources.is_empty() || self.resources.iter().any(|r| r == resource))
    }
}

impl PodRule {
    fn matches(&self, pod: &Pod) -> bool {
        if let Some(ns) = &self.namespace
            && pod.metadata.namespace.as_deref() != Some(ns.as_str())
        {
            return false;
        }
        match &self.selector {
            None => true,
            Some(s) => Selector::parse_labels(s).is_ok_and(|sel| sel.matches(pod.metadata.labels.as_ref())),
        }
    }
}

impl Faults {
    /// Checks the configuration; on error returns the offending field (`api[0].error_rate`) and a message.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (i, r) in self.api.iter().enumerate() {
            for (name, rate) in [("error_rate", r.error_rate), ("throttle_rate", r.throttle_rate)] {
                if !(0.0..=1.0).contains(&rate) {
                    return Err((format!("api[{i}].{name}"), format!("rate {rate} is not between 0 and 1")));
                }
            }
            if r.error_rate + r.throttle_rate > 1.0 {
                return Err((format!("api[{i}]"), "error_rate + throttle_rate must not exceed 1".to_string()));
            }
        }
        for (list, rules) in
            [("pods_never_ready", &self.pods_never_ready), ("pods_stuck_terminating", &self.pods_stuck_terminating)]
        {
            for (i, r) in rules.iter().enumerate() {
                if let Some(s) = &r.selector
                    && let Err(e) = Selector::parse_labels(s)
                {
                    return Err((format!("{list}[{i}].selector"), e.message));
                }
            }
        }
        for (i, f) in self.pool_create_failures.iter().enumerate() {
            if f.reason.is_empty() {
                return Err((format!("pool_create_failures[{i}].reason"), "must not be empty".to_string()));
            }
        }
        Ok(())
    }

    /// Latency and error for one Kubernetes API request. Draws from `rng` only for matching rules with a
    /// rate, so a run without faults keeps the RNG sequence of the other components.
    pub fn on_request(&self, verb: &str, resource: &str, rng: &mut SmallRng) -> Injected {
        let mut out = Injected::default();
        for r in self.api.iter().filter(|r| r.matches(verb, resource)) {
            if let Some(l) = r.latency {
                out.latency = Some(out.latency.unwrap_or_default() + l.0);
            }
            if r.forbidden && out.error.is_none() {
                out.error = Some(ApiError::forbidden(format!(
                    "{resource} is forbidden: User \"kubesim:client\" cannot {verb} resource \"{resource}\" \
                     (kubesim: injected fault)"
                )));
            }
            if out.error.is_some() || (r.error_rate <= 0.0 && r.throttle_rate <= 0.0) {
                continue;
            }
            let x: f64 = rng.random();
            if x < r.error_rate {
                out.error =
                    Some(ApiError::internal(format!("kubesim: injected fault: internal error on {verb} {resource}")));
            } else if x < r.error_rate + r.throttle_rate {
                out.error = Some(ApiError::throttled(r.retry_after_seconds));
            }
        }
        out
    }

    /// The pod never becomes Ready (annotation `kubesim.io/never-ready`, or a fault rule).
    pub fn pod_never_ready(&self, pod: &Pod) -> bool {
        annotation_true(pod, "kubesim.io/never-ready") || self.pods_never_ready.iter().any(|r| r.matches(pod))
    }

    /// The pod stays Terminating until force-deleted (annotation `kubesim.io/stuck-terminating`, or a rule).
    pub fn pod_stuck_terminating(&self, pod: &Pod) -> bool {
        annotation_true(pod, "kubesim.io/stuck-terminating")
            || self.pods_stuck_terminating.iter().any(|r| r.matches(pod))
    }

    /// Simulated time after which a new watch stream is cut, when that fault is on.
    pub fn watch_cut_after(&self) -> Option<Duration> {
        self.watch_cut_after.map(|d| d.0).filter(|d| !d.is_zero())
    }

    /// The nodes of this pool never become Ready.
    pub fn node_never_ready(&self, pool: &str) -> bool {
        self.nodes_never_ready.iter().any(|p| p == pool)
    }

    /// Creating this pool fails, with this reason.
    pub fn pool_create_failure(&self, pool: &str) -> Option<&str> {
        self.pool_create_failures.iter().find(|f| f.pool == pool).map(|f| f.reason.as_str())
    }
}

fn annotation_true(pod: &Pod, key: &str) -> bool {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(key)).is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn pod(ns: &str, labels: &[(&str, &str)]) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some(ns.into());
        p.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        p
    }

    #[test]
    fn pod_rules_match_namespace_and_selector() {
        let f = Faults {
            pods_never_ready: vec![PodRule { namespace: Some("shop".into()), selector: Some("app=cart".into()) }],
            pods_stuck_terminating: vec![PodRule { namespace: None, selector: None }],
            ..Default::default()
        };
        assert!(f.pod_never_ready(&pod("shop", &[("app", "cart")])));
        assert!(!f.pod_never_ready(&pod("shop", &[("app", "web")])));
        assert!(!f.pod_never_ready(&pod("other", &[("app", "cart")])));
        assert!(f.pod_stuck_terminating(&pod("any", &[])));
    }

    #[test]
    fn rates_are_seeded_and_filtered() {
        let f = Faults {
            api: vec![ApiFault {
                verbs: vec!["list".into()],
                resources: vec![],
                error_rate: 0.25,
                throttle_rate: 0.25,
                retry_after_seconds: 3,
                latency: None,
                forbidden: false,
            }],
            ..Default::default()
        };
        let run = || {
            let mut rng = SmallRng::seed_from_u64(7);
            (0..400)
                .map(|_| f.on_request("list", "pods", &mut rng).error.map(|e| e.code).unwrap_or(200))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run(), "same seed, same faults");
        let errors = a.iter().filter(|c| **c == 500).count();
        let throttled = a.iter().filter(|c| **c == 429).count();
        assert!((60..140).contains(&errors), "{errors}");
        assert!((60..140).contains(&throttled), "{throttled}");
        let mut rng = SmallRng::seed_from_u64(7);
        assert!((0..100).all(|_| f.on_request("get", "pods", &mut rng).error.is_none()));
    }

    #[test]
    fn validation_names_the_field() {
        let f = Faults {
            api: vec![ApiFault {
                verbs: vec![],
                resources: vec![],
                error_rate: 1.5,
                throttle_rate: 0.0,
                retry_after_seconds: 1,
                latency: None,
                forbidden: false,
            }],
            ..Default::default()
        };
        assert_eq!(f.validate().unwrap_err().0, "api[0].error_rate");
    }

    #[test]
    fn a_forbidden_rule_refuses_every_matching_request_as_rbac_words_it() {
        let f: Faults = serde_json::from_value(
            serde_json::json!({"api": [{"verbs": ["watch"], "resources": ["nodes"], "forbidden": true}]}),
        )
        .expect("faults");
        let mut rng = SmallRng::seed_from_u64(1);
        let err = f.on_request("watch", "nodes", &mut rng).error.expect("refused");
        assert_eq!((err.code, err.reason), (403, "Forbidden"));
        assert!(err.message.contains("cannot watch resource \"nodes\""), "{}", err.message);
        assert!(f.on_request("list", "nodes", &mut rng).error.is_none(), "only the rule's verb");
        assert!(f.on_request("watch", "pods", &mut rng).error.is_none(), "only the rule's resource");
    }
}
