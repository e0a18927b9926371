//! [`ScriptedGatekeeper`]: answers from a script per stop point (pass where nothing is scripted) and records
//! every point it was asked at.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::model::stop::StopPoint;
use crate::ports::gate::{GateInput, Gatekeeper, Verdict};

#[derive(Debug, Default)]
pub struct ScriptedGatekeeper {
    name: String,
    /// Verdicts to give at a point, in order; when a point's queue is empty the answer is pass.
    script: Mutex<BTreeMap<StopPoint, VecDeque<Verdict>>>,
    asked: Mutex<Vec<StopPoint>>,
}

impl ScriptedGatekeeper {
    pub fn new(name: &str) -> Self {
        Self { name: name.to_string(), ..Default::default() }
    }

    /// The next time the engine asks at `at`, answer `verdict` (queued after earlier ones for `at`).
    pub fn answer(self, at: StopPoint, verdict: Verdict) -> Self {
        lock(&self.script).entry(at).or_default().push_back(verdict);
        self
    }

    /// Every point asked at, in order.
    pub fn asked(&self) -> Vec<StopPoint> {
        lock(&self.asked).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Gatekeeper for ScriptedGatekeeper {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn check(&self, at: StopPoint, _input: &GateInput) -> Verdict {
        lock(&self.asked).push(at);
        lock(&self.script).get_mut(&at).and_then(VecDeque::pop_front).unwrap_or(Verdict::Pass)
    }
}
