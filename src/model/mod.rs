//! Plain data shared by the planner, the engine and the reports: no I/O here.

pub mod checkpoint;
pub mod identity;
pub mod plan;
pub mod plan_id;
pub mod policy;
pub mod quantity;
pub mod review;
pub mod snapshot;
pub mod stop;
pub mod version;
