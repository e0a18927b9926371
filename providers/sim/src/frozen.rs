//! The freeze record: a pool's autoscaling settings from before its first freeze, kept in the simulated
//! cluster itself as ConfigMap `kube-system/poolshift-frozen-<pool>` (key `autoscaling.json`: the trait's
//! `AutoscalingSettings` as JSON). kubesim's pools have nowhere else to keep it (only their size and
//! autoscaling can change). The exec reference plugin `poolshift-provider-kubesim` reads and writes the same
//! record, so either can restore what the other froze.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use poolshift_provider_api::{AutoscalingSettings, ErrorKind, ProviderError};

use crate::KIND;

pub const NAMESPACE: &str = "kube-system";
pub const KEY: &str = "autoscaling.json";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
const MANAGED_BY: &str = "poolshift";

/// The record's ConfigMap name for `pool`.
pub fn name(pool: &str) -> String {
    format!("poolshift-frozen-{pool}")
}

pub(crate) struct Records {
    api: Api<ConfigMap>,
}

fn kube_error(op: &str, verb: &str, e: kube::Error) -> ProviderError {
    let kind = match &e {
        kube::Error::Api(s) => match s.code {
            401 | 403 => ErrorKind::Permission,
            409 => ErrorKind::Conflict,
            400 | 422 => ErrorKind::Invalid,
            429 | 500..=599 => ErrorKind::Transient,
            _ => ErrorKind::Failed,
        },
        kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => ErrorKind::Failed,
        _ => ErrorKind::Transient,
    };
    ProviderError::new(KIND, op, kind, format!("{verb} the freeze record (configmaps in {NAMESPACE}): {e}"))
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

impl Records {
    pub fn new(client: kube::Client) -> Self {
        Self { api: Api::namespaced(client, NAMESPACE) }
    }

    /// The original settings recorded for `pool`, if it is frozen by poolshift.
    pub async fn get(&self, op: &str, pool: &str) -> Result<Option<AutoscalingSettings>, ProviderError> {
        let cm = self.api.get_opt(&name(pool)).await.map_err(|e| kube_error(op, "get", e))?;
        let Some(cm) = cm else { return Ok(None) };
        let text = cm.data.as_ref().and_then(|d| d.get(KEY)).ok_or_else(|| {
            ProviderError::new(
                KIND,
                op,
                ErrorKind::Failed,
                format!("ConfigMap {NAMESPACE}/{} has no {KEY}", name(pool)),
            )
        })?;
        serde_json::from_str(text).map(Some).map_err(|e| {
            ProviderError::new(
                KIND,
                op,
                ErrorKind::Failed,
                format!("ConfigMap {NAMESPACE}/{}: {KEY} is not an autoscaling setting: {e}", name(pool)),
            )
        })
    }

    /// Records `prior` for `pool` unless a record exists; returns the settings recorded (the existing ones
    /// when another call recorded first).
    pub async fn put(
        &self,
        op: &str,
        pool: &str,
        prior: &AutoscalingSettings,
    ) -> Result<AutoscalingSettings, ProviderError> {
        let text =
            serde_json::to_string(prior).map_err(|e| ProviderError::new(KIND, op, ErrorKind::Failed, e.to_string()))?;
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name(pool)),
                namespace: Some(NAMESPACE.to_string()),
                labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(KEY.to_string(), text)])),
            ..Default::default()
        };
        match self.api.create(&PostParams::default(), &cm).await {
            Ok(_) => Ok(prior.clone()),
            Err(e) if is_status(&e, 409) => self.get(op, pool).await?.ok_or_else(|| {
                ProviderError::new(KIND, op, ErrorKind::Transient, format!("the freeze record of {pool} came and went"))
            }),
            Err(e) => Err(kube_error(op, "create", e)),
        }
    }

    /// Removes `pool`'s record; a missing one is removed already.
    pub async fn delete(&self, op: &str, pool: &str) -> Result<(), ProviderError> {
        match self.api.delete(&name(pool), &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(kube_error(op, "delete", e)),
        }
    }
}
