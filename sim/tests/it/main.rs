//! kubesim integration tests, one binary (modules per area) to keep link time down.

mod api;
mod controllers;
mod pdb_fixture;
mod recorder;
mod semantics;
mod support;
