//! What a webhook is told, and when: the engine's events that matter to people, as Slack-compatible JSON
//! (`text`, which Slack's and Mattermost's incoming webhooks show) with the same facts as fields under
//! `poolshift` for other receivers. Pure.

use serde_json::{Value, json};

use crate::ports::report::{Event, RunEnd};

/// The kinds of notification a webhook can subscribe to (`events:` in the cluster file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Started,
    BatchDone,
    Blocked,
    GateFailed,
    Paused,
    Done,
    RolledBack,
    Failed,
}

impl Topic {
    pub const ALL: [Topic; 8] = [
        Topic::Started,
        Topic::BatchDone,
        Topic::Blocked,
        Topic::GateFailed,
        Topic::Paused,
        Topic::Done,
        Topic::RolledBack,
        Topic::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Started => "started",
            Topic::BatchDone => "batch_done",
            Topic::Blocked => "blocked",
            Topic::GateFailed => "gate_failed",
            Topic::Paused => "paused",
            Topic::Done => "done",
            Topic::RolledBack => "rolled_back",
            Topic::Failed => "failed",
        }
    }
}

/// Which cluster and pool the messages are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub cluster: String,
    pub pool: String,
}

/// The topic and the one-line text of `e`, if people are told about it.
pub fn describe(e: &Event) -> Option<(Topic, String)> {
    Some(match e {
        Event::RunStarted { run_id, from, to, resumed } => {
            let verb = if *resumed { "resumed" } else { "started" };
            (Topic::Started, format!("run {run_id} {verb}: {from} -> {to}"))
        }
        Event::BatchDone { batch, of, moved, seconds } => {
            (Topic::BatchDone, format!("batch {} of {of} done: {moved} pods moved in {seconds:.0}s", batch + 1))
        }
        Event::Blocked { blockers } => {
            let first = blockers.first()?;
            let pdb = first.pdb.as_ref().map(|p| format!(" (PDB {p})")).unwrap_or_default();
            let node = if first.node.is_empty() { String::new() } else { format!(" on {}", first.node) };
            (
                Topic::Blocked,
                format!(
                    "blocked: {} pod(s) cannot move; first: {}{node}{pdb}: {}",
                    blockers.len(),
                    first.pod,
                    first.reason
                ),
            )
        }
        Event::GateFailed { reason, .. } => (Topic::GateFailed, format!("blocked: {reason}")),
        Event::RunBlocked { reason } => (Topic::Blocked, format!("blocked: {reason}")),
        Event::Paused { reason } => (Topic::Paused, format!("paused: {reason}")),
        Event::RunEnded { run_id, end } => match end {
            RunEnd::Done => (Topic::Done, format!("run {run_id} done: the pool is upgraded")),
            RunEnd::RolledBack => (Topic::RolledBack, format!("run {run_id} rolled back")),
            RunEnd::Failed(reason) => (Topic::Failed, format!("run {run_id} failed: {reason}")),
            RunEnd::Aborted => (Topic::Failed, format!("run {run_id} aborted; the cluster is left as it was")),
            RunEnd::Paused(_) | RunEnd::Blocked(_) => return None,
        },
        _ => return None,
    })
}

/// The JSON body for `text` about `topic`.
pub fn body(origin: &Origin, topic: Topic, text: &str) -> Value {
    json!({
        "text": format!("poolshift {}/{}: {text}", origin.cluster, origin.pool),
        "poolshift": {"cluster": origin.cluster, "pool": origin.pool, "event": topic.name(), "message": text},
    })
}
