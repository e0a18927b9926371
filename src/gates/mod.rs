//! Gates: what must hold before a run goes on, checked at the stop points after green is Ready and after
//! each batch. The built-in checks ([`HealthGate`]) and operators' commands ([`CommandGate`]) are
//! gatekeepers (`ports::gate`): a failing gate blocks the run (exit 4) with its output shown and recorded in
//! the checkpoint; `resume` checks again.

pub mod command;
pub mod health;
mod health_gate;

pub use command::{CommandGate, GateCommand};
pub use health_gate::{HealthGate, HealthSettings};
