//! Checkpoints outside the cluster: [`FileStore`] (`--state-file`), and the checkpoint decoding shared by
//! every store (schema check first, so a newer poolshift's record is reported as such, not as garbage).

pub mod file_store;

pub use file_store::FileStore;

use crate::model::checkpoint::{CHECKPOINT_SCHEMA, Checkpoint};
use crate::ports::StoreError;

/// Parses a stored checkpoint: [`StoreError::Schema`] for another schema, [`StoreError::Corrupt`] for anything
/// unreadable.
pub fn decode_checkpoint(location: &str, text: &str) -> Result<Checkpoint, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt { location: location.to_string(), message };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    let found = value
        .get("schema")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("no \"schema\" number: not a poolshift checkpoint".into()))?;
    if found != u64::from(CHECKPOINT_SCHEMA) {
        return Err(StoreError::Schema {
            location: location.to_string(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: CHECKPOINT_SCHEMA,
        });
    }
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
}
