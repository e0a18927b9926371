//! kubesim integration tests, one binary (modules per area) to keep link time down.

mod api;
mod cloud;
mod faults;
mod scenario;
mod support;
