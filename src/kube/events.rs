//! Writing Kubernetes Events (core/v1, which `kubectl describe` and `kubectl get events` show) and node
//! annotations for the [`crate::ports::Cluster`] port.

use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::errors::cluster_error;
use super::retry::transient;
use crate::ports::ClusterError;
use crate::ports::cluster::{EventObject, EventRecord};

/// The Events' `source.component` and `reportingComponent`.
pub const COMPONENT: &str = "poolshift";

/// Events about cluster-scoped objects (nodes) go to this namespace, as the kubelet's do.
const NODE_EVENTS_NAMESPACE: &str = "default";

/// Makes Event names unique within this process (with the time, across processes).
static SEQ: AtomicU64 = AtomicU64::new(0);

/// The Event object for `rec`, written at `now`.
pub fn event_for(rec: &EventRecord, now: jiff::Timestamp) -> Event {
    let (namespace, reference, object_name) = match &rec.object {
        EventObject::Node { name, uid } => (
            NODE_EVENTS_NAMESPACE.to_string(),
            ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(name.clone()),
                uid: uid.clone(),
                ..Default::default()
            },
            name.clone(),
        ),
        EventObject::ConfigMap { namespace, name } => (
            namespace.clone(),
            ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("ConfigMap".into()),
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            name.clone(),
        ),
    };
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("{object_name}.{:x}{seq:04x}", now.as_nanosecond() as u64);
    Event {
        metadata: ObjectMeta { name: Some(name), namespace: Some(namespace), ..Default::default() },
        involved_object: reference,
        reason: Some(rec.reason.clone()),
        message: Some(rec.message.clone()),
        type_: Some(if rec.warning { "Warning" } else { "Normal" }.into()),
        action: Some(rec.action.clone()),
        source: Some(EventSource { component: Some(COMPONENT.into()), host: None }),
        reporting_component: Some(COMPONENT.into()),
        reporting_instance: Some(rec.instance.clone()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        ..Default::default()
    }
}

pub async fn create(client: &Client, rec: &EventRecord) -> Result<(), ClusterError> {
    let event = event_for(rec, jiff::Timestamp::now());
    let namespace = event.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let pp = PostParams::default();
    transient("creating an event", || api.create(&pp, &event))
        .await
        .map_err(|e| cluster_error("create", &format!("event {} in {namespace}", rec.reason), e))?;
    Ok(())
}

pub async fn annotate_node(client: &Client, node: &str, key: &str, value: Option<&str>) -> Result<(), ClusterError> {
    let api: Api<Node> = Api::all(client.clone());
    let patch = Patch::Merge(json!({"metadata": {"annotations": {key: value}}}));
    let pp = PatchParams::default();
    transient("annotating a node", || api.patch(node, &pp, &patch))
        .await
        .map_err(|e| cluster_error("patch", &format!("node {node}"), e))?;
    Ok(())
}
