//! An independent witness of an upgrade: follows pods and PodDisruptionBudgets through watches of the API
//! server (not through poolshift, not through kubesim's recorder) and records every moment a budget's healthy
//! pods fell below its desiredHealthy, and every pod deletion with the node it ran on.
//!
//! Healthy is what the disruption controller counts: Ready and not being deleted. A budget is checked once its
//! status is synced (observedGeneration) and only after it was met once, so pods still starting when the
//! watcher starts are not counted as disruptions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use tokio::task::JoinHandle;

/// A pod that was deleted (got a deletionTimestamp) while the watcher ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    /// The owner's kind (`ReplicaSet`, `StatefulSet`, `DaemonSet`), `None` for a bare pod.
    pub owner: Option<String>,
}

/// A moment a budget was below its desiredHealthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pdb: String,
    pub healthy: i32,
    pub desired_healthy: i32,
    /// The pod whose change made it so.
    pub pod: String,
}

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub violations: Vec<Violation>,
    pub deletions: Vec<Deletion>,
    /// Lowest (healthy - desiredHealthy) seen per budget after it was first met.
    pub min_margin: BTreeMap<String, i32>,
    /// Pod events seen (a measure that the watcher was awake).
    pub pod_events: u64,
    /// Watch restarts (a 410 Gone relists; states between may be missed, reported here).
    pub restarts: u64,
}

#[derive(Default)]
struct State {
    pods: BTreeMap<String, Pod>,
    pdbs: BTreeMap<String, PodDisruptionBudget>,
    met: BTreeSet<String>,
    deleting: BTreeSet<String>,
    report: Report,
}

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// Ready and not being deleted: what the disruption controller counts as healthy.
pub(crate) fn healthy(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn selects(pdb: &PodDisruptionBudget, pod: &Pod) -> bool {
    if pdb.metadata.namespace != pod.metadata.namespace {
        return false;
    }
    let Some(sel) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else { return false };
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let by_labels = sel.match_labels.as_ref().is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let by_exprs = sel.match_expressions.as_ref().is_none_or(|es| {
        es.iter().all(|e| {
            let vals = e.values.clone().unwrap_or_default();
            match e.operator.as_str() {
                "In" => labels.get(&e.key).is_some_and(|v| vals.contains(v)),
                "NotIn" => labels.get(&e.key).is_none_or(|v| !vals.contains(v)),
                "Exists" => labels.contains_key(&e.key),
                "DoesNotExist" => !labels.contains_key(&e.key),
                _ => false,
            }
        })
    });
    by_labels && by_exprs
}

impl State {
    fn check(&mut self, cause: &str) {
        for (k, pdb) in &self.pdbs {
            let Some(st) = pdb.status.as_ref() else { continue };
            if st.observed_generation != pdb.metadata.generation {
                continue;
            }
            let healthy = self.pods.values().filter(|p| selects(pdb, p) && healthy(p)).count() as i32;
            let desired = st.desired_healthy.unwrap_or(0);
            let margin = healthy - desired;
            if !self.met.contains(k) {
                if margin >= 0 {
                    self.met.insert(k.clone());
                    self.report.min_margin.insert(k.clone(), margin);
                }
                continue;
            }
            let m = self.report.min_margin.entry(k.clone()).or_insert(margin);
            *m = (*m).min(margin);
            if margin < 0 {
                self.report.violations.push(Violation {
                    pdb: k.clone(),
                    healthy,
                    desired_healthy: desired,
                    pod: cause.to_string(),
                });
            }
        }
    }

    fn pod(&mut self, p: Pod, in_scope: &dyn Fn(&str) -> bool) {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        if !in_scope(&ns) {
            return;
        }
        self.report.pod_events += 1;
        let k = key(&ns, p.metadata.name.as_deref().unwrap_or(""));
        let uid = p.metadata.uid.clone().unwrap_or_default();
        if p.metadata.deletion_timestamp.is_some() && self.deleting.insert(uid.clone()) {
            self.report.deletions.push(Deletion {
                namespace: ns,
                name: p.metadata.name.clone().unwrap_or_default(),
                uid,
                node: p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
                owner: p.metadata.owner_references.as_ref().and_then(|o| o.first()).map(|o| o.kind.clone()),
            });
        }
        self.pods.insert(k.clone(), p);
        self.check(&k);
    }
}

/// A running watcher; [`Watcher::stop`] returns what it saw.
pub struct Watcher {
    state: Arc<Mutex<State>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watcher {
    /// Watches pods and PDBs of `namespaces` (all namespaces when empty). Call inside a tokio runtime.
    pub fn start(client: kube::Client, namespaces: Vec<String>) -> Watcher {
        let state = Arc::new(Mutex::new(State::default()));
        let scope: Arc<dyn Fn(&str) -> bool + Send + Sync> =
            Arc::new(move |ns: &str| namespaces.is_empty() || namespaces.iter().any(|n| n == ns));
        let pods: Api<Pod> = Api::all(client.clone());
        let pdbs: Api<PodDisruptionBudget> = Api::all(client);
        let (st, sc) = (state.clone(), scope.clone());
        let pod_task = tokio::spawn(async move {
            let mut stream = watcher::watcher(pods, watcher::Config::default()).boxed();
            while let Some(ev) = stream.next().await {
                let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                match ev {
                    Ok(Event::Apply(p) | Event::InitApply(p)) => s.pod(p, &*sc),
                    Ok(Event::Delete(p)) => {
                        let ns = p.metadata.namespace.clone().unwrap_or_default();
                        if sc(&ns) {
                            // A delete without a graceful phase first (force) is a deletion too.
                            let mut gone = p.clone();
                            if gone.metadata.deletion_timestamp.is_none() {
                                gone.metadata.deletion_timestamp =
                                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
                            }
                            s.pod(gone, &*sc);
                            let k = key(&ns, p.metadata.name.as_deref().unwrap_or(""));
                            s.pods.remove(&k);
                        }
                    }
                    Ok(Event::Init) => s.report.restarts += 1,
                    Ok(Event::InitDone) => {}
                    Err(_) => {}
                }
            }
        });
        let st = state.clone();
        let pdb_task = tokio::spawn(async move {
            let mut stream = watcher::watcher(pdbs, watcher::Config::default()).boxed();
            while let Some(ev) = stream.next().await {
                let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                match ev {
                    Ok(Event::Apply(b) | Event::InitApply(b)) => {
                        let ns = b.metadata.namespace.clone().unwrap_or_default();
                        if scope(&ns) {
                            let k = key(&ns, b.metadata.name.as_deref().unwrap_or(""));
                            s.pdbs.insert(k.clone(), b);
                            s.check(&format!("pdb {k} changed"));
                        }
                    }
                    Ok(Event::Delete(b)) => {
                        let k = key(
                            b.metadata.namespace.as_deref().unwrap_or(""),
                            b.metadata.name.as_deref().unwrap_or(""),
                        );
                        s.pdbs.remove(&k);
                    }
                    _ => {}
                }
            }
        });
        Watcher { state, tasks: vec![pod_task, pdb_task] }
    }

    /// What was seen so far, without stopping.
    pub fn report(&self) -> Report {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).report.clone()
    }

    /// Budgets the watcher has seen met (checked from then on).
    pub fn budgets_checked(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).met.len()
    }

    pub fn stop(self) -> Report {
        for t in &self.tasks {
            t.abort();
        }
        self.report()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready: bool, deleting: bool) -> Pod {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name, "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": []},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    fn pdb(desired: i32) -> PodDisruptionBudget {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "minAvailable": desired},
            "status": {"observedGeneration": 1, "desiredHealthy": desired, "currentHealthy": 0,
                       "disruptionsAllowed": 0, "expectedPods": 2},
        }))
        .unwrap()
    }

    #[test]
    fn a_deletion_below_the_budget_is_a_violation_and_starting_pods_are_not() {
        let mut s = State::default();
        let all = |_: &str| true;
        s.pdbs.insert("ns/web".into(), pdb(2));
        s.pod(pod("a", false, false), &all);
        s.pod(pod("b", true, false), &all);
        assert!(s.report.violations.is_empty(), "not yet met: pods starting");
        s.pod(pod("a", true, false), &all);
        assert_eq!(s.report.min_margin["ns/web"], 0);
        s.pod(pod("a", true, true), &all);
        assert_eq!(s.report.violations.len(), 1);
        assert_eq!(s.report.violations[0].healthy, 1);
        assert_eq!(s.report.deletions.len(), 1);
        assert_eq!(s.report.deletions[0].node, "n1");
        assert_eq!(s.report.min_margin["ns/web"], -1);
    }

    #[test]
    fn another_namespace_is_not_watched() {
        let mut s = State::default();
        s.pod(pod("a", true, true), &|ns: &str| ns == "other");
        assert!(s.report.deletions.is_empty());
        assert_eq!(s.report.pod_events, 0);
    }
}
