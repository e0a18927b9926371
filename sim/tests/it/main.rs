//! kubesim integration tests, one binary (modules per area) to keep link time down.

mod api;
mod pdb_fixture;
mod recorder;
mod semantics;
mod support;
