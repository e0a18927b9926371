//! How `upgrade` and `resume` talk to the operator.
//!
//! - On a terminal without `--yes` (guided): live progress bars, and a stop at each stop point the cluster
//!   file names (`guided.stops`, all four by default) asking continue, pause, roll back, or to show the
//!   blockers, the plan, the current batch. Ctrl-C pauses at the next safe point.
//! - On a terminal with `--yes`: the bars, no stops.
//! - Without a terminal (a job, a pipe): plain timestamped lines, no escape codes.

mod bars;
mod console;
pub mod menu;
mod operator;

use std::io::IsTerminal;
use std::sync::Arc;

pub use bars::Bars;
pub use console::Console;
pub use operator::OperatorGate;

use super::progress::TerminalProgress;
use crate::model::stop::StopKind;
use crate::ports::{Clock, Reporter};
use crate::session::Session;

/// The run's conversation with the operator.
pub struct Ui {
    bars: Option<Arc<Bars>>,
    lines: Option<Arc<TerminalProgress>>,
    guided: bool,
}

impl Ui {
    /// Guided when stdin and stdout are terminals and `yes` was not given; bars whenever stdout is a
    /// terminal (and `TERM` is not `dumb`); plain lines otherwise.
    pub fn new(clock: Arc<dyn Clock>, yes: bool) -> Self {
        let stdout = std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let guided = !yes && stdout && std::io::stdin().is_terminal();
        if stdout {
            Self { bars: Some(Bars::new(clock)), lines: None, guided }
        } else {
            Self { bars: None, lines: Some(Arc::new(TerminalProgress::new(clock, false))), guided }
        }
    }

    /// Receives the engine's events.
    pub fn reporter(&self) -> Arc<dyn Reporter> {
        match (&self.bars, &self.lines) {
            (Some(b), _) => b.clone(),
            (None, Some(l)) => l.clone(),
            (None, None) => Arc::new(super::connect::Silent),
        }
    }

    /// The run starts (or resumes with `moved` of `planned` pods moved): shows the bars, and in guided mode
    /// puts the operator at the stop points of `stops`.
    pub async fn begin(&self, session: &mut Session, planned: u64, moved: u64, stops: &[StopKind]) {
        if let Some(b) = &self.bars {
            match session.engine.cluster.live().await {
                Ok(live) => b.attach(live),
                Err(e) => tracing::warn!(error = %e, "progress: no live view, budgets are not shown"),
            }
            b.begin(planned, moved);
        }
        if self.guided {
            let terminal = Arc::new(Console::new(session.engine.interrupt.clone(), self.bars.clone()));
            session.engine.gatekeepers.push(Arc::new(OperatorGate::new(terminal, stops.to_vec())));
        }
    }

    /// A line of its own for the operator: above the bars while they are drawn (a line written past them
    /// would be drawn over), else straight to stdout. Best effort: a closed stdout must not stop the run.
    pub fn say(&self, line: &str) {
        match &self.bars {
            Some(b) => b.println(line.trim_end_matches('\n')),
            None => {
                let _ = super::write_stdout(line.as_bytes());
            }
        }
    }

    /// The run ended: the bars leave the screen, the lines printed above them stay.
    pub fn finish(&self) {
        if let Some(b) = &self.bars {
            b.finish();
        }
    }
}
