//! Progress events for the terminal, JSON logs, and the demo's summary.

use poolshift_provider_api::PoolState;
use serde::Serialize;

use crate::model::checkpoint::{Blocker, Phase};
use crate::model::stop::StopPoint;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    Phase {
        phase: Phase,
    },
    GreenCreated {
        pool: String,
    },
    /// A resumed run found the green pool already there (created by an earlier attempt) and uses it.
    GreenAdopted {
        pool: String,
        state: PoolState,
    },
    /// This agent took the pool over from `previous`, whose lease expired (times as the lease recorded them).
    TookOver {
        previous: String,
        since: Option<jiff::Timestamp>,
        renewed_at: Option<jiff::Timestamp>,
        expired_at: Option<jiff::Timestamp>,
    },
    GreenReady {
        pool: String,
        nodes: usize,
    },
    Cordoned {
        nodes: usize,
    },
    BatchStarted {
        batch: usize,
        of: usize,
        nodes: Vec<String>,
        pods: usize,
    },
    PodEvicted {
        pod: String,
        node: String,
    },
    PodMoved {
        pod: String,
    },
    Waiting {
        pod: String,
        pdb: Option<String>,
        message: String,
    },
    Blocked {
        blockers: Vec<Blocker>,
    },
    BatchDone {
        batch: usize,
        of: usize,
        moved: usize,
        seconds: f64,
    },
    Soaking {
        what: String,
        seconds: f64,
    },
    Quarantined {
        nodes: Vec<String>,
    },
    BlueDeleted {
        pool: String,
    },
    Paused {
        reason: String,
    },
    /// Every gatekeeper (`by`, in order; none when the run has none) let the run past this stop point.
    StopPassed {
        at: StopPoint,
        by: Vec<String>,
    },
    /// The run stopped for an operator for a reason other than stuck pods or a failed gate (green not Ready in
    /// time, the cluster drifting from a reviewed plan, a failed deletion).
    RunBlocked {
        reason: String,
    },
    /// A gatekeeper blocked the run at `at` (a failing gate): its reason and its output, shown to the
    /// operator and kept in the checkpoint's history.
    /// A run starts or resumes (`resumed`): run id, the pool's version and the target.
    RunStarted {
        run_id: String,
        from: String,
        to: String,
        resumed: bool,
    },
    /// The run stopped: finished, paused, blocked, rolled back, aborted or failed.
    RunEnded {
        run_id: String,
        end: RunEnd,
    },
    /// One blue node was cordoned (before the summary [`Event::Cordoned`]).
    NodeCordoned {
        node: String,
    },
    GateFailed {
        at: StopPoint,
        gate: String,
        reason: String,
        output: String,
    },
    Note {
        message: String,
    },
}

/// How a run stopped, for reporters (the engine's `Outcome` in words).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "end", content = "reason")]
pub enum RunEnd {
    Done,
    Paused(String),
    Blocked(String),
    RolledBack,
    Aborted,
    Failed(String),
}

pub trait Reporter: Send + Sync {
    fn event(&self, e: &Event);
}

/// Test double: keeps every event, in order.
#[derive(Debug, Default)]
pub struct RecordingReporter {
    events: std::sync::Mutex<Vec<Event>>,
}

impl RecordingReporter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The events reported so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The events for which `f` returns true (e.g. `|e| matches!(e, Event::PodEvicted { .. })`).
    pub fn matching(&self, f: impl Fn(&Event) -> bool) -> Vec<Event> {
        self.events().into_iter().filter(|e| f(e)).collect()
    }
}

impl Reporter for RecordingReporter {
    fn event(&self, e: &Event) {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(e.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_reporter_keeps_events_in_order() {
        let r = RecordingReporter::new();
        r.event(&Event::Cordoned { nodes: 3 });
        r.event(&Event::Note { message: "hi".into() });
        r.event(&Event::Cordoned { nodes: 1 });
        assert_eq!(r.events().len(), 3);
        assert_eq!(
            r.matching(|e| matches!(e, Event::Cordoned { .. })),
            vec![Event::Cordoned { nodes: 3 }, Event::Cordoned { nodes: 1 }]
        );
    }
}
