//! The dry-run report in process: the "every finding" cluster in three formats (golden files), offline
//! planning from a snapshot, and the rehearsal against the engine's real run.

#[path = "../support/golden.rs"]
mod golden;

mod findings;
mod rehearsal;
