//! The pool record: ConfigMap `kwok-pool-<name>` holding kubesim's `PoolSpec` as JSON (`spec.json`), the
//! original autoscaling settings while frozen (`frozen.json`), and annotation `kwok.poolshift.io/deleting`
//! once deletion started.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubesim::cloud::{Autoscaling, PoolSpec};

pub(crate) const SPEC_KEY: &str = "spec.json";
pub(crate) const FROZEN_KEY: &str = "frozen.json";
pub(crate) const DELETING_ANNOTATION: &str = "kwok.poolshift.io/deleting";
pub(crate) const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub(crate) const MANAGED_BY: &str = "poolshift-provider-kwok";

/// The ConfigMap name of pool `pool`'s record.
pub(crate) fn config_map_name(pool: &str) -> String {
    format!("kwok-pool-{pool}")
}

/// A pool record as read from (or to be written to) its ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub spec: PoolSpec,
    /// The autoscaling settings before `freeze_autoscaling`, while frozen.
    pub frozen: Option<Autoscaling>,
    pub deleting: bool,
    /// The ConfigMap's metadata as read (name, namespace, resourceVersion ...); written back as is so that a
    /// replace conflicts when the record changed since it was read.
    pub meta: ObjectMeta,
}

impl Record {
    /// A new record of `spec` in `namespace`.
    pub fn new(namespace: &str, spec: PoolSpec) -> Self {
        let meta = ObjectMeta {
            name: Some(config_map_name(&spec.name)),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())])),
            ..Default::default()
        };
        Self { spec, frozen: None, deleting: false, meta }
    }

    /// The ConfigMap's `namespace/name`, for messages.
    pub fn object_name(&self) -> String {
        format!(
            "{}/{}",
            self.meta.namespace.as_deref().unwrap_or_default(),
            self.meta.name.as_deref().unwrap_or_default()
        )
    }

    /// Reads a record; the error says which ConfigMap and key is malformed.
    pub fn decode(cm: ConfigMap) -> Result<Self, String> {
        let meta = cm.metadata;
        let name = format!(
            "ConfigMap {}/{}",
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default()
        );
        let data = cm.data.unwrap_or_default();
        let spec_text = data.get(SPEC_KEY).ok_or_else(|| format!("{name} has no {SPEC_KEY}"))?;
        let spec: PoolSpec =
            serde_json::from_str(spec_text).map_err(|e| format!("{name}: {SPEC_KEY} is not a pool spec: {e}"))?;
        let frozen = match data.get(FROZEN_KEY) {
            Some(t) => Some(
                serde_json::from_str(t)
                    .map_err(|e| format!("{name}: {FROZEN_KEY} is not an autoscaling setting: {e}"))?,
            ),
            None => None,
        };
        let deleting = meta.annotations.as_ref().is_some_and(|a| a.contains_key(DELETING_ANNOTATION));
        Ok(Self { spec, frozen, deleting, meta })
    }

    /// The ConfigMap to write: the metadata as read, the data and the deleting annotation from the record.
    pub fn encode(&self) -> Result<ConfigMap, String> {
        let mut meta = self.meta.clone();
        let mut annotations = meta.annotations.take().unwrap_or_default();
        if self.deleting {
            annotations.insert(DELETING_ANNOTATION.to_string(), "true".to_string());
        } else {
            annotations.remove(DELETING_ANNOTATION);
        }
        meta.annotations = (!annotations.is_empty()).then_some(annotations);
        let mut data = BTreeMap::new();
        let spec = serde_json::to_string(&self.spec).map_err(|e| format!("cannot encode the pool spec: {e}"))?;
        data.insert(SPEC_KEY.to_string(), spec);
        if let Some(f) = &self.frozen {
            let f = serde_json::to_string(f).map_err(|e| format!("cannot encode the autoscaling settings: {e}"))?;
            data.insert(FROZEN_KEY.to_string(), f);
        }
        Ok(ConfigMap { metadata: meta, data: Some(data), ..Default::default() })
    }

    /// The record's content, without the metadata: what a write changes.
    pub fn content(&self) -> (&PoolSpec, Option<&Autoscaling>, bool) {
        (&self.spec, self.frozen.as_ref(), self.deleting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PoolSpec {
        serde_json::from_value(serde_json::json!({
            "name": "blue", "version": "1.31.4", "size": 2, "zones": ["eu-west-1a", "eu-west-1b"],
            "labels": {"team": "a"}, "taints": [{"key": "gpu", "effect": "NoSchedule"}],
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": 58},
            "autoscaling": {"enabled": true, "min": 1, "max": 5},
        }))
        .unwrap()
    }

    #[test]
    fn a_record_round_trips_through_its_config_map() {
        let mut r = Record::new("kwok-pools", spec());
        let cm = r.encode().unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("kwok-pool-blue"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("kwok-pools"));
        assert_eq!(cm.metadata.labels.as_ref().unwrap()[MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(cm.metadata.annotations, None);
        let data = cm.data.as_ref().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), [SPEC_KEY]);
        // The record is kubesim's PoolSpec, as kubesim writes it.
        let v: serde_json::Value = serde_json::from_str(&data[SPEC_KEY]).unwrap();
        assert_eq!(v["instance_type"], "sim.xlarge");
        assert_eq!(v["allocatable"]["memory"], "32Gi");
        assert_eq!(v["capacity_type"], "on-demand");
        assert_eq!(Record::decode(cm).unwrap(), r);

        r.frozen = Some(Autoscaling { enabled: true, min: 1, max: 5 });
        r.deleting = true;
        let cm = r.encode().unwrap();
        assert_eq!(cm.metadata.annotations.as_ref().unwrap()[DELETING_ANNOTATION], "true");
        assert_eq!(cm.data.as_ref().unwrap()[FROZEN_KEY], r#"{"enabled":true,"min":1,"max":5}"#);
        let back = Record::decode(cm).unwrap();
        assert_eq!(back.content(), r.content());
        assert!(back.deleting);

        // Thawed and no longer deleting: the key and the annotation go.
        r.frozen = None;
        r.deleting = false;
        let cm = r.encode().unwrap();
        assert!(!cm.data.as_ref().unwrap().contains_key(FROZEN_KEY));
        assert_eq!(cm.metadata.annotations, None);
    }

    #[test]
    fn a_malformed_record_names_the_config_map_and_key() {
        let mut cm = Record::new("kwok-pools", spec()).encode().unwrap();
        cm.data = None;
        assert_eq!(Record::decode(cm.clone()).unwrap_err(), "ConfigMap kwok-pools/kwok-pool-blue has no spec.json");
        cm.data = Some(BTreeMap::from([(SPEC_KEY.to_string(), r#"{"name":"blue"}"#.to_string())]));
        let e = Record::decode(cm.clone()).unwrap_err();
        assert!(
            e.starts_with("ConfigMap kwok-pools/kwok-pool-blue: spec.json is not a pool spec: missing field `version`"),
            "{e}"
        );
        let good = Record::new("kwok-pools", spec()).encode().unwrap().data.unwrap();
        let mut data = good.clone();
        data.insert(FROZEN_KEY.to_string(), "{\"enabled\":\"yes\"}".into());
        cm.data = Some(data);
        let e = Record::decode(cm).unwrap_err();
        assert!(e.contains("frozen.json is not an autoscaling setting"), "{e}");
    }
}
