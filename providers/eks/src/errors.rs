//! Mapping AWS SDK errors to poolshift's error kinds, keeping AWS's own code and message.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use poolshift_provider_api::{ErrorKind, ProviderError};

/// The AWS error code of a failed call (`ThrottlingException`, `ResourceNotFoundException` ...).
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    err.code()
}

/// Error kind for an AWS error code and HTTP status.
pub fn classify(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    let c = code.unwrap_or("");
    let lc = c.to_ascii_lowercase();
    if lc.contains("throttl")
        || lc.contains("requestlimitexceeded")
        || lc.contains("toomanyrequests")
        || matches!(
            c,
            "SlowDown"
                | "PriorRequestNotComplete"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
                | "ServerException"
                | "InternalFailure"
                | "InternalError"
                | "InternalServerError"
                | "InternalServiceError"
                | "ResourceContention"
                | "ScalingActivityInProgress"
                | "RequestTimeout"
                | "RequestTimeoutException"
        )
    {
        return ErrorKind::Transient;
    }
    if lc.starts_with("insufficient") || c == "UnsupportedAvailabilityZoneException" {
        return ErrorKind::Capacity;
    }
    if lc.contains("limitexceeded") || lc.contains("quotaexceeded") {
        return ErrorKind::Quota;
    }
    if matches!(
        c,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "SignatureDoesNotMatch"
            | "AuthFailure"
            | "NotAuthorized"
            | "MissingAuthenticationToken"
    ) {
        return ErrorKind::Permission;
    }
    if c.contains("NotFound") {
        return ErrorKind::NotFound;
    }
    if matches!(c, "ResourceInUseException" | "ResourceInUse" | "AlreadyExists" | "AlreadyExistsFault")
        || c.starts_with("IdempotentParameterMismatch")
        || lc.contains("duplicate")
    {
        return ErrorKind::Conflict;
    }
    if c.starts_with("Invalid") || c.starts_with("Validation") || c == "ClientException" || c.contains("Malformed") {
        return ErrorKind::Invalid;
    }
    match status {
        Some(429) | Some(500..=599) => ErrorKind::Transient,
        Some(401) | Some(403) => ErrorKind::Permission,
        Some(404) => ErrorKind::NotFound,
        Some(409) => ErrorKind::Conflict,
        Some(400..=499) => ErrorKind::Invalid,
        _ => ErrorKind::Failed,
    }
}

/// What the operator can do about an error of `kind` during `op`.
pub fn hint(kind: ErrorKind, op: &str) -> String {
    match kind {
        ErrorKind::Transient => "AWS throttled the call or failed transiently; poolshift retries with backoff".into(),
        ErrorKind::Quota => "a service quota is exhausted (node groups per cluster, EC2 vCPUs, launch template \
                             versions ...): raise it in Service Quotas or free some, then resume"
            .into(),
        ErrorKind::Capacity => "EC2 has no capacity for the instance types in these zones: add instance types or \
                                subnets in other zones to the blue pool, or resume later"
            .into(),
        ErrorKind::Permission => format!(
            "the AWS credentials (environment, profile, IRSA, Pod Identity) lack a permission for {op}: grant it to \
             the role poolshift runs as, then resume (runbook: permissions)"
        ),
        ErrorKind::NotFound => "check the region, cluster and pool names in the cluster config".into(),
        ErrorKind::Conflict => "another operation is in progress on it, or the name is taken: wait or remove the \
                                other resource, then resume"
            .into(),
        ErrorKind::Invalid => "AWS rejected the request as invalid: fix the pool or the config, then resume".into(),
        ErrorKind::Failed => "unexpected answer from AWS: see the message, then resume".into(),
    }
}

/// A provider error from an SDK error: AWS's code and message, the kind, and a hint.
pub(crate) fn sdk_error<E>(provider: &str, op: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = match err {
        SdkError::ServiceError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let kind = classify(err.code(), status);
            let text = err.message().map(str::to_string).unwrap_or_else(|| DisplayErrorContext(err).to_string());
            let message = match err.code() {
                Some(c) => format!("{c}: {text}"),
                None => text,
            };
            (kind, message)
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            (ErrorKind::Transient, DisplayErrorContext(err).to_string())
        }
        SdkError::DispatchFailure(d) => {
            let text = DisplayErrorContext(err).to_string();
            // Credential resolution fails before anything is sent: no retry fixes it.
            let kind =
                if text.contains("credentials") || d.is_user() { ErrorKind::Permission } else { ErrorKind::Transient };
            (kind, text)
        }
        SdkError::ConstructionFailure(_) => (ErrorKind::Invalid, DisplayErrorContext(err).to_string()),
        _ => (ErrorKind::Failed, DisplayErrorContext(err).to_string()),
    };
    let hint = if kind == ErrorKind::Permission && message.contains("credentials") {
        "no usable AWS credentials: set AWS_PROFILE / provider.profile, IRSA or Pod Identity for poolshift's \
         service account, or the AWS_* environment variables (runbook: permissions)"
            .to_string()
    } else {
        hint(kind, op)
    };
    ProviderError::new(provider, op, kind, message).with_hint(hint)
}
