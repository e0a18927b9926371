//! Turning `kube::Error` into the ports' error types.

use crate::ports::ClusterError;

/// `kube::Error` as a [`ClusterError`]: an API `Status` keeps its code, reason and message; anything else
/// (connection, TLS, decoding) is a transport error.
pub fn cluster_error(operation: &str, object: &str, e: kube::Error) -> ClusterError {
    match e {
        kube::Error::Api(s) => ClusterError::Api {
            operation: operation.to_string(),
            object: object.to_string(),
            code: s.code,
            reason: s.reason.clone(),
            message: s.message.clone(),
        },
        other => ClusterError::Transport {
            operation: operation.to_string(),
            object: object.to_string(),
            message: other.to_string(),
        },
    }
}

/// The HTTP code of an API error, if it is one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// A short description for messages: `409 Conflict: the object has been modified ...`.
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}
