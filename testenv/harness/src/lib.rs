//! A throwaway real Kubernetes control plane for poolshift's end-to-end tests and benchmarks.
//!
//! [`ControlPlane::start`] runs, on 127.0.0.1 with free ports, the binaries `testenv/build.sh` builds from the
//! Go module proxy: etcd, kube-apiserver (RBAC, ServiceAccount tokens, an audit log of every request),
//! kube-controller-manager (its default controllers), kube-scheduler and kwok (the kubelets, following the
//! explicit Stages of [`stages`]). It waits until each is healthy, writes a kubeconfig, and stops every process
//! when it is dropped; the processes also die with the test process (PDEATHSIG), also when it panics or aborts.
//! The logs of a failed test are kept (see [`Scope`]).
//!
//! Starting one costs about 10 s and 0.5 GiB on 2 cores, so the tests of one binary share one
//! ([`ControlPlane::shared`]), each in its own [`Scope`]: a name prefix for its namespaces, pools and nodes.
//! [`world`] loads a kubesim scenario into it; [`watch`] follows pods and PDBs as an independent witness.

mod binaries;
mod error;
mod files;
mod health;
mod pki;
mod ports;
mod process;
pub mod stages;
pub mod watch;
pub mod world;

mod control_plane;
mod scope;

pub use binaries::Binaries;
pub use control_plane::{ControlPlane, Options};
pub use error::TestenvError;
pub use files::POOLSHIFT_USER;
pub use scope::Scope;
