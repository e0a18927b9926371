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

/// How long the end of a command waits for its queued Kubernetes Events to be written.
const EVENTS_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Adds Kubernetes Events (on the nodes, and on the checkpoint ConfigMap when checkpoints are kept in the
/// cluster) to the session's reporters. Returns the writer, to [`flush_events`] before the process exits.
pub fn add_events(session: &mut Session, selected: &Selected) -> Arc<crate::notify::KubeEvents> {
    use crate::notify::{FanOut, KubeEvents, RunContext};
    use crate::ports::cluster::EventObject;
    let checkpoint = match &selected.state {
        crate::session::StateLocation::ConfigMap => Some(EventObject::ConfigMap {
            namespace: crate::kube::SYSTEM_NAMESPACE.to_string(),
            name: crate::kube::object_name(&selected.config.cluster.name, &selected.pool.name),
        }),
        crate::session::StateLocation::File(_) => None,
    };
    let engine = &mut session.engine;
    let ctx = RunContext { pool: selected.pool.name.clone(), checkpoint, instance: engine.holder.clone() };
    let events = KubeEvents::start(engine.cluster.clone(), ctx);
    engine.reporter = Arc::new(FanOut(vec![engine.reporter.clone(), events.clone()]));
    events
}

/// Waits a little for the run's last Events to reach the API server.
pub async fn flush_events(events: &crate::notify::KubeEvents) {
    events.flush(EVENTS_FLUSH).await;
}
