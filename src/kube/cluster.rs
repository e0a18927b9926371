//! [`KubeCluster`]: the engine's [`Cluster`] on a `kube::Client`.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::Status;
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::OnceCell;

use super::RUN_LABEL;
use super::cache::LiveCache;
use super::errors::cluster_error;
use super::retry::transient;
use super::slim::SlimPod;
use crate::model::snapshot::{ControllerInfo, NodeInfo, PdbInfo, PodInfo, Reduced, Snapshot, volume_infos};
use crate::ports::cluster::EventRecord;
use crate::ports::{Cluster, ClusterError, EvictOutcome, LiveView, PodRef};

/// Page size of the snapshot's lists (client-go's pager default).
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// How long `live()` waits for the watchers' first complete lists.
const SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// A list whose continue token expired (410) is restarted from scratch this many times.
const LIST_RESTARTS: usize = 3;

pub struct KubeCluster {
    client: Client,
    page_size: u32,
    live: OnceCell<Arc<LiveCache>>,
}

impl KubeCluster {
    pub fn new(client: Client) -> Self {
        Self { client, page_size: DEFAULT_PAGE_SIZE, live: OnceCell::new() }
    }

    /// Items per list page for [`Cluster::snapshot`] (at least 1).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every object of a kind, listed in pages; `reduce` takes each object as its page arrives, so that no
    /// more than a page of API objects is held at a time.
    async fn list_all<K, T>(&self, what: &str, reduce: impl Fn(K) -> T) -> Result<Vec<T>, ClusterError>
    where
        K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let mut restarts = 0;
        'list: loop {
            let mut items = Vec::new();
            let mut lp = ListParams::default().limit(self.page_size);
            loop {
                match transient("listing", || api.list(&lp)).await {
                    Ok(page) => {
                        items.extend(page.items.into_iter().map(&reduce));
                        match page.metadata.continue_.filter(|c| !c.is_empty()) {
                            Some(token) => lp = lp.continue_token(&token),
                            None => return Ok(items),
                        }
                    }
                    // The continue token expired while paging: start again for a consistent list.
                    Err(kube::Error::Api(s)) if s.code == 410 && restarts < LIST_RESTARTS => {
                        restarts += 1;
                        tracing::info!(what, "list continue token expired; listing again");
                        continue 'list;
                    }
                    Err(e) => return Err(cluster_error("list", what, e)),
                }
            }
        }
    }

    /// A list the plan can do without when the server does not serve the resource (404): `None`.
    async fn list_optional<K>(&self, what: &str) -> Result<Option<Vec<K>>, ClusterError>
    where
        K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        match self.list_all(what, |k: K| k).await {
            Ok(items) => Ok(Some(items)),
            // Not served: plan without. Refused (403) is an error like any other list's: without the
            // PersistentVolumes a local volume cannot be recognised, and evicting its pod would strand it.
            Err(ClusterError::Api { code: 404, message, .. }) => {
                tracing::info!(what, %message, "not served; planning without it");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn send_eviction(&self, pod: &PodRef, dry_run: bool) -> Result<EvictOutcome, ClusterError> {
        let object = format!("pod {pod}");
        let transport =
            |message: String| ClusterError::Transport { operation: "evict".into(), object: object.clone(), message };
        let mut delete_options = json!({"preconditions": {"uid": pod.uid}});
        if dry_run {
            delete_options["dryRun"] = json!(["All"]);
        }
        // policy/v1 Eviction; no gracePeriodSeconds: the pod's own terminationGracePeriodSeconds applies.
        let body = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod.name, "namespace": pod.namespace},
            "deleteOptions": delete_options,
        });
        let url = format!(
            "/api/v1/namespaces/{}/pods/{}/eviction{}",
            pod.namespace,
            pod.name,
            if dry_run { "?dryRun=All" } else { "" }
        );
        let bytes = serde_json::to_vec(&body).map_err(|e| transport(format!("encoding the Eviction: {e}")))?;
        let req = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(kube::client::Body::from(bytes))
            .map_err(|e| transport(format!("building the request: {e}")))?;
        let res = self.client.send(req).await.map_err(|e| transport(e.to_string()))?;
        let code = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = res.into_body().collect_bytes().await.map_err(|e| transport(format!("reading the answer: {e}")))?;
        // Not every error is a Status: API Priority and Fairness answers 429 with plain text.
        let status = serde_json::from_slice::<Status>(&body).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            Status::failure(&text, "").with_code(code)
        });
        classify_eviction(code, &status, retry_after).ok_or_else(|| ClusterError::Api {
            operation: "evict".into(),
            object,
            code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        })
    }
}

/// Classifies the Eviction API's answer (semantics.md §2.2). `retry_after` is the `Retry-After` header; the
/// Status's `details.retryAfterSeconds` is used when the header is absent. `None`: not an eviction outcome
/// (400, 401, 405, 422 ...), reported as an API error.
pub fn classify_eviction(code: u16, status: &Status, retry_after: Option<Duration>) -> Option<EvictOutcome> {
    let details = status.details.as_ref();
    let cause = |reason: &str| details.and_then(|d| d.causes.iter().find(|c| c.reason == reason));
    let retry_after = retry_after.or_else(|| {
        details.map(|d| d.retry_after_seconds).filter(|s| *s > 0).map(|s| Duration::from_secs(u64::from(s)))
    });
    Some(match code {
        200..=299 => EvictOutcome::Evicted,
        404 => EvictOutcome::Gone,
        // A conflict updating the PDB's status (its retries exhausted) is not about our pod: try again.
        409 if details.is_some_and(|d| d.kind == "poddisruptionbudgets") => EvictOutcome::Throttled { retry_after },
        // The UID precondition failed: the pod we meant is gone (a new one may carry its name).
        409 => EvictOutcome::Gone,
        429 => match cause("DisruptionBudget") {
            Some(c) => EvictOutcome::Budget {
                message: if c.message.is_empty() { status.message.clone() } else { c.message.clone() },
                retry_after,
            },
            None => EvictOutcome::Throttled { retry_after },
        },
        403 if cause("NamespaceTerminating").is_some() => EvictOutcome::NamespaceTerminating,
        403 => EvictOutcome::Refused { code, message: status.message.clone() },
        // The multiple-PDB 500 is a configuration problem; any other 5xx is the server having a bad moment.
        500 if status.message.contains("more than one PodDisruptionBudget") => {
            EvictOutcome::Refused { code, message: status.message.clone() }
        }
        500..=599 => EvictOutcome::Transient { message: status.message.clone(), retry_after },
        _ => return None,
    })
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn snapshot(&self) -> Result<Snapshot, ClusterError> {
        let (nodes, pods, pdbs, deploys, sets, rss, version, pvcs, pvs) = tokio::try_join!(
            self.list_all("nodes", |n: Node| NodeInfo::from(&n)),
            self.list_all("pods", |p: SlimPod| PodInfo::from(&p.0)),
            self.list_all("poddisruptionbudgets", |p: PodDisruptionBudget| PdbInfo::from(&p)),
            self.list_all("deployments", |d: Deployment| ControllerInfo::from(&d)),
            self.list_all("statefulsets", |s: StatefulSet| ControllerInfo::from(&s)),
            self.list_all("replicasets", |r: ReplicaSet| ControllerInfo::from(&r)),
            async { self.client.apiserver_version().await.map_err(|e| cluster_error("get", "/version", e)) },
            self.list_optional::<PersistentVolumeClaim>("persistentvolumeclaims"),
            self.list_optional::<PersistentVolume>("persistentvolumes"),
        )?;
        Ok(Snapshot::from_reduced(Reduced {
            server_version: version.git_version,
            nodes,
            pods,
            pdbs,
            controllers: deploys.into_iter().chain(sets).chain(rss).collect(),
            volumes: pvcs.zip(pvs).map(|(c, v)| volume_infos(&c, &v)),
        }))
    }

    async fn set_cordon(&self, node: &str, cordon: bool, run_id: &str) -> Result<(), ClusterError> {
        let api: Api<Node> = Api::all(self.client.clone());
        // Setting a field to its current value changes nothing: repeating either call is harmless.
        let patch = if cordon {
            json!({"metadata": {"labels": {RUN_LABEL: run_id}}, "spec": {"unschedulable": true}})
        } else {
            json!({"metadata": {"labels": {RUN_LABEL: null}}, "spec": {"unschedulable": null}})
        };
        let op = if cordon { "cordon" } else { "uncordon" };
        let patch = Patch::Strategic(patch);
        let ppatch = PatchParams::default();
        transient(op, || api.patch(node, &ppatch, &patch))
            .await
            .map_err(|e| cluster_error(op, &format!("node {node}"), e))?;
        Ok(())
    }

    async fn evict(&self, pod: &PodRef, dry_run: bool) -> Result<EvictOutcome, ClusterError> {
        self.send_eviction(pod, dry_run).await
    }

    async fn delete_pod(&self, pod: &PodRef) -> Result<(), ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        // No gracePeriodSeconds: the pod's own grace period applies.
        let dp = DeleteParams {
            preconditions: Some(Preconditions { uid: Some(pod.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        match transient("deleting a pod", || api.delete(&pod.name, &dp)).await {
            Ok(_) => Ok(()),
            // Already gone, or the name now belongs to another pod: the pod we meant is not there any more.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(cluster_error("delete", &format!("pod {pod}"), e)),
        }
    }

    async fn live(&self) -> Result<Arc<dyn LiveView>, ClusterError> {
        let cache = self.live.get_or_try_init(|| LiveCache::start(self.client.clone(), SYNC_TIMEOUT)).await?;
        match cache.stopped() {
            Some(refused) => Err(refused),
            None => Ok(cache.clone()),
        }
    }

    async fn annotate_node(&self, node: &str, key: &str, value: Option<&str>) -> Result<(), ClusterError> {
        super::events::annotate_node(&self.client, node, key, value).await
    }

    async fn record_event(&self, event: &EventRecord) -> Result<(), ClusterError> {
        super::events::create(&self.client, event).await
    }
}

#[cfg(test)]
mod tests {
    use kube::core::response::{StatusCause, StatusDetails};

    use super::*;

    fn status(code: u16, message: &str, details: Option<StatusDetails>) -> Status {
        let mut s = Status::failure(message, "").with_code(code);
        s.details = details;
        s
    }

    fn details(kind: &str, causes: Vec<StatusCause>, retry_after_seconds: u32) -> Option<StatusDetails> {
        Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: kind.into(),
            uid: String::new(),
            causes,
            retry_after_seconds,
        })
    }

    fn causes(reason: &str, message: &str, retry: u32) -> Option<StatusDetails> {
        details("", vec![StatusCause { reason: reason.into(), message: message.into(), field: String::new() }], retry)
    }

    const VIOLATE: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

    #[test]
    fn success_and_gone() {
        assert_eq!(classify_eviction(201, &Status::success(), None), Some(EvictOutcome::Evicted));
        assert_eq!(classify_eviction(200, &Status::success(), None), Some(EvictOutcome::Evicted));
        assert_eq!(
            classify_eviction(404, &status(404, "pods \"web-1\" not found", None), None),
            Some(EvictOutcome::Gone)
        );
        let uid = "Precondition failed: UID in precondition: a, UID in object meta: b";
        assert_eq!(classify_eviction(409, &status(409, uid, None), None), Some(EvictOutcome::Gone));
    }

    #[test]
    fn budget_with_the_causes_message_and_retry_after() {
        let msg = "The disruption budget web needs 2 healthy pods and has 2 currently";
        let s = status(429, VIOLATE, causes("DisruptionBudget", msg, 0));
        assert_eq!(
            classify_eviction(429, &s, None),
            Some(EvictOutcome::Budget { message: msg.into(), retry_after: None })
        );
        // Not yet processed by the disruption controller: retryAfterSeconds in the body, header too.
        let msg = "The disruption budget web is still being processed by the server.";
        let s = status(429, VIOLATE, causes("DisruptionBudget", msg, 10));
        let want = Some(EvictOutcome::Budget { message: msg.into(), retry_after: Some(Duration::from_secs(10)) });
        assert_eq!(classify_eviction(429, &s, None), want);
        // The header wins over the body.
        let want = Some(EvictOutcome::Budget { message: msg.into(), retry_after: Some(Duration::from_secs(3)) });
        assert_eq!(classify_eviction(429, &s, Some(Duration::from_secs(3))), want);
    }

    #[test]
    fn throttling_is_not_a_budget() {
        let s = status(429, "Too many requests, please try again later.", None);
        assert_eq!(
            classify_eviction(429, &s, Some(Duration::from_secs(7))),
            Some(EvictOutcome::Throttled { retry_after: Some(Duration::from_secs(7)) })
        );
        let s = status(429, "Too many requests", details("", vec![], 2));
        assert_eq!(
            classify_eviction(429, &s, None),
            Some(EvictOutcome::Throttled { retry_after: Some(Duration::from_secs(2)) })
        );
        assert_eq!(
            classify_eviction(429, &status(429, "", None), None),
            Some(EvictOutcome::Throttled { retry_after: None })
        );
        // PDB status update conflicts (retries exhausted): retry, the pod is still there.
        let s = status(
            409,
            "Operation cannot be fulfilled on poddisruptionbudgets.policy \"web\"",
            details("poddisruptionbudgets", vec![], 0),
        );
        assert_eq!(classify_eviction(409, &s, None), Some(EvictOutcome::Throttled { retry_after: None }));
    }

    #[test]
    fn configuration_problems_are_refused_with_the_servers_message() {
        let multi = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";
        assert_eq!(
            classify_eviction(500, &status(500, multi, None), None),
            Some(EvictOutcome::Refused { code: 500, message: multi.into() })
        );
        let neg = "pdb disruptions allowed is negative";
        assert_eq!(
            classify_eviction(403, &status(403, neg, None), None),
            Some(EvictOutcome::Refused { code: 403, message: neg.into() })
        );
        let term = "pods \"web-1\" is forbidden: unable to create new content in namespace shop because it is being terminated";
        let s = status(403, term, causes("NamespaceTerminating", term, 0));
        assert_eq!(classify_eviction(403, &s, None), Some(EvictOutcome::NamespaceTerminating));
    }

    #[test]
    fn other_server_errors_are_transient() {
        let s = status(500, "etcdserver: request timed out", None);
        assert_eq!(
            classify_eviction(500, &s, Some(Duration::from_secs(2))),
            Some(EvictOutcome::Transient {
                message: "etcdserver: request timed out".into(),
                retry_after: Some(Duration::from_secs(2))
            })
        );
        assert!(matches!(classify_eviction(503, &status(503, "x", None), None), Some(EvictOutcome::Transient { .. })));
    }

    #[test]
    fn other_codes_are_api_errors() {
        for code in [400, 401, 405, 422] {
            assert_eq!(classify_eviction(code, &status(code, "x", None), None), None, "{code}");
        }
    }
}
