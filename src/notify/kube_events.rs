//! Kubernetes Events for the people who watch the cluster (`kubectl describe node`, `kubectl get events`):
//! on each node poolshift cordons and drains, and on the run's checkpoint ConfigMap. Reasons are CamelCase
//! verbs and states, as Karpenter and Cluster API name theirs. [`records`] is the pure mapping from the
//! engine's events; [`KubeEvents`] writes them from a background task, so a slow or refusing API server
//! never holds the run.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::background::Background;

use crate::ports::Cluster;
use crate::ports::cluster::{EventObject, EventRecord};
use crate::ports::report::{Event, Reporter, RunEnd};

/// What the mapping needs to know about the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    pub pool: String,
    /// The checkpoint ConfigMap, when checkpoints are kept in the cluster.
    pub checkpoint: Option<EventObject>,
    /// The agent (lease holder), the Events' reporting instance.
    pub instance: String,
}

fn record(
    ctx: &RunContext,
    object: EventObject,
    warning: bool,
    reason: &str,
    action: &str,
    message: String,
) -> EventRecord {
    EventRecord {
        object,
        warning,
        reason: reason.into(),
        message,
        action: action.into(),
        instance: ctx.instance.clone(),
    }
}

/// A node by name; its UID is filled in from the live view when the Event is written.
fn node_object(name: &str) -> EventObject {
    EventObject::Node { name: name.to_string(), uid: None }
}

/// The Events to write for engine event `e`.
pub fn records(e: &Event, ctx: &RunContext) -> Vec<EventRecord> {
    let pool = &ctx.pool;
    let run = |warning, reason: &str, message: String| {
        ctx.checkpoint.clone().map(|o| record(ctx, o, warning, reason, "Upgrade", message)).into_iter().collect()
    };
    match e {
        Event::RunStarted { run_id, from, to, resumed: false } => {
            run(false, "UpgradeStarted", format!("run {run_id} started: pool {pool} {from} -> {to}"))
        }
        Event::RunStarted { run_id, from, to, resumed: true } => {
            run(false, "UpgradeResumed", format!("run {run_id} resumed: pool {pool} {from} -> {to}"))
        }
        Event::GreenCreated { pool: green } => {
            run(false, "GreenPoolCreating", format!("green pool {green}: creation requested"))
        }
        Event::GreenReady { pool: green, nodes } => {
            run(false, "GreenPoolReady", format!("green pool {green}: {nodes} nodes Ready"))
        }
        Event::NodeCordoned { node } => vec![record(
            ctx,
            node_object(node),
            false,
            "Cordoned",
            "Cordon",
            format!("cordoned by poolshift: pool {pool} is being replaced by a new pool"),
        )],
        Event::BatchStarted { batch, of, nodes, pods } => nodes
            .iter()
            .map(|n| {
                let message =
                    format!("draining: batch {} of {of} of pool {pool}, {pods} pods to evict in the batch", batch + 1);
                record(ctx, node_object(n), false, "Draining", "Drain", message)
            })
            .collect(),
        Event::BatchDone { batch, of, moved, seconds } => run(
            false,
            "BatchDrained",
            format!("batch {} of {of} drained: {moved} pods moved in {seconds:.0}s", batch + 1),
        ),
        Event::Blocked { blockers } => {
            let mut out: Vec<EventRecord> = blockers
                .iter()
                .filter(|b| !b.node.is_empty())
                .map(|b| {
                    let pdb = b.pdb.as_ref().map(|p| format!(" (PodDisruptionBudget {p})")).unwrap_or_default();
                    let message = format!("cannot evict {}{pdb}: {}", b.pod, b.reason);
                    record(ctx, node_object(&b.node), true, "EvictionBlocked", "Drain", message)
                })
                .collect();
            if let Some(first) = blockers.first() {
                let pdb = first.pdb.as_ref().map(|p| format!(", PodDisruptionBudget {p}")).unwrap_or_default();
                let node = if first.node.is_empty() { String::new() } else { format!(" on {}", first.node) };
                out.extend(run(
                    true,
                    "Blocked",
                    format!("{} pod(s) cannot move; first: {}{node}{pdb}: {}", blockers.len(), first.pod, first.reason),
                ));
            }
            out
        }
        Event::Quarantined { nodes } => nodes
            .iter()
            .map(|n| {
                let message = "quarantined: left cordoned with its stuck pods for an operator".to_string();
                record(ctx, node_object(n), true, "Quarantined", "Drain", message)
            })
            .collect(),
        Event::GateFailed { gate, reason, .. } => run(true, "GateFailed", format!("{gate}: {reason}")),
        Event::RunBlocked { reason } => run(true, "Blocked", format!("blocked: {reason}")),
        Event::Paused { reason } => run(false, "Paused", format!("paused: {reason}")),
        Event::BlueDeleted { pool: blue } => run(false, "BluePoolDeleted", format!("blue pool {blue} deleted")),
        Event::RunEnded { run_id, end } => match end {
            RunEnd::Done => run(false, "UpgradeSucceeded", format!("run {run_id} done: pool {pool} upgraded")),
            RunEnd::RolledBack => {
                run(false, "RolledBack", format!("run {run_id} rolled back: pool {pool} is back in service"))
            }
            RunEnd::Aborted => run(true, "Aborted", format!("run {run_id} aborted; the cluster is left as it was")),
            RunEnd::Failed(reason) => run(true, "UpgradeFailed", format!("run {run_id} failed: {reason}")),
            // Said by their own events (Paused; Blocked, GateFailed or RunBlocked).
            RunEnd::Paused(_) | RunEnd::Blocked(_) => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Writes the Events of a run through the cluster port, in order, from a background task.
pub struct KubeEvents {
    ctx: RunContext,
    writer: Background<EventRecord>,
}

impl KubeEvents {
    pub fn start(cluster: Arc<dyn Cluster>, ctx: RunContext) -> Arc<Self> {
        let writer = Background::start(|mut rx: mpsc::UnboundedReceiver<EventRecord>| async move {
            let mut warned = false;
            while let Some(mut rec) = rx.recv().await {
                if let EventObject::Node { name, uid: uid @ None } = &mut rec.object
                    && let Ok(live) = cluster.live().await
                {
                    *uid = live.nodes().into_iter().find(|n| n.name == *name).map(|n| n.uid).filter(|u| !u.is_empty());
                }
                if let Err(e) = cluster.record_event(&rec).await
                    && !std::mem::replace(&mut warned, true)
                {
                    // Once: a cluster that refuses Events (RBAC) would otherwise say it for every one.
                    tracing::warn!(error = %e, reason = %rec.reason, "cannot write Kubernetes Events; the run goes on without them");
                }
            }
        });
        Arc::new(Self { ctx, writer })
    }

    /// Stops taking events and waits (at most `limit`) until the queued ones are written.
    pub async fn flush(&self, limit: Duration) {
        self.writer.flush(limit).await;
    }
}

impl Reporter for KubeEvents {
    fn event(&self, e: &Event) {
        for rec in records(e, &self.ctx) {
            self.writer.send(rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::Blocker;
    use crate::model::identity::{PdbKey, PodKey, Subject};

    fn ctx(checkpoint: bool) -> RunContext {
        RunContext {
            pool: "workers".into(),
            checkpoint: checkpoint.then(|| EventObject::ConfigMap {
                namespace: "poolshift-system".into(),
                name: "poolshift-prod-workers".into(),
            }),
            instance: "ops-1/42".into(),
        }
    }

    #[test]
    fn a_blocked_pod_is_told_on_its_node_and_on_the_checkpoint() {
        let b = Blocker {
            pod: Subject::Pod(PodKey::new("shop", "web-1")),
            node: "blue-0".into(),
            pdb: Some(PdbKey::new("shop", "web")),
            reason: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        };
        let recs = records(&Event::Blocked { blockers: vec![b] }, &ctx(true));
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].object, EventObject::Node { name: "blue-0".into(), uid: None });
        assert_eq!((recs[0].reason.as_str(), recs[0].warning), ("EvictionBlocked", true));
        assert_eq!(
            recs[0].message,
            "cannot evict shop/web-1 (PodDisruptionBudget shop/web): Cannot evict pod as it would violate the pod's disruption budget."
        );
        assert_eq!(recs[1].reason, "Blocked");
        assert!(
            recs[1]
                .message
                .starts_with("1 pod(s) cannot move; first: shop/web-1 on blue-0, PodDisruptionBudget shop/web")
        );
        assert_eq!(recs[1].instance, "ops-1/42");
    }

    #[test]
    fn without_a_checkpoint_object_only_nodes_are_told() {
        let started =
            Event::RunStarted { run_id: "r".into(), from: "1.30.8".into(), to: "1.31.4".into(), resumed: false };
        assert!(records(&started, &ctx(false)).is_empty());
        assert_eq!(records(&started, &ctx(true))[0].reason, "UpgradeStarted");
        let cordoned = records(&Event::NodeCordoned { node: "blue-0".into() }, &ctx(false));
        assert_eq!(cordoned.len(), 1);
        assert_eq!(cordoned[0].reason, "Cordoned");
        assert!(
            records(&Event::PodMoved { pod: "shop/web-1".into() }, &ctx(true)).is_empty(),
            "not every event is told"
        );
    }
}
