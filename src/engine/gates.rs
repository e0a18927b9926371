//! The stop points of a run: asks the engine's gatekeepers (windows, gates, the guided operator) in order,
//! and performs the first answer that is not pass.

use super::{Engine, EngineError, Outcome};
use crate::model::checkpoint::{Request, RunStatus};
use crate::model::stop::StopPoint;
use crate::ports::Stored;
use crate::ports::gate::{GateInput, Verdict};
use crate::ports::report::Event;

/// Output kept in the checkpoint's history for a failed gate (its tail: the end says why).
const OUTPUT_KEPT: usize = 4096;

impl Engine {
    /// Asks every gatekeeper at `at`. `Ok(())`: all passed (recorded in the checkpoint with the next save);
    /// `Err(Some(outcome))`: the run stops here; `Err(None)`: a rollback was requested, the run loop starts it.
    pub(crate) async fn stop_at(
        &self,
        st: &mut Stored,
        at: StopPoint,
    ) -> Result<Result<(), Option<Outcome>>, EngineError> {
        let mut by = Vec::new();
        if !self.gatekeepers.is_empty() {
            let cp = &st.checkpoint;
            let input = GateInput {
                checkpoint: cp.clone(),
                live: self.cluster.live().await?,
                green: self.provider.node_matcher(&cp.green.name),
                blue: self.provider.node_matcher(&cp.pool),
                now: self.clock.now(),
            };
            for keeper in &self.gatekeepers {
                let name = keeper.name();
                match keeper.check(at, &input).await {
                    Verdict::Pass => by.push(name),
                    Verdict::Pause { reason } => {
                        st.checkpoint.status = RunStatus::Paused(reason.clone());
                        let now = self.now();
                        st.checkpoint.note(&now, format!("{at}: {name}: {reason}"));
                        self.save(st).await?;
                        self.reporter.event(&Event::Paused { reason: reason.clone() });
                        return Ok(Err(Some(Outcome::Paused(reason))));
                    }
                    Verdict::Block { reason, output } => {
                        let out = output.as_deref().map(tail).unwrap_or_default();
                        if !out.trim().is_empty() {
                            let now = self.now();
                            st.checkpoint.note(&now, format!("{at}: {name}: output:\n{out}"));
                        }
                        let told = Event::GateFailed {
                            at,
                            gate: name.clone(),
                            reason: reason.clone(),
                            output: out.to_string(),
                        };
                        return Ok(Err(Some(self.block_told(st, reason, Vec::new(), &told).await?)));
                    }
                    Verdict::RollBack { reason } => {
                        let now = self.now();
                        st.checkpoint.requests.rollback = Some(Request { by: self.holder.clone(), at: now.clone() });
                        st.checkpoint.note(&now, format!("{at}: {name}: {reason}"));
                        self.save(st).await?;
                        return Ok(Err(None));
                    }
                }
            }
        }
        st.checkpoint.passed.push(at);
        if !by.is_empty() {
            let now = self.now();
            st.checkpoint.note(&now, format!("{at}: passed ({})", by.join(", ")));
        }
        // Other passes are saved with the step that follows; this one closes the rollback window
        // (`steps::can_roll_back`), so it is on record before blue is touched.
        if at == StopPoint::BeforeBlueDeletion {
            self.save(st).await?;
        }
        self.reporter.event(&Event::StopPassed { at, by });
        Ok(Ok(()))
    }
}

/// The last [`OUTPUT_KEPT`] bytes of `s`, cut at a character boundary.
fn tail(s: &str) -> &str {
    let mut from = s.len().saturating_sub(OUTPUT_KEPT);
    while !s.is_char_boundary(from) {
        from += 1;
    }
    &s[from..]
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn output_keeps_its_end() {
        let long = format!("{}END", "é".repeat(3000));
        let kept = tail(&long);
        assert!(kept.len() <= super::OUTPUT_KEPT && kept.ends_with("END"));
        assert_eq!(tail("short"), "short");
    }
}
