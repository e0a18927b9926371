//! The blue pool as GKE returns it, the fake with it, and a provider pointed at the fake.

use std::time::Duration;

use poolshift_provider_gke::{GkeProvider, GkeSettings, GkeTiming};
use serde_json::{Value, json};

use crate::gke::{CLUSTER, FakeGke, LOCATION, PROJECT};

pub const BLUE: &str = "default-pool";
pub const BLUE_VERSION: &str = "1.30.8-gke.1051000";

/// Node versions getServerConfig lists for the location: one newer than the cluster's control plane
/// (`1.31.4-gke.1146000`), which must never be offered.
pub const VALID_NODE_VERSIONS: &[&str] =
    &["1.31.5-gke.1023000", "1.31.4-gke.1146000", "1.31.4-gke.900000", "1.30.8-gke.1051000", "1.30.5-gke.1014001"];

/// A regional spot pool as GetNodePool answers (enum names as strings, output-only fields included).
pub fn blue_pool() -> Value {
    json!({
        "name": BLUE,
        "config": {
            "machineType": "e2-standard-4",
            "diskSizeGb": 100,
            "diskType": "pd-balanced",
            "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
            "serviceAccount": "gke-nodes@shop-prod.iam.gserviceaccount.com",
            "metadata": {"disable-legacy-endpoints": "true"},
            "imageType": "COS_CONTAINERD",
            "labels": {"team": "payments", "tier": "web"},
            "tags": ["gke-shop-node"],
            "taints": [{"key": "dedicated", "value": "payments", "effect": "NO_SCHEDULE"}],
            "spot": true,
            "workloadMetadataConfig": {"mode": "GKE_METADATA"},
            "shieldedInstanceConfig": {"enableSecureBoot": true, "enableIntegrityMonitoring": true},
            "effectiveCgroupMode": "EFFECTIVE_CGROUP_MODE_V2"
        },
        "initialNodeCount": 2,
        "locations": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
        "networkConfig": {"podRange": "pods", "podIpv4CidrBlock": "10.4.0.0/14", "podIpv4RangeUtilization": 0.0625},
        "selfLink": format!(
            "https://container.googleapis.com/v1/projects/{PROJECT}/locations/{LOCATION}/clusters/{CLUSTER}/nodePools/{BLUE}"
        ),
        "version": BLUE_VERSION,
        "instanceGroupUrls": [
            "https://www.googleapis.com/compute/v1/projects/shop-prod/zones/europe-west1-b/instanceGroupManagers/gke-shop-default-pool-1a2b-grp"
        ],
        "status": "RUNNING",
        "autoscaling": {"enabled": true, "minNodeCount": 1, "maxNodeCount": 5, "locationPolicy": "BALANCED"},
        "management": {"autoUpgrade": true, "autoRepair": true},
        "maxPodsConstraint": {"maxPodsPerNode": "110"},
        "podIpv4CidrSize": 24,
        "upgradeSettings": {"maxSurge": 1, "strategy": "SURGE"},
        "etag": "a1b2c3"
    })
}

pub async fn fake() -> FakeGke {
    FakeGke::start(vec![blue_pool()], VALID_NODE_VERSIONS).await
}

pub fn settings(fake: &FakeGke) -> GkeSettings {
    GkeSettings {
        project: PROJECT.into(),
        location: LOCATION.into(),
        cluster: CLUSTER.into(),
        endpoint: Some(fake.endpoint()),
    }
}

/// Short polls and retry delays: the fake moves operations per poll, not per second.
pub fn timing() -> GkeTiming {
    GkeTiming {
        poll_interval: Duration::from_millis(2),
        operation_timeout: Duration::from_secs(20),
        retry_min_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(20),
        retries: 3,
    }
}

pub async fn provider(fake: &FakeGke) -> GkeProvider {
    let anonymous = google_cloud_auth::credentials::anonymous::Builder::new().build();
    GkeProvider::with_credentials(settings(fake), anonymous).await.unwrap().with_timing(timing())
}

pub fn pool_path(name: &str) -> String {
    format!("/v1/projects/{PROJECT}/locations/{LOCATION}/clusters/{CLUSTER}/nodePools/{name}")
}
