//! The built-in checks, as a pure function of what the live view shows: every green node Ready; no
//! replacement of a workload the batch touched Pending longer than the threshold; every such workload back to
//! its desired ready replicas. [`super::HealthGate`] polls this until it passes or its time is up.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use crate::model::identity::{PodKey, WorkloadKey};
use crate::model::plan::Disposition;
use crate::model::stop::StopPoint;
use crate::ports::gate::GateInput;
use crate::text_table::human;

/// What the checks found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The provider's green pool has no node in the cluster.
    NoGreenNodes { pool: String },
    /// Green nodes that are not Ready.
    GreenNotReady { nodes: Vec<String> },
    /// A pod of a touched workload seen Pending for `for_` (the scheduler's message when it has one).
    Pending { pod: PodKey, workload: WorkloadKey, for_: Duration, message: Option<String> },
    /// A touched workload with fewer ready pods than it wants.
    ShortOfReplicas { workload: WorkloadKey, ready: i32, desired: i32 },
}

impl Problem {
    /// Problems that fail the gate at once: waiting longer would not change the verdict's cause.
    pub fn is_final(&self, pending_timeout: Duration) -> bool {
        matches!(self, Problem::Pending { for_, .. } if *for_ >= pending_timeout)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoGreenNodes { pool } => write!(f, "green pool {pool} has no node in the cluster"),
            Problem::GreenNotReady { nodes } => write!(f, "green nodes not Ready: {}", nodes.join(", ")),
            Problem::Pending { pod, workload, for_, message } => {
                write!(f, "{workload}: replacement {pod} Pending for {}", human(*for_))?;
                match message {
                    Some(m) => write!(f, " ({m})"),
                    None => Ok(()),
                }
            }
            Problem::ShortOfReplicas { workload, ready, desired } => {
                write!(f, "{workload}: {ready} of {desired} replicas ready")
            }
        }
    }
}

/// The workloads whose pods the batch behind `at` evicted (none before the first batch).
pub fn touched(at: StopPoint, input: &GateInput) -> BTreeSet<WorkloadKey> {
    let StopPoint::AfterBatch { batch, .. } = at else { return BTreeSet::new() };
    let Some(planned) = input.checkpoint.plan.batches.get(batch) else { return BTreeSet::new() };
    planned
        .pods
        .iter()
        .filter(|p| p.disposition == Disposition::Evict)
        .filter_map(|p| p.workload.as_ref().map(|w| WorkloadKey::new(&w.kind, &p.namespace, &w.name)))
        .collect()
}

/// Checks the live view now. `pending_since` holds, per Pending pod, when it was first seen Pending (in the
/// clock's elapsed time); it is updated here so that successive calls measure how long a pod stays Pending.
pub fn evaluate(
    input: &GateInput,
    touched: &BTreeSet<WorkloadKey>,
    pending_since: &mut BTreeMap<PodKey, Duration>,
    elapsed: Duration,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let green = &input.green;
    let nodes: Vec<_> = input.live.nodes().into_iter().filter(|n| green.matches(&n.labels)).collect();
    if nodes.is_empty() {
        problems.push(Problem::NoGreenNodes { pool: input.checkpoint.green.name.clone() });
    }
    let not_ready: Vec<String> = nodes.iter().filter(|n| !n.ready).map(|n| n.name.clone()).collect();
    if !not_ready.is_empty() {
        problems.push(Problem::GreenNotReady { nodes: not_ready });
    }
    let mut still_pending = BTreeSet::new();
    for w in touched {
        let Some(desired) = input.live.scale(w) else { continue };
        let replicas = input.live.replicas(w);
        let messages: BTreeMap<&PodKey, &String> = replicas.unschedulable.iter().map(|(k, m)| (k, m)).collect();
        for pod in input.live.pods_of(w).iter().filter(|p| p.phase == "Pending" && !p.terminating) {
            let key = PodKey::new(&pod.namespace, &pod.name);
            let since = *pending_since.entry(key.clone()).or_insert(elapsed);
            problems.push(Problem::Pending {
                pod: key.clone(),
                workload: w.clone(),
                for_: elapsed.saturating_sub(since),
                message: messages.get(&key).map(|m| m.to_string()),
            });
            still_pending.insert(key);
        }
        if replicas.ready < desired {
            problems.push(Problem::ShortOfReplicas { workload: w.clone(), ready: replicas.ready, desired });
        }
    }
    pending_since.retain(|k, _| still_pending.contains(k));
    problems
}
