//! Where checkpoints live: a ConfigMap (compare-and-swap on resourceVersion) or a local file.

use async_trait::async_trait;

use crate::model::checkpoint::Checkpoint;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote since we read: reload and merge.
    #[error("checkpoint {location} changed since it was read (expected version {expected})")]
    Conflict { location: String, expected: String },
    /// Refused: the stored checkpoint is newer than the one being written.
    #[error("checkpoint {location} holds seq {stored}, newer than seq {writing} being written: refusing to overwrite")]
    Stale { location: String, stored: u64, writing: u64 },
    #[error("checkpoint {location} is unreadable: {message}")]
    Corrupt { location: String, message: String },
    #[error("checkpoint {location} has schema {found}; this poolshift reads schema {supported}")]
    Schema { location: String, found: u32, supported: u32 },
    #[error("checkpoint {location}: {message}")]
    Io { location: String, message: String },
}

/// A checkpoint with the store's version token (ConfigMap resourceVersion, file generation).
#[derive(Debug, Clone)]
pub struct Stored {
    pub checkpoint: Checkpoint,
    pub version: String,
}

#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Where it lives, for messages (`configmap poolshift-system/poolshift-demo-blue`, a file path).
    fn location(&self) -> String;
    async fn load(&self) -> Result<Option<Stored>, StoreError>;
    /// The stored version token alone, cheaper than [`CheckpointStore::load`] where the store allows (the
    /// engine polls it for requests written by other processes).
    async fn version(&self) -> Result<Option<String>, StoreError> {
        Ok(self.load().await?.map(|s| s.version))
    }
    /// Writes `cp` if the stored version is still `expected` (`None`: must not exist yet) and the stored
    /// `seq` is older. Returns the new version.
    async fn save(&self, cp: &Checkpoint, expected: Option<&str>) -> Result<String, StoreError>;
    /// Removes the checkpoint (after `abort`, or to start over).
    async fn delete(&self) -> Result<(), StoreError>;
}
