//! [`MemoryStore`]: a [`CheckpointStore`] in memory, with the ConfigMap store's semantics
//! (`crate::kube::configmap_store`): the version is a resourceVersion that changes on every write;
//! a save is refused as [`StoreError::Stale`] when the stored `seq` is not older than the one written
//! (checked first, whatever the caller expects), and as [`StoreError::Conflict`] when the record was
//! created, changed or deleted since the expected version. The record is kept as the JSON a ConfigMap would
//! hold and decoded on every read, so a checkpoint that does not survive serialisation fails here too.
//!
//! With a [`Script`], calls fail as scripted: operations `load`, `version`, `save` (argument `seq N`) and
//! `delete`; [`Fault::Conflict`] is a conflict, any other fault an I/O error. Every successful save's seq is
//! logged ([`MemoryStore::saved_seqs`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::script::{Fault, Script};
use crate::model::checkpoint::Checkpoint;
use crate::ports::{CheckpointStore, StoreError, Stored};
use crate::state::decode_checkpoint;

#[derive(Debug, Default)]
struct State {
    /// The stored JSON and its resourceVersion.
    record: Option<(String, String)>,
    /// The last resourceVersion handed out (resourceVersions never repeat, even across a delete).
    last_version: u64,
    saved: Vec<u64>,
}

#[derive(Debug)]
pub struct MemoryStore {
    location: String,
    state: Mutex<State>,
    script: Arc<Script>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store whose calls all pass.
    pub fn new() -> Self {
        Self::scripted(Arc::new(Script::new()))
    }

    /// An empty store whose calls fail as `script` says.
    pub fn scripted(script: Arc<Script>) -> Self {
        Self { location: "memory checkpoint".to_string(), state: Mutex::default(), script }
    }

    pub fn script(&self) -> &Arc<Script> {
        &self.script
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The seq of every successful save, in order.
    pub fn saved_seqs(&self) -> Vec<u64> {
        self.state().saved.clone()
    }

    fn error(&self, fault: &Fault, what: &str) -> StoreError {
        match fault {
            Fault::Conflict => StoreError::Conflict { location: self.location(), expected: "(scripted)".into() },
            f => StoreError::Io { location: self.location(), message: format!("{what}: {}", f.describe()) },
        }
    }

    fn read(&self) -> Result<Option<Stored>, StoreError> {
        let record = self.state().record.clone();
        let Some((json, version)) = record else { return Ok(None) };
        Ok(Some(Stored { checkpoint: decode_checkpoint(&self.location(), &json)?, version }))
    }

    fn write(&self, cp: &Checkpoint, expected: Option<&str>) -> Result<String, StoreError> {
        let json = serde_json::to_string(cp)
            .map_err(|e| StoreError::Io { location: self.location(), message: format!("encoding: {e}") })?;
        let mut state = self.state();
        if let Some((stored, _)) = &state.record {
            match decode_checkpoint(&self.location(), stored) {
                Ok(s) if s.seq >= cp.seq => {
                    return Err(StoreError::Stale { location: self.location(), stored: s.seq, writing: cp.seq });
                }
                Err(e @ StoreError::Schema { .. }) => return Err(e),
                _ => {}
            }
        }
        let current = state.record.as_ref().map(|(_, v)| v.as_str());
        if current != expected {
            return Err(StoreError::Conflict {
                location: self.location(),
                expected: expected.unwrap_or("none (new)").to_string(),
            });
        }
        state.last_version += 1;
        let version = state.last_version.to_string();
        state.record = Some((json, version.clone()));
        state.saved.push(cp.seq);
        Ok(version)
    }
}

#[async_trait]
impl CheckpointStore for MemoryStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn load(&self) -> Result<Option<Stored>, StoreError> {
        let verdict = self.script.call("load", "");
        verdict.run(|| async { self.read() }, |f| Err(self.error(&f, "reading"))).await
    }

    async fn version(&self) -> Result<Option<String>, StoreError> {
        let verdict = self.script.call("version", "");
        let read = || async { Ok(self.state().record.as_ref().map(|(_, v)| v.clone())) };
        verdict.run(read, |f| Err(self.error(&f, "reading"))).await
    }

    async fn save(&self, cp: &Checkpoint, expected: Option<&str>) -> Result<String, StoreError> {
        let verdict = self.script.call("save", format!("seq {}", cp.seq));
        verdict.run(|| async { self.write(cp, expected) }, |f| Err(self.error(&f, "writing"))).await
    }

    async fn delete(&self) -> Result<(), StoreError> {
        let verdict = self.script.call("delete", "");
        let delete = || async {
            self.state().record = None;
            Ok(())
        };
        verdict.run(delete, |f| Err(self.error(&f, "deleting"))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(seq: u64) -> Checkpoint {
        let plan = serde_json::from_str(include_str!("../../../tests/golden/demo.json")).expect("the golden plan");
        let mut cp = Checkpoint::new("run-1", plan, "2026-12-01T10:00:00Z");
        cp.seq = seq;
        cp
    }

    #[tokio::test]
    async fn compare_and_swap_on_the_version_as_a_configmap() {
        let store = MemoryStore::new();
        assert!(store.load().await.unwrap().is_none());
        let v1 = store.save(&checkpoint(1), None).await.unwrap();
        assert_eq!(store.version().await.unwrap().as_deref(), Some(v1.as_str()));
        // Created meanwhile: a create conflicts.
        let err = store.save(&checkpoint(2), None).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        let v2 = store.save(&checkpoint(2), Some(&v1)).await.unwrap();
        assert_ne!(v1, v2);
        // Written since v1 was read.
        let err = store.save(&checkpoint(3), Some(&v1)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        // Never replaced by an older or equal seq, whatever the expected version.
        let err = store.save(&checkpoint(2), Some(&v2)).await.unwrap_err();
        assert!(matches!(err, StoreError::Stale { stored: 2, writing: 2, .. }), "{err}");
        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!((loaded.checkpoint.seq, loaded.version), (2, v2.clone()));
        // Deleted since it was read: a replace conflicts; a new record gets a version never seen before.
        store.delete().await.unwrap();
        store.delete().await.unwrap();
        let err = store.save(&checkpoint(3), Some(&v2)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        let v3 = store.save(&checkpoint(1), None).await.unwrap();
        assert!(v3 != v1 && v3 != v2);
        assert_eq!(store.saved_seqs(), [1, 2, 1]);
    }

    #[tokio::test]
    async fn scripted_saves_fail_before_or_after_writing() {
        let script = Arc::new(Script::new());
        script.fail_nth("save", 2, Fault::transport("connection reset")).fail_nth_after("save", 3, Fault::Conflict);
        let store = MemoryStore::scripted(script.clone());
        let v1 = store.save(&checkpoint(1), None).await.unwrap();
        let err = store.save(&checkpoint(2), Some(&v1)).await.unwrap_err();
        assert!(matches!(&err, StoreError::Io { message, .. } if message.contains("connection reset")), "{err}");
        assert_eq!(store.load().await.unwrap().unwrap().checkpoint.seq, 1, "a failed save wrote nothing");
        let err = store.save(&checkpoint(2), Some(&v1)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        assert_eq!(store.load().await.unwrap().unwrap().checkpoint.seq, 2, "the answer was lost, not the write");
        assert_eq!(store.saved_seqs(), [1, 2]);
        assert_eq!(
            script.calls("save").iter().map(|c| c.arg.as_str()).collect::<Vec<_>>(),
            ["seq 1", "seq 2", "seq 2"]
        );
    }
}
