//! GKE's errors, as its API answers them, mapped to the trait's kinds with GKE's message and a hint;
//! throttling is retried; a create that fails midway leaves nothing behind unreported.

use poolshift_provider_api::{CreateToken, ErrorKind, PoolSpec, Provider};
use serde_json::{Value, json};

use crate::gke::FakeGke;
use crate::support::{BLUE, fake, pool_path, provider};

const GREEN: &str = "default-pool-v1-31-4";

fn google_error(code: u16, status: &str, message: &str, reason: Option<&str>) -> Value {
    let mut e = json!({"error": {"code": code, "message": message, "status": status}});
    if let Some(r) = reason {
        e["error"]["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": r,
            "domain": "googleapis.com",
            "metadata": {"service": "container.googleapis.com"}
        }]);
    }
    e
}

const RATE: &str = "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute per user' of service \
                    'container.googleapis.com' for consumer 'project_number:123456'.";

fn count(fake: &FakeGke, method: &str, path: &str) -> usize {
    fake.requests().iter().filter(|r| r.method == method && r.path == path).count()
}

async fn green_spec(p: &dyn Provider, version: &str) -> PoolSpec {
    let blue = p.describe_pool(BLUE).await.unwrap();
    PoolSpec::derive(&blue, &p.green_name(BLUE, version), version)
}

#[tokio::test]
async fn a_throttled_read_is_retried() {
    let fake = fake().await;
    fake.inject(
        "GET",
        "/nodePools/default-pool",
        1,
        429,
        google_error(429, "RESOURCE_EXHAUSTED", RATE, Some("RATE_LIMIT_EXCEEDED")),
    );
    let p = provider(&fake).await;
    let blue = p.describe_pool(BLUE).await.unwrap();
    assert_eq!(blue.name, BLUE);
    assert_eq!(count(&fake, "GET", &pool_path(BLUE)), 2);
}

#[tokio::test]
async fn a_throttled_create_is_retried_and_creates_one_pool() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let spec = green_spec(&p, "1.31.4").await;
    let create_path = pool_path("").trim_end_matches('/').to_string();
    fake.inject(
        "POST",
        "/nodePools",
        1,
        429,
        google_error(429, "RESOURCE_EXHAUSTED", RATE, Some("RATE_LIMIT_EXCEEDED")),
    );
    p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    let posts: Vec<_> = fake.mutations().into_iter().filter(|r| r.path == create_path).collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].body, posts[1].body);
    assert_eq!(fake.pool(GREEN).unwrap()["status"], "RUNNING");
}

#[tokio::test]
async fn persistent_server_errors_are_transient_after_the_retries() {
    let fake = fake().await;
    fake.inject(
        "GET",
        "/nodePools/default-pool",
        10,
        503,
        google_error(503, "UNAVAILABLE", "The service is currently unavailable.", None),
    );
    let p = provider(&fake).await;
    let err = p.describe_pool(BLUE).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.message, "503 UNAVAILABLE: The service is currently unavailable.");
    // One call and the 3 retries of the test timing, and the hint says they were used up.
    assert_eq!(count(&fake, "GET", &pool_path(BLUE)), 4);
    let hint = err.hint.as_deref().unwrap();
    assert!(
        hint.starts_with(
            "GKE throttled the call or failed transiently on all 4 attempts (jittered backoff), so it was given up"
        ),
        "{hint}"
    );
}

#[tokio::test]
async fn exhausted_quota_stops_with_gkes_message() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let spec = green_spec(&p, "1.31.4").await;
    let msg = "Insufficient regional quota to satisfy request: resource \"CPUS\": request requires '24.0' and is \
               short '8.0'. project has a quota of '32.0' with '16.0' available.";
    fake.inject("POST", "/nodePools", 1, 429, google_error(429, "RESOURCE_EXHAUSTED", msg, Some("QUOTA_EXCEEDED")));
    let err = p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Quota);
    assert_eq!(err.message, format!("429 RESOURCE_EXHAUSTED: {msg}"));
    assert!(err.hint.as_deref().unwrap().contains("raise the quota"), "{err}");
    assert_eq!(fake.mutations().len(), 1, "a quota error is not retried");
    assert!(fake.pool(GREEN).is_none());
}

#[tokio::test]
async fn a_missing_permission_names_what_is_needed() {
    let fake = fake().await;
    let msg = "Required \"container.clusters.get\" permission(s) for \"projects/shop-prod/locations/europe-west1/clusters/shop\".";
    fake.inject(
        "GET",
        "/clusters/shop",
        1,
        403,
        google_error(403, "PERMISSION_DENIED", msg, Some("IAM_PERMISSION_DENIED")),
    );
    let p = provider(&fake).await;
    let err = p.versions().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permission);
    assert!(err.message.contains(msg));
    assert!(err.hint.as_deref().unwrap().contains("roles/container.clusterAdmin"), "{err}");
    assert_eq!(fake.requests().len(), 1, "a permission error is not retried");
}

#[tokio::test]
async fn a_stockout_is_a_capacity_error_and_the_failed_pool_is_deleted() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let spec = green_spec(&p, "1.31.4").await;
    let msg = "ZONE_RESOURCE_POOL_EXHAUSTED: The zone 'projects/shop-prod/zones/europe-west1-c' does not have enough \
               resources available to fulfill the request. Try a different zone, or try again later.";
    fake.fail_next_create(8, msg);
    fake.clear_requests();
    let err = p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Capacity);
    assert!(
        err.message.contains("(CREATE_NODE_POOL) failed: RESOURCE_EXHAUSTED: ZONE_RESOURCE_POOL_EXHAUSTED"),
        "{err}"
    );
    assert!(err.message.ends_with(&format!("the node pool {GREEN} it left (ERROR) was deleted")), "{err}");
    assert!(err.hint.as_deref().unwrap().contains("stockout"));
    let m: Vec<(String, String)> = fake.mutations().into_iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1], ("DELETE".to_string(), pool_path(GREEN)));
    assert!(fake.pool(GREEN).is_none());
}

#[tokio::test]
async fn a_version_newer_than_the_control_plane_is_invalid_and_nothing_is_sent() {
    let fake = fake().await;
    let p = provider(&fake).await;
    // 1.31.5 is in validNodeVersions, but newer than the cluster's control plane.
    let spec = green_spec(&p, "1.31.5").await;
    let err = p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.starts_with(
            "version 1.31.5 is not offered for node pools of cluster shop (control plane 1.31.4-gke.1146000"
        ),
        "{err}"
    );
    assert!(fake.mutations().is_empty());
}

#[tokio::test]
async fn gke_rejecting_the_request_is_invalid() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let spec = green_spec(&p, "1.31.4").await;
    let msg = "Machine type \"e2-standard-4\" is not supported with \"spot\" in zone europe-west1-d.";
    fake.inject("POST", "/nodePools", 1, 400, google_error(400, "INVALID_ARGUMENT", msg, None));
    let err = p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(err.message, format!("400 INVALID_ARGUMENT: {msg}"));
}

#[tokio::test]
async fn a_missing_pool_is_not_found_with_a_hint() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let err = p.describe_pool("nope").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("node pool nope not found in cluster shop"), "{err}");
    assert!(err.hint.as_deref().unwrap().contains("gcloud container node-pools list --cluster shop"));
    assert_eq!(p.freeze_autoscaling("nope").await.unwrap_err().kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn a_freeze_that_fails_midway_puts_autoscaling_back() {
    let fake = fake().await;
    let msg = "Required \"container.nodePools.update\" permission(s).";
    fake.inject("POST", ":setManagement", 1, 403, google_error(403, "PERMISSION_DENIED", msg, None));
    let p = provider(&fake).await;
    let err = p.freeze_autoscaling(BLUE).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permission);
    assert!(err.message.ends_with("autoscaling of default-pool was re-enabled as it was"), "{err}");
    let blue = fake.pool(BLUE).unwrap();
    assert_eq!(
        blue["autoscaling"],
        json!({"enabled": true, "minNodeCount": 1, "maxNodeCount": 5, "locationPolicy": 1})
    );
    assert_eq!(blue["management"]["autoUpgrade"], true);
    // Back as it was, so no freeze record stays for a later freeze to trust.
    assert_eq!(blue["config"].get("resourceLabels").cloned().unwrap_or(json!({})), json!({}));
    assert_eq!(count(&fake, "PUT", &pool_path(BLUE)), 2, "the record was written, then removed");
}

#[tokio::test]
async fn a_busy_cluster_is_a_conflict() {
    let fake = fake().await;
    let msg = "Cluster is running incompatible operation operation-1700000001-0001.";
    fake.inject("POST", ":setAutoscaling", 1, 400, google_error(400, "FAILED_PRECONDITION", msg, None));
    let p = provider(&fake).await;
    let err = p.freeze_autoscaling(BLUE).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(err.hint.as_deref().unwrap().contains("gcloud container operations list"));
}
