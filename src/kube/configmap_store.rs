//! [`ConfigMapStore`]: checkpoints in a ConfigMap (`poolshift-system/poolshift-<cluster>-<pool>`, data key
//! `checkpoint.json`), written with resourceVersion compare-and-swap.

use std::io::{Read, Write};

use async_trait::async_trait;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use super::errors::{api_code, describe};
use super::retry::transient;
use super::{MANAGED_BY, MANAGED_BY_LABEL, SYSTEM_NAMESPACE, create_namespaced, object_name};
use crate::model::checkpoint::{CHECKPOINT_SCHEMA, Checkpoint};
use crate::ports::{CheckpointStore, StoreError, Stored};
use crate::state::decode_checkpoint;

pub const DATA_KEY: &str = "checkpoint.json";
/// Where a checkpoint too large for plain JSON goes, gzip-compressed (`binaryData`).
pub const GZIP_KEY: &str = "checkpoint.json.gz";
/// What the API server accepts in one ConfigMap's data and binaryData together.
const MAX_CONFIGMAP_BYTES: usize = 1024 * 1024;
/// Plain JSON up to this size (readable with kubectl); above it, gzip. Leaves room for the metadata.
const PLAIN_LIMIT: usize = 900 * 1024;
/// A compressed checkpoint that inflates beyond this is refused as corrupt (not read into memory).
const MAX_INFLATED_BYTES: u64 = 512 * 1024 * 1024;

pub struct ConfigMapStore {
    client: Client,
    namespace: String,
    name: String,
    cluster: String,
    pool: String,
}

impl ConfigMapStore {
    pub fn new(client: Client, cluster: &str, pool: &str) -> Self {
        Self {
            client,
            namespace: SYSTEM_NAMESPACE.to_string(),
            name: object_name(cluster, pool),
            cluster: cluster.to_string(),
            pool: pool.to_string(),
        }
    }

    /// Another namespace than `poolshift-system`.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_string();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn api(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn io(&self, what: &str, e: &kube::Error) -> StoreError {
        StoreError::Io { location: self.location(), message: format!("{what}: {}", describe(e)) }
    }

    fn conflict(&self, expected: Option<&str>) -> StoreError {
        StoreError::Conflict { location: self.location(), expected: expected.unwrap_or("none (new)").to_string() }
    }

    async fn get(&self) -> Result<Option<ConfigMap>, StoreError> {
        let api = self.api();
        transient("reading the checkpoint", || api.get_opt(&self.name)).await.map_err(|e| self.io("reading", &e))
    }

    /// The checkpoint inside a ConfigMap (plain or gzip-compressed), schema-checked.
    fn parse(&self, cm: &ConfigMap) -> Result<Checkpoint, StoreError> {
        let corrupt = |message: String| StoreError::Corrupt { location: self.location(), message };
        if let Some(text) = cm.data.as_ref().and_then(|d| d.get(DATA_KEY)) {
            return decode_checkpoint(&self.location(), text);
        }
        let Some(gz) = cm.binary_data.as_ref().and_then(|d| d.get(GZIP_KEY)) else {
            return Err(corrupt(format!("neither data key {DATA_KEY} nor binaryData key {GZIP_KEY}")));
        };
        let mut text = String::new();
        GzDecoder::new(gz.0.as_slice())
            .take(MAX_INFLATED_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| corrupt(format!("{GZIP_KEY}: {e}")))?;
        if text.len() as u64 > MAX_INFLATED_BYTES {
            return Err(corrupt(format!("{GZIP_KEY} inflates beyond {MAX_INFLATED_BYTES} bytes")));
        }
        decode_checkpoint(&self.location(), &text)
    }

    /// The `seq` of the checkpoint inside a ConfigMap. A checkpoint of this version's schema is not parsed
    /// beyond its first fields (it holds the whole plan: tens of megabytes for a large pool, and this runs
    /// before every save); anything else is parsed whole, for the error [`Self::parse`] gives.
    fn stored_seq(&self, cm: &ConfigMap) -> Result<u64, StoreError> {
        #[derive(serde::Deserialize)]
        struct Head {
            schema: u32,
            seq: u64,
        }
        let head = if let Some(text) = cm.data.as_ref().and_then(|d| d.get(DATA_KEY)) {
            serde_json::from_str::<Head>(text).ok()
        } else if let Some(gz) = cm.binary_data.as_ref().and_then(|d| d.get(GZIP_KEY)) {
            // Inflated as it is read: the text is never held.
            serde_json::from_reader::<_, Head>(GzDecoder::new(gz.0.as_slice()).take(MAX_INFLATED_BYTES)).ok()
        } else {
            None
        };
        match head {
            Some(h) if h.schema == CHECKPOINT_SCHEMA => Ok(h.seq),
            _ => self.parse(cm).map(|cp| cp.seq),
        }
    }

    fn object(&self, cp: &Checkpoint, resource_version: Option<&str>) -> Result<ConfigMap, StoreError> {
        let io = |message: String| StoreError::Io { location: self.location(), message };
        // Encoded straight into its destination: a large checkpoint (the whole plan, tens of megabytes of
        // JSON for a large pool) is compressed as it is written and never held whole as text.
        let mut sink = Spill::default();
        serde_json::to_writer(&mut sink, cp).map_err(|e| io(format!("encoding: {e}")))?;
        let written = sink.written;
        let mut cm = ConfigMap::default();
        match sink.into_encoded().map_err(|e| io(format!("compressing: {e}")))? {
            Encoded::Plain(json) => {
                let json = String::from_utf8(json).map_err(|e| io(format!("encoding: {e}")))?;
                cm.data = Some([(DATA_KEY.to_string(), json)].into());
            }
            Encoded::Gzip(gz) => {
                if gz.len() > MAX_CONFIGMAP_BYTES {
                    return Err(io(format!(
                        "the checkpoint is {written} bytes ({} compressed), more than a ConfigMap holds (1 MiB); use --state-file",
                        gz.len()
                    )));
                }
                cm.binary_data = Some([(GZIP_KEY.to_string(), ByteString(gz))].into());
            }
        }
        cm.metadata.name = Some(self.name.clone());
        cm.metadata.namespace = Some(self.namespace.clone());
        cm.metadata.resource_version = resource_version.map(str::to_string);
        cm.metadata.labels = Some([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())].into());
        cm.metadata.annotations = Some(
            [
                ("poolshift.io/cluster".to_string(), self.cluster.clone()),
                ("poolshift.io/pool".to_string(), self.pool.clone()),
                ("poolshift.io/run-id".to_string(), cp.run_id.clone()),
            ]
            .into(),
        );
        Ok(cm)
    }
}

/// A checkpoint's encoding: plain JSON up to [`PLAIN_LIMIT`] bytes, gzip beyond.
enum Encoded {
    Plain(Vec<u8>),
    Gzip(Vec<u8>),
}

/// Takes the JSON as it is written: kept plain while it stays within [`PLAIN_LIMIT`], then (what was kept
/// included) compressed as it comes.
#[derive(Default)]
struct Spill {
    plain: Vec<u8>,
    gzip: Option<GzEncoder<Vec<u8>>>,
    written: usize,
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.gzip.is_none() && self.plain.len() + buf.len() > PLAIN_LIMIT {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(&self.plain)?;
            self.plain = Vec::new();
            self.gzip = Some(gz);
        }
        match &mut self.gzip {
            Some(gz) => gz.write_all(buf)?,
            None => self.plain.extend_from_slice(buf),
        }
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Spill {
    fn into_encoded(self) -> std::io::Result<Encoded> {
        match self.gzip {
            Some(gz) => gz.finish().map(Encoded::Gzip),
            None => Ok(Encoded::Plain(self.plain)),
        }
    }
}

#[async_trait]
impl CheckpointStore for ConfigMapStore {
    fn location(&self) -> String {
        format!("configmap {}/{}", self.namespace, self.name)
    }

    async fn load(&self) -> Result<Option<Stored>, StoreError> {
        let Some(cm) = self.get().await? else { return Ok(None) };
        let checkpoint = self.parse(&cm)?;
        let version = cm.metadata.resource_version.clone().unwrap_or_default();
        Ok(Some(Stored { checkpoint, version }))
    }

    /// The ConfigMap's resourceVersion, read as metadata only (the checkpoint itself is not transferred).
    async fn version(&self) -> Result<Option<String>, StoreError> {
        let api = self.api();
        let meta = transient("reading the checkpoint's version", || api.get_metadata_opt(&self.name))
            .await
            .map_err(|e| self.io("reading", &e))?;
        Ok(meta.map(|m| m.metadata.resource_version.unwrap_or_default()))
    }

    async fn save(&self, cp: &Checkpoint, expected: Option<&str>) -> Result<String, StoreError> {
        // Never replace a newer checkpoint, whatever the caller believes the version is. A record of another
        // schema is refused too; an unreadable one may be replaced, under the compare-and-swap.
        if let Some(cm) = self.get().await? {
            match self.stored_seq(&cm) {
                Ok(stored) if stored >= cp.seq => {
                    return Err(StoreError::Stale { location: self.location(), stored, writing: cp.seq });
                }
                Err(e @ StoreError::Schema { .. }) => return Err(e),
                _ => {}
            }
        }
        let api = self.api();
        let written = match expected {
            None => {
                let obj = self.object(cp, None)?;
                create_namespaced(&self.client, &self.namespace, "writing the checkpoint", &obj).await
            }
            Some(rv) => {
                let obj = self.object(cp, Some(rv))?;
                let pp = PostParams::default();
                transient("writing the checkpoint", || api.replace(&self.name, &pp, &obj)).await
            }
        };
        match written {
            Ok(cm) => Ok(cm.metadata.resource_version.unwrap_or_default()),
            // 409: created meanwhile, or changed since `expected`; 404: deleted since `expected`.
            Err(e) if api_code(&e) == Some(409) || (expected.is_some() && api_code(&e) == Some(404)) => {
                Err(self.conflict(expected))
            }
            Err(e) => Err(self.io("writing", &e)),
        }
    }

    async fn delete(&self) -> Result<(), StoreError> {
        let api = self.api();
        let dparams = DeleteParams::default();
        match transient("deleting the checkpoint", || api.delete(&self.name, &dparams)).await {
            Ok(_) => Ok(()),
            Err(e) if api_code(&e) == Some(404) => Ok(()),
            Err(e) => Err(self.io("deleting", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(bytes: usize) -> (usize, Encoded) {
        let text = "x".repeat(bytes);
        let mut sink = Spill::default();
        // Written in pieces, as serde_json writes.
        for chunk in text.as_bytes().chunks(4096) {
            sink.write_all(chunk).expect("written");
        }
        let written = sink.written;
        (written, sink.into_encoded().expect("encoded"))
    }

    #[test]
    fn small_checkpoints_stay_plain_and_large_ones_are_compressed_as_they_are_written() {
        let (n, small) = encode(PLAIN_LIMIT);
        assert_eq!(n, PLAIN_LIMIT);
        assert!(matches!(&small, Encoded::Plain(p) if p.len() == PLAIN_LIMIT));
        let (n, large) = encode(PLAIN_LIMIT * 3);
        assert_eq!(n, PLAIN_LIMIT * 3);
        let Encoded::Gzip(gz) = large else { panic!("a large checkpoint is compressed") };
        let mut back = String::new();
        GzDecoder::new(gz.as_slice()).read_to_string(&mut back).expect("inflates");
        assert_eq!(back, "x".repeat(PLAIN_LIMIT * 3), "what was kept plain before the spill comes first");
    }
}
