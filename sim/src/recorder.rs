//! The invariant recorder: what an upgrade must never do, counted as it happens.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Recorder {
    /// API requests by `verb resource` (`create pods/eviction`), with dry-run requests counted apart.
    pub requests: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn api_request(&mut self, verb: &str, resource: &str, dry_run: bool) {
        let key = if dry_run { format!("{verb} {resource} (dry-run)") } else { format!("{verb} {resource}") };
        *self.requests.entry(key).or_default() += 1;
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    pub fn pod_removed(&mut self, _pod: &Arc<Pod>) {}

    pub fn client_deleted_pod(&mut self, _name: &str, _ns: &str) {}

    /// A node object was removed while `workload_pods` non-DaemonSet, non-mirror, unfinished pods were bound to it.
    pub fn node_removed(&mut self, _node: &str, _pool: Option<&str>, _workload_pods: usize) {}

    pub fn report(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
