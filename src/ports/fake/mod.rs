//! Scripted fakes of the engine's ports, for fault tests: each wraps a real implementation (or, for the
//! checkpoint store and the lease, keeps the state in memory with the real one's semantics) and fails the
//! calls a shared [`Script`] names (call N of an operation, every call from N on, calls N..=M, before or
//! after the real call), recording every call for assertions.
//!
//! There is no fake clock: [`crate::time::TokioClock`] under a paused tokio runtime
//! (`#[tokio::test(start_paused = true)]`) is already virtual and deterministic (time moves only when every
//! task waits, or on `tokio::time::advance`), and a clock cannot fail.

pub mod cluster;
pub mod commands;
pub mod gatekeeper;
pub mod lock;
pub mod provider;
pub mod script;
pub mod store;
pub mod terminal;

pub use cluster::ScriptedCluster;
pub use commands::ScriptedCommands;
pub use gatekeeper::ScriptedGatekeeper;
pub use lock::MemoryLock;
pub use provider::ScriptedProvider;
pub use script::{Call, Calls, Fault, Script, Timing, Verdict};
pub use store::MemoryStore;
pub use terminal::ScriptedTerminal;
