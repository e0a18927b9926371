use std::path::PathBuf;

/// What went wrong while building, starting or using the control plane.
#[derive(Debug, thiserror::Error)]
pub enum TestenvError {
    #[error(
        "the control plane binaries are not built: {reason}. Run `testenv/build.sh` (it builds kube-apiserver, \
         kube-controller-manager, kube-scheduler, kubectl, etcd and kwok from the Go module proxy, about 25 minutes \
         cold on 2 cores) or set POOLSHIFT_TESTENV_BIN to the folder it prints"
    )]
    BinariesMissing { reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {component} ({binary}): {source}")]
    Spawn {
        component: &'static str,
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{component} exited ({status}) while starting; its log ({log}) ends with:\n{tail}")]
    Exited { component: &'static str, status: String, log: PathBuf, tail: String },
    #[error("{component} was not healthy after {seconds} s ({last}); its log ({log}) ends with:\n{tail}")]
    NotHealthy { component: &'static str, seconds: u64, last: String, log: PathBuf, tail: String },
    #[error("cannot generate the control plane's certificates: {0}")]
    Pki(#[from] rcgen::Error),
    #[error("no free port on 127.0.0.1: {0}")]
    Port(#[source] std::io::Error),
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error("{operation}: {source}")]
    Kube {
        operation: String,
        #[source]
        source: kube::Error,
    },
    #[error("scenario {scenario}: {message}")]
    Scenario { scenario: String, message: String },
}
