//! Live progress on the terminal: one line per meaningful event, stamped with the run's clock
//! (batches, pods moved, waits on PDBs, blockers with pod, PDB and the server's message).

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poolshift_provider_api::PoolState;

use crate::ports::lock::{expiry_text, time_text};
use crate::ports::report::Event;
use crate::ports::{Clock, Reporter};

pub struct TerminalProgress {
    clock: Arc<dyn Clock>,
    origin: Duration,
    state: Mutex<State>,
    /// One line per evicted pod (else a count per batch).
    verbose: bool,
}

#[derive(Default)]
pub(crate) struct State {
    moved_in_batch: usize,
    waits_shown: HashSet<String>,
}

impl TerminalProgress {
    pub fn new(clock: Arc<dyn Clock>, verbose: bool) -> Self {
        let origin = clock.elapsed();
        Self { clock, origin, state: Mutex::new(State::default()), verbose }
    }

    fn line(&self, text: &str) {
        let stamp = stamp(self.clock.elapsed().saturating_sub(self.origin));
        let mut out = std::io::stdout().lock();
        // A closed stdout (a pipe that went away) must not stop the upgrade.
        let _ = writeln!(out, "{stamp} {text}");
    }
}

/// A run's elapsed time as the progress lines stamp it: `[mm:ss]`.
pub(crate) fn stamp(elapsed: Duration) -> String {
    let t = elapsed.as_secs();
    format!("[{:02}:{:02}]", t / 60, t % 60)
}

impl Reporter for TerminalProgress {
    fn event(&self, e: &Event) {
        let mut st = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for text in describe(e, &mut st, self.verbose) {
            self.line(&text);
        }
    }
}

/// The lines an event is told in (none for events only counted), shared by the plain lines and the
/// progress bars (which print them above the bars).
/// How many of a failed gate's last output lines the progress shows.
const GATE_OUTPUT_LINES: usize = 20;

pub(crate) fn describe(e: &Event, st: &mut State, verbose: bool) -> Vec<String> {
    let one = |s: String| vec![s];
    match e {
        Event::Phase { phase } => one(format!("phase: {phase}")),
        Event::GreenCreated { pool } => one(format!("green pool {pool}: creation requested")),
        Event::GreenAdopted { pool, state } => {
            one(format!("adopted green pool {pool}, {} (an earlier attempt created it)", pool_state(state)))
        }
        Event::TookOver { previous, since, expired_at, .. } => one(format!(
            "took over from {previous}, whose lease expired at {} (held since {})",
            expiry_text(*expired_at),
            time_text(*since)
        )),
        Event::GreenReady { pool, nodes } => one(format!("green pool {pool}: {nodes} nodes Ready")),
        Event::Cordoned { nodes } => one(format!("cordoned {nodes} blue nodes (autoscaling frozen)")),
        Event::BatchStarted { batch, of, nodes, pods } => {
            st.moved_in_batch = 0;
            st.waits_shown.clear();
            one(format!("batch {}/{of}: draining {} ({pods} pods planned)", batch + 1, nodes.join(", ")))
        }
        Event::PodEvicted { pod, node } if verbose => one(format!("  evicted {pod} from {node}")),
        Event::PodEvicted { .. } => Vec::new(),
        Event::PodMoved { .. } => {
            st.moved_in_batch += 1;
            Vec::new()
        }
        Event::Waiting { pod, pdb, message } => {
            let key = pdb.clone().unwrap_or_else(|| pod.clone());
            if st.waits_shown.insert(key) {
                let pdb = pdb.as_deref().map(|p| format!(" (PDB {p})")).unwrap_or_default();
                one(format!("  waiting: {pod}{pdb}: {message}"))
            } else {
                Vec::new()
            }
        }
        Event::Blocked { blockers } => {
            let mut lines = vec![format!("blocked: {} pod(s) cannot move", blockers.len())];
            for b in blockers {
                let pdb = b.pdb.as_ref().map(|p| format!(", PDB {p}")).unwrap_or_default();
                let node = if b.node.is_empty() { String::new() } else { format!(" on {}", b.node) };
                lines.push(format!("  {}{node}{pdb}: {}", b.pod, b.reason));
            }
            lines
        }
        Event::BatchDone { batch, of, moved, seconds } => {
            one(format!("batch {}/{of}: done, {moved} pods moved in {seconds:.0}s", batch + 1))
        }
        Event::Soaking { what, seconds } => one(format!("{what}: {seconds:.0}s")),
        Event::Quarantined { nodes } => one(format!("quarantined (left cordoned): {}", nodes.join(", "))),
        Event::BlueDeleted { pool } => one(format!("blue pool {pool} deleted")),
        Event::Paused { reason } => one(format!("paused: {reason}")),
        Event::StopPassed { by, .. } if by.is_empty() => Vec::new(),
        Event::StopPassed { at, by } => one(format!("{at}: passed ({})", by.join(", "))),
        Event::GateFailed { at, gate, output, .. } => {
            let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
            let mut out = vec![format!("{gate} failed {at}{}", if lines.is_empty() { "" } else { "; its output:" })];
            let skipped = lines.len().saturating_sub(GATE_OUTPUT_LINES);
            if skipped > 0 {
                out.push(format!(
                    "  | ... {skipped} earlier lines (the output's last 4 KiB are in the checkpoint's history)"
                ));
            }
            out.extend(lines[skipped..].iter().map(|l| format!("  | {l}")));
            out
        }
        Event::Note { message } => one(message.clone()),
        // The outcome's own lines say these.
        Event::RunStarted { .. } | Event::RunEnded { .. } | Event::NodeCordoned { .. } | Event::RunBlocked { .. } => {
            Vec::new()
        }
    }
}

/// A provider pool state in words: `in state Ready`, `in state Failed (reason)`.
pub fn pool_state(s: &PoolState) -> String {
    match s {
        PoolState::Creating => "in state Creating".into(),
        PoolState::Ready => "in state Ready".into(),
        PoolState::Updating => "in state Updating".into(),
        PoolState::Deleting => "in state Deleting".into(),
        PoolState::Failed { reason } => format!("in state Failed ({reason})"),
    }
}
