//! [`ScriptedCluster`]: any [`Cluster`] (in tests the real `KubeCluster` on the simulator) with the calls a
//! [`Script`] names failing.
//!
//! Operations: `snapshot`, `set_cordon` (argument `node cordon|uncordon`), `evict` (`namespace/name`, with
//! ` dry-run` for a dry run), `delete_pod` (`namespace/name`), `live`, `annotate_node` (`node key`), `record_event`
//! (the reason). A fault becomes `ClusterError::Api`
//! ([`Fault::Api`]) or `ClusterError::Transport` (anything else); [`Fault::Evict`] is `evict`'s answer itself.

use std::sync::Arc;

use async_trait::async_trait;

use super::script::{Fault, Script};
use crate::model::snapshot::Snapshot;
use crate::ports::cluster::EventRecord;
use crate::ports::{Cluster, ClusterError, EvictOutcome, LiveView, PodRef};

pub struct ScriptedCluster {
    inner: Arc<dyn Cluster>,
    script: Arc<Script>,
}

impl ScriptedCluster {
    pub fn new(inner: Arc<dyn Cluster>, script: Arc<Script>) -> Self {
        Self { inner, script }
    }

    pub fn script(&self) -> &Arc<Script> {
        &self.script
    }
}

/// The port's error for `fault` on `operation` of `object`.
fn error(fault: &Fault, operation: &str, object: &str) -> ClusterError {
    let (operation, object) = (operation.to_string(), object.to_string());
    match fault {
        Fault::Api { code, reason } => {
            ClusterError::Api { operation, object, code: *code, reason: reason.clone(), message: "(scripted)".into() }
        }
        _ => ClusterError::Transport { operation, object, message: fault.describe() },
    }
}

#[async_trait]
impl Cluster for ScriptedCluster {
    async fn snapshot(&self) -> Result<Snapshot, ClusterError> {
        let verdict = self.script.call("snapshot", "");
        verdict.run(|| self.inner.snapshot(), |f| Err(error(&f, "snapshot", "cluster"))).await
    }

    async fn set_cordon(&self, node: &str, cordon: bool, run_id: &str) -> Result<(), ClusterError> {
        let verdict = self.script.call("set_cordon", format!("{node} {}", if cordon { "cordon" } else { "uncordon" }));
        verdict.run(|| self.inner.set_cordon(node, cordon, run_id), |f| Err(error(&f, "cordon", node))).await
    }

    async fn evict(&self, pod: &PodRef, dry_run: bool) -> Result<EvictOutcome, ClusterError> {
        let verdict = self.script.call("evict", if dry_run { format!("{pod} dry-run") } else { pod.to_string() });
        let answer = |f: Fault| match f {
            Fault::Evict(outcome) => Ok(outcome),
            f => Err(error(&f, "evict", &pod.to_string())),
        };
        verdict.run(|| self.inner.evict(pod, dry_run), answer).await
    }

    async fn delete_pod(&self, pod: &PodRef) -> Result<(), ClusterError> {
        let verdict = self.script.call("delete_pod", pod.to_string());
        verdict.run(|| self.inner.delete_pod(pod), |f| Err(error(&f, "delete", &pod.to_string()))).await
    }

    async fn live(&self) -> Result<Arc<dyn LiveView>, ClusterError> {
        let verdict = self.script.call("live", "");
        verdict.run(|| self.inner.live(), |f| Err(error(&f, "watch", "cluster"))).await
    }

    async fn annotate_node(&self, node: &str, key: &str, value: Option<&str>) -> Result<(), ClusterError> {
        let verdict = self.script.call("annotate_node", format!("{node} {key}"));
        verdict.run(|| self.inner.annotate_node(node, key, value), |f| Err(error(&f, "annotate", node))).await
    }

    async fn record_event(&self, event: &EventRecord) -> Result<(), ClusterError> {
        let verdict = self.script.call("record_event", event.reason.clone());
        verdict.run(|| self.inner.record_event(event), |f| Err(error(&f, "record_event", &event.reason))).await
    }
}
