//! The two transports of the one API handler: in-process (a tower service for `kube::Client`) and HTTP
//! on a loopback TCP port (for the CLI and kubectl).

pub mod inprocess;
pub mod kubeconfig;
pub mod tcp;
