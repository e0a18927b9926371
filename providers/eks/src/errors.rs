//! Mapping AWS SDK errors to poolshift's error kinds, keeping AWS's own code and message, in one readable
//! line: the SDK's error and its causes (never its debug form), the endpoint the call went to, and what was
//! tried before giving up.

use std::error::Error;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use poolshift_provider_api::{ErrorKind, ProviderError};

/// Where a provider's calls go and how often the SDK tries each, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The provider kind (`eks`, `asg`).
    pub provider: &'static str,
    /// `provider.endpoint_url`, else AWS's regional endpoints (`https://<service>.eu-west-1.amazonaws.com`).
    pub endpoint: String,
    /// Attempts of the SDK's retry policy per call (the first one included).
    pub attempts: u32,
}

impl CallContext {
    pub fn new(provider: &'static str, conf: &SdkConfig) -> Self {
        let endpoint = match (conf.endpoint_url(), conf.region()) {
            (Some(url), _) => url.to_string(),
            (None, Some(region)) => format!("https://<service>.{region}.amazonaws.com"),
            (None, None) => "AWS's endpoints (no region set)".to_string(),
        };
        let attempts = conf.retry_config().map_or(1, |r| r.max_attempts());
        Self { provider, endpoint, attempts }
    }
}

/// `err` and its causes, `: `-separated, each as it displays itself (a cause whose text its parent already
/// shows is left out).
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

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

/// What the operator can do about an error of `kind` during `op`; `attempts` is how often the SDK tried it.
pub fn hint(kind: ErrorKind, op: &str, attempts: u32) -> String {
    match kind {
        ErrorKind::Transient => format!(
            "AWS throttled the call or failed transiently on all {attempts} attempts (jittered backoff), so it was \
             given up: check AWS Health for the region and the account's API request rate (other tools calling the \
             same API), then run poolshift again (`poolshift resume` continues a stopped run)"
        ),
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

/// A provider error from an SDK error: AWS's code and message (or the SDK's error and its causes, with the
/// endpoint, when AWS did not answer), the kind, and a hint.
pub(crate) fn sdk_error<E>(ctx: &CallContext, op: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let endpoint = &ctx.endpoint;
    let attempts = ctx.attempts;
    let (kind, message) = match err {
        SdkError::ServiceError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let kind = classify(err.code(), status);
            let text = match err.message() {
                Some(m) => m.to_string(),
                None => {
                    let status = status.map(|s| format!("HTTP {s} from {endpoint}: ")).unwrap_or_default();
                    format!("{status}{}", chain(err))
                }
            };
            let message = match err.code() {
                Some(c) => format!("{c}: {text}"),
                None => text,
            };
            (kind, message)
        }
        SdkError::TimeoutError(_) => {
            (ErrorKind::Transient, format!("no answer from {endpoint} in time, {attempts} attempts ({})", chain(err)))
        }
        SdkError::ResponseError(_) => {
            (ErrorKind::Transient, format!("unreadable answer from {endpoint}, {attempts} attempts ({})", chain(err)))
        }
        SdkError::DispatchFailure(d) => {
            let text = chain(err);
            // Credential resolution fails before anything is sent: no retry fixes it.
            if text.contains("credentials") || d.is_user() {
                (ErrorKind::Permission, format!("the request to {endpoint} was not sent: {text}"))
            } else {
                (ErrorKind::Transient, format!("cannot reach {endpoint}, {attempts} attempts ({text})"))
            }
        }
        SdkError::ConstructionFailure(_) => (ErrorKind::Invalid, format!("the request was not built: {}", chain(err))),
        _ => (ErrorKind::Failed, chain(err)),
    };
    let unreachable = matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_));
    let hint = if kind == ErrorKind::Permission && message.contains("credentials") {
        "no usable AWS credentials: set AWS_PROFILE / provider.profile, IRSA or Pod Identity for poolshift's \
         service account, or the AWS_* environment variables (runbook: permissions)"
            .to_string()
    } else if kind == ErrorKind::Transient && unreachable {
        format!(
            "{endpoint} could not be reached on any of {attempts} attempts (jittered backoff), so the call was given \
             up: check provider.endpoint_url and provider.region in the cluster config, DNS, proxies (HTTPS_PROXY) \
             and the network path from poolshift to it, then run poolshift again (`poolshift resume` continues a \
             stopped run)"
        )
    } else {
        hint(kind, op, attempts)
    };
    ProviderError::new(ctx.provider, op, kind, message).with_hint(hint)
}
