//! poolshift engine integration tests against the in-process simulator, one binary (a module per area) to
//! keep link time down.

mod adapters;
mod report;
mod upgrade;
