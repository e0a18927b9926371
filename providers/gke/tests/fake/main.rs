//! The GKE provider against a local fake of the Kubernetes Engine API v1 (see `gke.rs` for what the fake
//! supplies in place of GKE). No test leaves 127.0.0.1.

mod conformance;
mod errors;
mod gke;
mod requests;
mod settings;
mod support;
