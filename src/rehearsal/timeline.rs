//! The engine's events, stamped with the rehearsal's virtual time, turned into the report's timeline:
//! phases, batches with their start and end, and where PodDisruptionBudgets made evictions wait.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::checkpoint::Phase;
use crate::model::review::{RehearsedBatch, Span, Wait};
use crate::ports::Clock;
use crate::ports::report::{Event, Reporter};

/// Keeps every event with the seconds elapsed on `clock` since the reporter was made.
pub struct TimedReporter {
    clock: Arc<dyn Clock>,
    origin: std::time::Duration,
    events: Mutex<Vec<(f64, Event)>>,
}

impl TimedReporter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let origin = clock.elapsed();
        Self { clock, origin, events: Mutex::new(Vec::new()) }
    }

    /// Seconds since the reporter was made.
    pub fn now(&self) -> f64 {
        self.clock.elapsed().saturating_sub(self.origin).as_secs_f64()
    }

    pub fn events(&self) -> Vec<(f64, Event)> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Reporter for TimedReporter {
    fn event(&self, e: &Event) {
        let t = self.now();
        self.events.lock().unwrap_or_else(PoisonError::into_inner).push((t, e.clone()));
    }
}

fn phase_name(p: &Phase) -> Option<&'static str> {
    Some(match p {
        Phase::CreatingGreen => "create green pool",
        Phase::WaitingGreenReady => "wait for green nodes Ready",
        Phase::Validating => "validate green",
        Phase::CordoningBlue => "cordon blue",
        Phase::Draining { .. } => "drain blue, batch by batch",
        Phase::PoolSoaking => "pool soak",
        Phase::DeletingBlue => "delete blue",
        Phase::RollingBack { .. } => "roll back",
        _ => return None,
    })
}

/// Phases (consecutive draining phases merged) and batches, from events stamped in seconds; `end` closes
/// whatever is still open.
pub fn build(events: &[(f64, Event)], end: f64) -> (Vec<Span>, Vec<RehearsedBatch>) {
    let mut phases: Vec<Span> = Vec::new();
    let mut batches: BTreeMap<usize, RehearsedBatch> = BTreeMap::new();
    let mut current: Option<usize> = None;
    // (batch, pdb) -> (pods, first, message)
    let mut waits: BTreeMap<(usize, String), (BTreeSet<String>, f64, String)> = BTreeMap::new();
    for (t, e) in events {
        match e {
            Event::Phase { phase } => {
                let name = phase_name(phase);
                if phases.last().is_some_and(|s| Some(s.what.as_str()) == name) {
                    continue; // the next batch of the same drain
                }
                if let Some(last) = phases.last_mut()
                    && last.end < last.start
                {
                    last.end = *t;
                }
                if let Some(name) = name {
                    phases.push(Span { what: name.into(), start: *t, end: -1.0 });
                }
            }
            Event::BatchStarted { batch, nodes, pods, .. } => {
                current = Some(*batch);
                batches.insert(
                    *batch,
                    RehearsedBatch {
                        batch: batch + 1,
                        nodes: nodes.len(),
                        pods: *pods,
                        start: *t,
                        end: -1.0,
                        waits: Vec::new(),
                    },
                );
            }
            Event::BatchDone { batch, .. } => {
                if let Some(b) = batches.get_mut(batch) {
                    b.end = *t;
                }
            }
            Event::Waiting { pod, pdb, message } => {
                let Some(b) = current else { continue };
                let key = (b, pdb.clone().unwrap_or_else(|| "(none)".into()));
                let w = waits.entry(key).or_insert_with(|| (BTreeSet::new(), *t, message.clone()));
                w.0.insert(pod.clone());
            }
            _ => {}
        }
    }
    for s in phases.iter_mut().filter(|s| s.end < s.start) {
        s.end = end;
    }
    for ((b, pdb), (pods, first, message)) in waits {
        if let Some(batch) = batches.get_mut(&b) {
            batch.waits.push(Wait { pdb, pods: pods.len(), first, message });
        }
    }
    let mut batches: Vec<RehearsedBatch> = batches.into_values().collect();
    for b in batches.iter_mut().filter(|b| b.end < b.start) {
        b.end = end;
    }
    (phases, batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_merge_drains_and_batches_collect_their_waits() {
        let phase = |p| Event::Phase { phase: p };
        let events = vec![
            (0.0, phase(Phase::CreatingGreen)),
            (1.0, phase(Phase::WaitingGreenReady)),
            (31.0, phase(Phase::Validating)),
            (31.0, phase(Phase::CordoningBlue)),
            (32.0, phase(Phase::Draining { batch: 0, of: 2 })),
            (32.0, Event::BatchStarted { batch: 0, of: 2, nodes: vec!["a".into(), "b".into()], pods: 9 }),
            (33.0, Event::Waiting { pod: "ns/p1".into(), pdb: Some("ns/web".into()), message: "would violate".into() }),
            (34.0, Event::Waiting { pod: "ns/p2".into(), pdb: Some("ns/web".into()), message: "again".into() }),
            (50.0, Event::BatchDone { batch: 0, of: 2, moved: 9, seconds: 18.0 }),
            (60.0, phase(Phase::Draining { batch: 1, of: 2 })),
            (60.0, Event::BatchStarted { batch: 1, of: 2, nodes: vec!["c".into()], pods: 4 }),
            (70.0, Event::BatchDone { batch: 1, of: 2, moved: 4, seconds: 10.0 }),
            (80.0, phase(Phase::PoolSoaking)),
            (110.0, phase(Phase::DeletingBlue)),
            (120.0, phase(Phase::Done)),
        ];
        let (phases, batches) = build(&events, 125.0);
        let names: Vec<(&str, f64, f64)> = phases.iter().map(|s| (s.what.as_str(), s.start, s.end)).collect();
        assert_eq!(
            names,
            vec![
                ("create green pool", 0.0, 1.0),
                ("wait for green nodes Ready", 1.0, 31.0),
                ("validate green", 31.0, 31.0),
                ("cordon blue", 31.0, 32.0),
                ("drain blue, batch by batch", 32.0, 80.0),
                ("pool soak", 80.0, 110.0),
                ("delete blue", 110.0, 120.0),
            ]
        );
        assert_eq!(batches.len(), 2);
        assert_eq!((batches[0].batch, batches[0].nodes, batches[0].pods), (1, 2, 9));
        assert_eq!((batches[0].start, batches[0].end), (32.0, 50.0));
        assert_eq!(
            batches[0].waits,
            vec![Wait { pdb: "ns/web".into(), pods: 2, first: 33.0, message: "would violate".into() }]
        );
        assert!(batches[1].waits.is_empty());
    }

    #[test]
    fn what_never_ended_ends_at_the_stop() {
        let events = vec![
            (0.0, Event::Phase { phase: Phase::Draining { batch: 0, of: 1 } }),
            (0.0, Event::BatchStarted { batch: 0, of: 1, nodes: vec!["a".into()], pods: 1 }),
        ];
        let (phases, batches) = build(&events, 900.0);
        assert_eq!(phases[0].end, 900.0);
        assert_eq!(batches[0].end, 900.0);
    }
}
