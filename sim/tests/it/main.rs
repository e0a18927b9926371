//! kubesim integration tests, one binary (modules per area) to keep link time down.

mod api;
mod cloud;
mod controllers;
mod faults;
mod pdb_fixture;
mod placement;
mod recorder;
mod scenario;
mod semantics;
mod support;
