//! The gatekeepers a run of the selected pool answers to at its stop points, in order: the maintenance
//! window, the built-in checks, the operator's gate commands (the guided operator comes last, added by
//! `guided::Ui`). And the window check before a run starts or resumes: outside every window nothing is
//! contacted that could change anything, and the command exits 3 saying when the next window opens.

use std::sync::Arc;

use super::connect::Selected;
use crate::command_runner::ProcessRunner;
use crate::gates::{CommandGate, HealthGate};
use crate::ports::Clock;
use crate::schedule::WindowGate;
use crate::session::Session;

/// Adds the pool's gatekeepers to the session's engine; the window's unless `ignore_windows`.
pub fn install(session: &mut Session, selected: &Selected, ignore_windows: bool) {
    let engine = &mut session.engine;
    if let Some(schedule) = selected.config.schedule.as_ref().filter(|_| !ignore_windows) {
        engine.gatekeepers.push(Arc::new(WindowGate::new(schedule.clone())));
    }
    let gates = &selected.pool.gates;
    if let Some(settings) = gates.checks {
        engine.gatekeepers.push(Arc::new(HealthGate::new(settings, engine.clock.clone())));
    }
    let runner = Arc::new(ProcessRunner);
    for command in &gates.commands {
        engine.gatekeepers.push(Arc::new(CommandGate::new(command.clone(), runner.clone())));
    }
}

/// Why the run may not start or go on now: every maintenance window is closed (and the operator did not
/// say `--ignore-windows`). The text names the next opening.
pub fn window_closed(selected: &Selected, clock: &dyn Clock, ignore_windows: bool) -> Option<String> {
    if ignore_windows {
        return None;
    }
    selected.config.schedule.as_ref()?.closed_reason(clock.now())
}
