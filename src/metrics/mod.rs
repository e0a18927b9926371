//! Prometheus metrics of a live run, from the engine's events ([`RunMetrics`] is a reporter), served on
//! `--metrics-addr` at `/metrics` ([`serve`]) while the run is live.

mod server;

use std::collections::BTreeSet;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use server::{MetricsServer, ServeError, serve};

use crate::ports::report::{Event, Reporter, RunEnd};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabel {
    /// `evicted` (201) or `too_many_requests` (429: a PodDisruptionBudget does not allow it now).
    answer: String,
}

#[derive(Default)]
struct State {
    phase: Option<String>,
    waiting: BTreeSet<String>,
}

pub struct RunMetrics {
    registry: Registry,
    phase: Family<PhaseLabel, Gauge>,
    moved: Counter,
    waiting: Gauge,
    evictions: Family<AnswerLabel, Counter>,
    pdb_waits: Counter,
    blockers: Gauge,
    batch: Gauge,
    batches: Gauge,
    paused: Gauge,
    state: Mutex<State>,
}

impl Default for RunMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RunMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("poolshift");
        let m = Self {
            registry: Registry::default(),
            phase: Family::default(),
            moved: Counter::default(),
            waiting: Gauge::default(),
            evictions: Family::default(),
            pdb_waits: Counter::default(),
            blockers: Gauge::default(),
            batch: Gauge::default(),
            batches: Gauge::default(),
            paused: Gauge::default(),
            state: Mutex::new(State::default()),
        };
        registry.register("run_phase", "The run's phase (1 for the current one)", m.phase.clone());
        registry.register("pods_moved", "Pods moved to green by this process", m.moved.clone());
        registry.register("pods_waiting", "Pods whose eviction waits for a PodDisruptionBudget now", m.waiting.clone());
        registry.register("evictions", "Eviction answers by kind", m.evictions.clone());
        registry.register(
            "pdb_waits",
            "Times an eviction was refused for a PodDisruptionBudget (429)",
            m.pdb_waits.clone(),
        );
        registry.register("blockers", "Pods the current batch cannot move", m.blockers.clone());
        registry.register("batch", "The batch being drained (1-based; 0 before the first)", m.batch.clone());
        registry.register("batches", "Batches of the plan", m.batches.clone());
        registry.register("paused", "1 when the run stopped paused or blocked", m.paused.clone());
        Self { registry, ..m }
    }

    /// The OpenMetrics text of every metric now.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn answer(a: &str) -> AnswerLabel {
    AnswerLabel { answer: a.to_string() }
}

impl Reporter for RunMetrics {
    fn event(&self, e: &Event) {
        let mut st = self.state();
        match e {
            Event::Phase { phase } => {
                // The phase's kind (`Draining`, not `Draining batch 2 of 4`): one series per kind.
                let kind = phase.to_string().split_whitespace().next().unwrap_or_default().to_string();
                if let Some(old) = st.phase.replace(kind.clone()) {
                    self.phase.get_or_create(&PhaseLabel { phase: old }).set(0);
                }
                self.phase.get_or_create(&PhaseLabel { phase: kind }).set(1);
                self.paused.set(0);
            }
            Event::BatchStarted { batch, of, .. } => {
                self.batch.set(*batch as i64 + 1);
                self.batches.set(*of as i64);
                self.blockers.set(0);
                st.waiting.clear();
                self.waiting.set(0);
            }
            Event::PodEvicted { pod, .. } => {
                self.evictions.get_or_create(&answer("evicted")).inc();
                st.waiting.remove(pod);
                self.waiting.set(st.waiting.len() as i64);
            }
            Event::PodMoved { .. } => {
                self.moved.inc();
            }
            Event::Waiting { pod, .. } => {
                self.evictions.get_or_create(&answer("too_many_requests")).inc();
                self.pdb_waits.inc();
                st.waiting.insert(pod.clone());
                self.waiting.set(st.waiting.len() as i64);
            }
            Event::BatchDone { .. } => {
                st.waiting.clear();
                self.waiting.set(0);
            }
            Event::Blocked { blockers } => {
                self.blockers.set(blockers.len() as i64);
            }
            Event::Paused { .. } | Event::RunEnded { end: RunEnd::Paused(_) | RunEnd::Blocked(_), .. } => {
                self.paused.set(1);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::Phase;

    #[test]
    fn events_become_metrics() {
        let m = RunMetrics::new();
        m.event(&Event::Phase { phase: Phase::Draining { batch: 0, of: 2 } });
        m.event(&Event::BatchStarted { batch: 0, of: 2, nodes: vec!["blue-0".into()], pods: 3 });
        m.event(&Event::Waiting { pod: "shop/web-1".into(), pdb: Some("shop/web".into()), message: "429".into() });
        m.event(&Event::Waiting { pod: "shop/web-2".into(), pdb: Some("shop/web".into()), message: "429".into() });
        m.event(&Event::PodEvicted { pod: "shop/web-1".into(), node: "blue-0".into() });
        m.event(&Event::PodMoved { pod: "shop/web-1".into() });
        let text = m.render();
        for line in [
            "poolshift_run_phase{phase=\"Draining\"} 1",
            "poolshift_pods_moved_total 1",
            "poolshift_pods_waiting 1",
            "poolshift_evictions_total{answer=\"evicted\"} 1",
            "poolshift_evictions_total{answer=\"too_many_requests\"} 2",
            "poolshift_pdb_waits_total 2",
            "poolshift_batch 1",
            "poolshift_batches 2",
            "poolshift_paused 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
        m.event(&Event::Phase { phase: Phase::PoolSoaking });
        let text = m.render();
        assert!(text.contains("poolshift_run_phase{phase=\"Draining\"} 0"), "{text}");
        assert!(text.contains("poolshift_run_phase{phase=\"PoolSoaking\"} 1"), "{text}");
    }
}
