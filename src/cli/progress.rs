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
struct State {
    moved_in_batch: usize,
    waits_shown: HashSet<String>,
}

impl TerminalProgress {
    pub fn new(clock: Arc<dyn Clock>, verbose: bool) -> Self {
        let origin = clock.elapsed();
        Self { clock, origin, state: Mutex::new(State::default()), verbose }
    }

    fn line(&self, text: &str) {
        let t = self.clock.elapsed().saturating_sub(self.origin).as_secs();
        let mut out = std::io::stdout().lock();
        // A closed stdout (a pipe that went away) must not stop the upgrade.
        let _ = writeln!(out, "[{:02}:{:02}] {text}", t / 60, t % 60);
    }
}

impl Reporter for TerminalProgress {
    fn event(&self, e: &Event) {
        let mut st = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match e {
            Event::Phase { phase } => self.line(&format!("phase: {phase}")),
            Event::GreenCreated { pool } => self.line(&format!("green pool {pool}: creation requested")),
            Event::GreenAdopted { pool, state } => {
                self.line(&format!("adopted green pool {pool}, {} (an earlier attempt created it)", pool_state(state)))
            }
            Event::TookOver { previous, since, expired_at, .. } => {
                self.line(&format!(
                    "took over from {previous}, whose lease expired at {} (held since {})",
                    expiry_text(*expired_at),
                    time_text(*since)
                ));
            }
            Event::GreenReady { pool, nodes } => self.line(&format!("green pool {pool}: {nodes} nodes Ready")),
            Event::Cordoned { nodes } => self.line(&format!("cordoned {nodes} blue nodes (autoscaling frozen)")),
            Event::BatchStarted { batch, of, nodes, pods } => {
                st.moved_in_batch = 0;
                st.waits_shown.clear();
                self.line(&format!("batch {}/{of}: draining {} ({pods} pods planned)", batch + 1, nodes.join(", ")));
            }
            Event::PodEvicted { pod, node } if self.verbose => self.line(&format!("  evicted {pod} from {node}")),
            Event::PodEvicted { .. } => {}
            Event::PodMoved { .. } => st.moved_in_batch += 1,
            Event::Waiting { pod, pdb, message } => {
                let key = pdb.clone().unwrap_or_else(|| pod.clone());
                if st.waits_shown.insert(key) {
                    let pdb = pdb.as_deref().map(|p| format!(" (PDB {p})")).unwrap_or_default();
                    self.line(&format!("  waiting: {pod}{pdb}: {message}"));
                }
            }
            Event::Blocked { blockers } => {
                self.line(&format!("blocked: {} pod(s) cannot move", blockers.len()));
                for b in blockers {
                    let pdb = b.pdb.as_deref().map(|p| format!(", PDB {p}")).unwrap_or_default();
                    let node = if b.node.is_empty() { String::new() } else { format!(" on {}", b.node) };
                    self.line(&format!("  {}{node}{pdb}: {}", b.pod, b.reason));
                }
            }
            Event::BatchDone { batch, of, moved, seconds } => {
                self.line(&format!("batch {}/{of}: done, {moved} pods moved in {seconds:.0}s", batch + 1));
            }
            Event::Soaking { what, seconds } => self.line(&format!("{what}: {seconds:.0}s")),
            Event::Quarantined { nodes } => self.line(&format!("quarantined (left cordoned): {}", nodes.join(", "))),
            Event::BlueDeleted { pool } => self.line(&format!("blue pool {pool} deleted")),
            Event::Paused { reason } => self.line(&format!("paused: {reason}")),
            Event::Note { message } => self.line(message),
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
