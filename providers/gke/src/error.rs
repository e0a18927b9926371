//! Maps what GKE answers (an HTTP error with a `google.rpc.Status`, or a failed long-running operation) to
//! the trait's [`ErrorKind`]s, keeping GKE's own message and adding what the operator can do.

use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, StatusDetails};
use poolshift_provider_api::{ErrorKind, ProviderError};

pub(crate) const KIND: &str = "gke";

/// Where the provider works, for hints that name it.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub project: String,
    pub location: String,
    pub cluster: String,
}

/// One failure as GKE reported it, before classification.
#[derive(Debug, Default)]
pub(crate) struct Failure {
    pub http: Option<u16>,
    /// The canonical code name (`RESOURCE_EXHAUSTED`), if known.
    pub code: Option<&'static str>,
    pub message: String,
    /// `google.rpc.ErrorInfo` reasons (`RATE_LIMIT_EXCEEDED`, `QUOTA_EXCEEDED`, ...).
    pub reasons: Vec<String>,
}

impl Failure {
    pub fn from_gax(e: &GaxError) -> Self {
        let mut f = Failure { http: e.http_status_code(), ..Default::default() };
        if let Some(status) = e.status() {
            f.code = status.code.name().into();
            f.message = status.message.clone();
            f.reasons = status
                .details
                .iter()
                .filter_map(|d| match d {
                    StatusDetails::ErrorInfo(i) => Some(i.reason.clone()),
                    StatusDetails::QuotaFailure(_) => Some("QUOTA_EXCEEDED".to_string()),
                    _ => None,
                })
                .collect();
        }
        if f.message.is_empty() {
            f.message = e.to_string();
        }
        f
    }

    /// The `error` of a finished GKE operation (a `google.rpc.Status` with a numeric code).
    pub fn from_operation(code: i32, message: &str) -> Self {
        let code = Code::from(code);
        Failure { http: None, code: Some(code.name()), message: message.to_string(), reasons: Vec::new() }
    }
}

fn has_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Decides the kind of a failure. Order matters: a stockout and a quota are both "resource exhausted", and
/// GKE's API rate limit says "Quota exceeded ... per minute" although it is throttling.
pub(crate) fn classify(f: &Failure) -> ErrorKind {
    let text = format!("{} {}", f.message, f.reasons.join(" ")).to_lowercase();
    let code = f.code.unwrap_or("");
    let http = f.http.unwrap_or(0);
    if has_any(
        &text,
        &["zone_resource_pool_exhausted", "resource_pool_exhausted", "stockout", "does not have enough resources"],
    ) {
        return ErrorKind::Capacity;
    }
    let exhausted = http == 429 || code == "RESOURCE_EXHAUSTED";
    if has_any(&text, &["rate_limit_exceeded", "rate limit", "per minute", "per second", "per 100 seconds"])
        && (exhausted || http == 403)
    {
        return ErrorKind::Transient;
    }
    if has_any(&text, &["quota_exceeded", "insufficient regional quota", "insufficient quota", "quota exceeded"]) {
        return ErrorKind::Quota;
    }
    if exhausted {
        return ErrorKind::Transient;
    }
    match code {
        "PERMISSION_DENIED" | "UNAUTHENTICATED" => return ErrorKind::Permission,
        "NOT_FOUND" => return ErrorKind::NotFound,
        "ALREADY_EXISTS" => return ErrorKind::Conflict,
        "FAILED_PRECONDITION" if text.contains("operation") => return ErrorKind::Conflict,
        "FAILED_PRECONDITION" | "INVALID_ARGUMENT" | "OUT_OF_RANGE" => return ErrorKind::Invalid,
        "UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED" | "ABORTED" => return ErrorKind::Transient,
        _ => {}
    }
    match http {
        401 | 403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        400 | 422 => ErrorKind::Invalid,
        408 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Failed,
    }
}

/// The hint of a call GKE kept throttling or failing; `attempts`: how often it was tried, when known.
pub(crate) fn transient_hint(attempts: Option<usize>) -> String {
    let tried = match attempts {
        Some(n) => format!("on all {n} attempts (jittered backoff)"),
        None => "on every attempt".to_string(),
    };
    format!(
        "GKE throttled the call or failed transiently {tried}, so it was given up: check the Google Cloud status \
         dashboard and the project's Kubernetes Engine API quota (requests per minute), then run poolshift again \
         (`poolshift resume` continues a stopped run)"
    )
}

/// What the operator can do about a failure of `kind`.
pub(crate) fn hint(kind: ErrorKind, s: &Scope) -> String {
    let Scope { project, location, cluster } = s;
    match kind {
        ErrorKind::Transient => transient_hint(None),
        ErrorKind::Quota => format!(
            "raise the quota named in the message for project {project} (Console: IAM & Admin > Quotas) or free \
             capacity, then resume"
        ),
        ErrorKind::Capacity => format!(
            "GKE has no capacity for this machine type in the pool's zones in {location} right now (stockout): \
             retry later, use a reservation, or change the pool's zones or machine type, then resume"
        ),
        ErrorKind::Permission => format!(
            "the Google credentials (Application Default Credentials or workload identity) need \
             container.clusters.get, container.clusters.update and container.operations.get on cluster {cluster} in \
             project {project} (roles/container.clusterAdmin has them), and iam.serviceAccounts.actAs on the nodes' \
             service account to create a pool (runbook: permissions)"
        ),
        ErrorKind::NotFound => format!(
            "check project {project}, location {location} and cluster {cluster} in the provider settings and the pool \
             name (`gcloud container node-pools list --cluster {cluster} --location {location} --project {project}`)"
        ),
        ErrorKind::Conflict => format!(
            "another operation is running on cluster {cluster} or the pool exists with other settings: see \
             `gcloud container operations list --location {location} --project {project}`, then resume"
        ),
        ErrorKind::Invalid => format!(
            "GKE rejected the request: check the version is in `gcloud container get-server-config --location \
             {location}` validNodeVersions and not newer than the control plane"
        ),
        ErrorKind::Failed => "GKE answered something unexpected; see the message and retry".into(),
    }
}

pub(crate) fn provider_error(op: &str, kind: ErrorKind, message: impl Into<String>, s: &Scope) -> ProviderError {
    ProviderError::new(KIND, op, kind, message).with_hint(hint(kind, s))
}

/// A failed call, classified, with GKE's message.
pub(crate) fn from_failure(op: &str, f: &Failure, s: &Scope) -> ProviderError {
    let kind = classify(f);
    let status = match (f.http, f.code) {
        (Some(h), Some(c)) => format!("{h} {c}: "),
        (None, Some(c)) => format!("{c}: "),
        (Some(h), None) => format!("HTTP {h}: "),
        (None, None) => String::new(),
    };
    provider_error(op, kind, format!("{status}{}", f.message), s)
}

/// A failed client call: service errors by their status; transport, I/O and timeouts are transient;
/// credentials that cannot produce a token are a permission problem.
pub(crate) fn from_gax(op: &str, e: &GaxError, s: &Scope) -> ProviderError {
    if e.status().is_some() || e.http_status_code().is_some() {
        return from_failure(op, &Failure::from_gax(e), s);
    }
    let (kind, what) = if e.is_authentication() {
        (ErrorKind::Permission, "cannot get Google credentials")
    } else if e.is_timeout() || e.is_io() || e.is_connect() || e.is_transport() {
        (ErrorKind::Transient, "cannot reach the GKE API")
    } else if e.is_deserialization() {
        (ErrorKind::Failed, "unexpected answer from the GKE API")
    } else {
        (ErrorKind::Failed, "GKE API call failed")
    };
    let mut err = provider_error(op, kind, format!("{what}: {e}"), s);
    if kind == ErrorKind::Permission {
        err.hint = Some(
            "configure Application Default Credentials: `gcloud auth application-default login`, \
             GOOGLE_APPLICATION_CREDENTIALS, or workload identity for the pod's service account (runbook: permissions)"
                .into(),
        );
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(http: Option<u16>, code: Option<&'static str>, message: &str, reasons: &[&str]) -> Failure {
        Failure { http, code, message: message.into(), reasons: reasons.iter().map(|r| r.to_string()).collect() }
    }

    #[test]
    fn classifies_gke_failures() {
        let rate = "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service \
                    'container.googleapis.com'";
        assert_eq!(
            classify(&f(Some(429), Some("RESOURCE_EXHAUSTED"), rate, &["RATE_LIMIT_EXCEEDED"])),
            ErrorKind::Transient
        );
        assert_eq!(classify(&f(Some(429), None, "Too Many Requests", &[])), ErrorKind::Transient);
        let quota = "Insufficient regional quota to satisfy request: resource \"CPUS\": request requires '12.0' \
                     and is short '4.0'";
        assert_eq!(classify(&f(Some(403), Some("PERMISSION_DENIED"), quota, &[])), ErrorKind::Quota);
        assert_eq!(
            classify(&f(None, Some("RESOURCE_EXHAUSTED"), "QUOTA_EXCEEDED: SSD_TOTAL_GB", &[])),
            ErrorKind::Quota
        );
        let stockout = "ZONE_RESOURCE_POOL_EXHAUSTED: The zone 'us-central1-a' does not have enough resources";
        assert_eq!(classify(&f(None, Some("RESOURCE_EXHAUSTED"), stockout, &[])), ErrorKind::Capacity);
        let denied = "Required \"container.nodePools.create\" permission(s)";
        assert_eq!(classify(&f(Some(403), Some("PERMISSION_DENIED"), denied, &[])), ErrorKind::Permission);
        assert_eq!(classify(&f(Some(400), Some("INVALID_ARGUMENT"), "bad version", &[])), ErrorKind::Invalid);
        let busy = "Cluster is running incompatible operation operation-1234";
        assert_eq!(classify(&f(Some(400), Some("FAILED_PRECONDITION"), busy, &[])), ErrorKind::Conflict);
        assert_eq!(classify(&f(Some(503), Some("UNAVAILABLE"), "try again", &[])), ErrorKind::Transient);
        assert_eq!(classify(&f(Some(502), None, "bad gateway", &[])), ErrorKind::Transient);
        assert_eq!(classify(&f(Some(404), Some("NOT_FOUND"), "no such pool", &[])), ErrorKind::NotFound);
        assert_eq!(classify(&Failure::from_operation(13, "internal error")), ErrorKind::Transient);
        assert_eq!(classify(&Failure::from_operation(3, "bad")), ErrorKind::Invalid);
    }
}
