//! [`FileStore`]: a checkpoint in a local JSON file (`--state-file`).
//!
//! Writes are atomic: the new record goes to a temporary file in the same directory, is fsynced, and is
//! renamed over the old one (then the directory is fsynced), so a crash leaves either the old or the new
//! checkpoint, never half of one. The version token is the stored `seq`. One writer at a time is assumed (the
//! Lease keeps a second agent out); a change made by someone else between our read and our rename is still
//! detected by reading the file again just before the rename.
//!
//! The files are small and local: plain blocking I/O, no thread hop.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::decode_checkpoint;
use crate::model::checkpoint::{CHECKPOINT_SCHEMA, Checkpoint};
use crate::ports::{CheckpointStore, StoreError, Stored};

/// Test hook: runs between writing the temporary file and the last check before the rename.
#[cfg(test)]
type Hook = Box<dyn Fn(&Path) + Send + Sync>;

pub struct FileStore {
    path: PathBuf,
    #[cfg(test)]
    before_rename: Option<Hook>,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            #[cfg(test)]
            before_rename: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, what: &str, e: &std::io::Error) -> StoreError {
        StoreError::Io { location: self.location(), message: format!("{what}: {e}") }
    }

    fn read(&self) -> Result<Option<Checkpoint>, StoreError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => decode_checkpoint(&self.location(), &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", &e)),
        }
    }

    /// The stored `seq` (the version token) without decoding the rest of the record; a record that does not
    /// parse is decoded in full, so that the error names the problem.
    fn stored_seq(&self) -> Result<Option<u64>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Head {
            schema: u32,
            seq: u64,
        }
        match std::fs::read(&self.path) {
            Ok(bytes) => match serde_json::from_slice::<Head>(&bytes) {
                Ok(head) if head.schema == CHECKPOINT_SCHEMA => Ok(Some(head.seq)),
                _ => self.read().map(|cp| cp.map(|c| c.seq)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", &e)),
        }
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn temp_path(&self) -> PathBuf {
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.dir().join(format!(".{name}.{}.{:016x}.tmp", std::process::id(), rand::random::<u64>()))
    }

    fn write_temp(&self, temp: &Path, cp: &Checkpoint) -> Result<(), StoreError> {
        let mut json = serde_json::to_vec_pretty(cp)
            .map_err(|e| StoreError::Io { location: self.location(), message: format!("encoding: {e}") })?;
        json.push(b'\n');
        let mut f = std::fs::File::create_new(temp).map_err(|e| self.io("creating a temporary file", &e))?;
        f.write_all(&json).map_err(|e| self.io("writing", &e))?;
        f.sync_all().map_err(|e| self.io("syncing", &e))
    }

    /// The rename is durable once the directory entry is on disk (not every platform can sync a directory).
    fn sync_dir(&self) {
        if let Ok(d) = std::fs::File::open(self.dir()) {
            let _ = d.sync_all();
        }
    }
}

#[async_trait]
impl CheckpointStore for FileStore {
    fn location(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn load(&self) -> Result<Option<Stored>, StoreError> {
        Ok(self.read()?.map(|checkpoint| Stored { version: checkpoint.seq.to_string(), checkpoint }))
    }

    async fn version(&self) -> Result<Option<String>, StoreError> {
        Ok(self.stored_seq()?.map(|seq| seq.to_string()))
    }

    async fn save(&self, cp: &Checkpoint, expected: Option<&str>) -> Result<String, StoreError> {
        let check = |current: Option<u64>| -> Result<(), StoreError> {
            if let Some(stored) = current
                && stored >= cp.seq
            {
                return Err(StoreError::Stale { location: self.location(), stored, writing: cp.seq });
            }
            if current.map(|seq| seq.to_string()).as_deref() != expected {
                return Err(StoreError::Conflict {
                    location: self.location(),
                    expected: expected.unwrap_or("none (new)").to_string(),
                });
            }
            Ok(())
        };
        check(self.stored_seq()?)?;
        let temp = self.temp_path();
        let result = self.write_temp(&temp, cp).and_then(|()| {
            #[cfg(test)]
            if let Some(hook) = &self.before_rename {
                hook(&self.path);
            }
            // Someone may have written since our first read: decide again just before replacing.
            check(self.stored_seq()?)?;
            std::fs::rename(&temp, &self.path).map_err(|e| self.io("renaming the temporary file", &e))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result?;
        self.sync_dir();
        Ok(cp.seq.to_string())
    }

    async fn delete(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("deleting", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use poolshift_provider_api::{CapacityType, PoolDescription, PoolSpec};

    use super::*;
    use crate::model::plan::{PLAN_SCHEMA, Target, UpgradePlan};
    use crate::model::policy::Policy;
    use crate::model::version::Version;

    fn checkpoint(seq: u64) -> Checkpoint {
        let blue = PoolDescription {
            name: "blue".into(),
            version: "1.30.2".into(),
            instance_types: vec![],
            zones: vec![],
            capacity_type: CapacityType::OnDemand,
            labels: Default::default(),
            taints: vec![],
            size: Default::default(),
            autoscaling: Default::default(),
            disk_gb: None,
            extra: Default::default(),
        };
        let v = Version::new(1, 31, 0);
        let plan = UpgradePlan {
            schema: PLAN_SCHEMA,
            plan_id: String::new(),
            planned_at: String::new(),
            cluster: "c".into(),
            pool: "blue".into(),
            control_plane: v,
            target: Target { version: v, policy: "latest-patch".into(), reason: String::new() },
            green: PoolSpec::derive(&blue, "green", "1.31.0"),
            blue,
            policy: Policy::default(),
            blue_nodes: vec![],
            batches: vec![],
            pdbs: vec![],
            findings: vec![],
            review: Default::default(),
        };
        let mut cp = Checkpoint::new("run-1", plan, "2026-01-01T00:00:00Z");
        cp.seq = seq;
        cp
    }

    #[tokio::test]
    async fn a_write_between_read_and_rename_is_refused_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let mut store = FileStore::new(&path);
        store.save(&checkpoint(1), None).await.unwrap();
        // Another writer stores seq 5 while we are about to rename our seq 2.
        let other = serde_json::to_string(&checkpoint(5)).unwrap();
        store.before_rename = Some(Box::new(move |p: &Path| std::fs::write(p, &other).unwrap()));
        let err = store.save(&checkpoint(2), Some("1")).await.unwrap_err();
        assert!(matches!(err, StoreError::Stale { stored: 5, writing: 2, .. }), "{err}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("cp.json")]);
        assert_eq!(store.load().await.unwrap().unwrap().checkpoint.seq, 5);
    }

    #[tokio::test]
    async fn version_reads_the_seq_alone_and_names_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let store = FileStore::new(&path);
        assert_eq!(store.version().await.unwrap(), None);
        let v = store.save(&checkpoint(7), None).await.unwrap();
        assert_eq!(store.version().await.unwrap().as_deref(), Some(v.as_str()));
        assert_eq!(v, "7");
        std::fs::write(&path, "{\"seq\": 3, \"schema\": ").unwrap();
        let err = store.version().await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        // A record of another schema (a newer poolshift's) is never overwritten, whatever its seq.
        let mut newer = serde_json::to_value(checkpoint(1)).unwrap();
        newer["schema"] = serde_json::json!(CHECKPOINT_SCHEMA + 1);
        std::fs::write(&path, newer.to_string()).unwrap();
        let err = store.save(&checkpoint(9), Some("1")).await.unwrap_err();
        assert!(matches!(err, StoreError::Schema { .. }), "{err}");
        assert!(matches!(store.version().await.unwrap_err(), StoreError::Schema { .. }));
    }
}
