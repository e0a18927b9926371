//! Maintenance windows: when a scheduled run may change the cluster. [`window`] decides (pure), [`WindowGate`]
//! stops a run at the next stop point once its window closed; the CLI refuses to start or resume outside one.

mod gate;
pub mod window;

pub use gate::WindowGate;
pub use window::{Opening, Schedule, Window};
