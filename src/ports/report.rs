//! Progress events for the terminal, JSON logs, and the demo's summary.

use serde::Serialize;

use crate::model::checkpoint::{Blocker, Phase};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    Phase { phase: Phase },
    GreenCreated { pool: String },
    GreenReady { pool: String, nodes: usize },
    Cordoned { nodes: usize },
    BatchStarted { batch: usize, of: usize, nodes: Vec<String>, pods: usize },
    PodEvicted { pod: String, node: String },
    PodMoved { pod: String },
    Waiting { pod: String, pdb: Option<String>, message: String },
    Blocked { blockers: Vec<Blocker> },
    BatchDone { batch: usize, of: usize, moved: usize, seconds: f64 },
    Soaking { what: String, seconds: f64 },
    Quarantined { nodes: Vec<String> },
    BlueDeleted { pool: String },
    Paused { reason: String },
    Note { message: String },
}

pub trait Reporter: Send + Sync {
    fn event(&self, e: &Event);
}
