//! Kubernetes API failures mapped onto the provider's error kinds.

use poolshift_provider_api::{ErrorKind, ProviderError};

use crate::KIND;

/// The kind of an API answer's HTTP status.
pub(crate) fn kind_of(code: u16) -> ErrorKind {
    match code {
        401 | 403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        400 | 422 => ErrorKind::Invalid,
        429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Failed,
    }
}

/// `verb` on `resource` (`create`, `nodes`; `update`, `configmaps in namespace kwok-pools`) failed with `e`.
pub(crate) fn kube_error(op: &str, verb: &str, resource: &str, e: kube::Error) -> ProviderError {
    let (kind, detail) = match &e {
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() { String::new() } else { format!(" {}", s.reason) };
            (kind_of(s.code), format!("{}{reason}: {}", s.code, s.message))
        }
        // The answer arrived but is not what the API promises.
        kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => (ErrorKind::Failed, e.to_string()),
        // Connection-level failures: the API server may be restarting; worth a retry.
        _ => (ErrorKind::Transient, e.to_string()),
    };
    if kind == ErrorKind::Permission {
        return ProviderError::new(KIND, op, kind, format!("not allowed to {verb} {resource}: {detail}")).with_hint(
            format!("grant the identity poolshift runs as `{verb}` on {resource} (RBAC) (runbook: permissions)"),
        );
    }
    ProviderError::new(KIND, op, kind, format!("{verb} {resource}: {detail}"))
}

/// Whether `e` is the API server's answer with HTTP status `code`.
pub(crate) fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("configmaps \"kwok-pool-a\" is forbidden", reason).with_code(code).boxed(),
        )
    }

    #[test]
    fn statuses_map_to_kinds_and_permission_names_verb_and_resource() {
        let e = kube_error("create", "create", "configmaps in namespace kwok-pools", api(403, "Forbidden"));
        assert_eq!(e.kind, ErrorKind::Permission);
        assert!(
            e.message.starts_with("not allowed to create configmaps in namespace kwok-pools: 403 Forbidden"),
            "{e}"
        );
        assert!(e.hint.as_deref().is_some_and(|h| h.contains("`create` on configmaps")), "{e:?}");
        for (code, kind) in [
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict),
            (422, ErrorKind::Invalid),
            (400, ErrorKind::Invalid),
            (429, ErrorKind::Transient),
            (503, ErrorKind::Transient),
            (418, ErrorKind::Failed),
        ] {
            assert_eq!(kube_error("status", "list", "nodes", api(code, "X")).kind, kind, "{code}");
        }
        let bad = serde_json::from_str::<u32>("x").unwrap_err();
        assert_eq!(kube_error("status", "list", "nodes", kube::Error::SerdeError(bad)).kind, ErrorKind::Failed);
        assert!(is_status(&api(409, "AlreadyExists"), 409));
        assert!(!is_status(&api(404, "NotFound"), 409));
    }
}
