//! What the provider reads from GKE and the requests a real GKE would receive from it: the cloned
//! CreateNodePool body, DeleteNodePool, and the autoscaling / management changes of freeze and restore.

use poolshift_provider_api::{CapacityType, CreateToken, ErrorKind, PoolSize, PoolSpec, PoolState, Provider, Taint};
use poolshift_provider_gke::TEMPLATE_KEY;
use serde_json::{Value, json};

use crate::gke::{MASTER_VERSION, PROJECT};
use crate::support::{BLUE, BLUE_VERSION, fake, pool_path, provider};

const GREEN: &str = "default-pool-v1-31-4";

fn name_of(pool: &str) -> String {
    pool_path(pool).trim_start_matches("/v1/").to_string()
}

#[tokio::test]
async fn describes_blue_from_get_node_pool() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let blue = p.describe_pool(BLUE).await.unwrap();
    assert_eq!(blue.name, BLUE);
    assert_eq!(blue.version, BLUE_VERSION);
    assert_eq!(blue.instance_types, vec!["e2-standard-4"]);
    assert_eq!(blue.zones, vec!["europe-west1-b", "europe-west1-c", "europe-west1-d"]);
    assert_eq!(blue.capacity_type, CapacityType::Spot);
    assert_eq!(blue.labels.get("team").map(String::as_str), Some("payments"));
    assert_eq!(
        blue.taints,
        vec![Taint { key: "dedicated".into(), value: Some("payments".into()), effect: "NoSchedule".into() }]
    );
    assert_eq!(blue.disk_gb, Some(100));
    // Per-zone counts times three zones; GKE's API has no current size, initialNodeCount is per zone.
    assert_eq!(blue.size, PoolSize { min: 3, max: 15, desired: 6 });
    assert!(blue.autoscaling.enabled);
    let extra: Vec<(&str, &str)> = blue.autoscaling.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        extra,
        vec![("autoUpgrade", "true"), ("locationPolicy", "BALANCED"), ("maxNodeCount", "5"), ("minNodeCount", "1")]
    );
    assert!(blue.extra.contains_key(poolshift_provider_gke::TEMPLATE_KEY));
    let m = p.node_matcher(BLUE);
    assert_eq!((m.label.as_str(), m.value.as_str()), ("cloud.google.com/gke-nodepool", BLUE));
    // Every read is a GET of the v1 resource name.
    let r = &fake.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", pool_path(BLUE).as_str()));
}

#[tokio::test]
async fn offers_valid_node_versions_not_newer_than_the_control_plane() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let v = p.versions().await.unwrap();
    assert_eq!(v.control_plane, MASTER_VERSION);
    assert_eq!(
        v.node_versions,
        vec!["1.31.4-gke.1146000", "1.31.4-gke.900000", "1.30.8-gke.1051000", "1.30.5-gke.1014001"]
    );
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            format!("/v1/projects/{PROJECT}/locations/europe-west1/clusters/shop"),
            format!("/v1/projects/{PROJECT}/locations/europe-west1/serverConfig"),
        ]
    );
}

/// Blue's pool as GKE receives it back in CreateNodePool: output-only fields (selfLink, status,
/// instanceGroupUrls, etag, podIpv4CidrSize, effectiveCgroupMode, podIpv4RangeUtilization) gone, the green
/// name and the exact target version, enums as numbers (the client asks for `enum-encoding=int`). The client
/// sends the request's `parent` in the body as well as in the path.
fn expected_create_body() -> Value {
    json!({"parent": format!("projects/{PROJECT}/locations/europe-west1/clusters/shop"), "nodePool": {
        "name": GREEN,
        "config": {
            "machineType": "e2-standard-4",
            "diskSizeGb": 100,
            "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
            "serviceAccount": "gke-nodes@shop-prod.iam.gserviceaccount.com",
            "metadata": {"disable-legacy-endpoints": "true"},
            "imageType": "COS_CONTAINERD",
            "labels": {"team": "payments", "tier": "web"},
            "tags": ["gke-shop-node"],
            "diskType": "pd-balanced",
            "workloadMetadataConfig": {"mode": 2},
            "taints": [{"key": "dedicated", "value": "payments", "effect": 1}],
            "shieldedInstanceConfig": {"enableSecureBoot": true, "enableIntegrityMonitoring": true},
            "spot": true
        },
        "initialNodeCount": 2,
        "locations": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
        "networkConfig": {"podRange": "pods", "podIpv4CidrBlock": "10.4.0.0/14"},
        "version": "1.31.4-gke.1146000",
        "autoscaling": {"enabled": true, "minNodeCount": 1, "maxNodeCount": 5, "locationPolicy": 1},
        "management": {"autoUpgrade": true, "autoRepair": true},
        "maxPodsConstraint": {"maxPodsPerNode": "110"},
        "upgradeSettings": {"maxSurge": 1, "strategy": 3}
    }})
}

async fn green_spec(p: &dyn Provider, version: &str) -> PoolSpec {
    let blue = p.describe_pool(BLUE).await.unwrap();
    PoolSpec::derive(&blue, &p.green_name(BLUE, version), version)
}

#[tokio::test]
async fn create_clones_blue_with_only_the_version_changed_and_follows_the_operation() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let spec = green_spec(&p, "1.31.4").await;
    assert_eq!(spec.name, GREEN);
    fake.clear_requests();
    let status = p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    assert_eq!(status.name, GREEN);
    assert_eq!(status.version, "1.31.4-gke.1146000");
    assert_eq!(status.state, PoolState::Ready);
    assert_eq!(status.nodes, 6);

    let posts = fake.mutations();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let create = &posts[0];
    assert_eq!(create.method, "POST");
    assert_eq!(create.path, format!("/v1/projects/{PROJECT}/locations/europe-west1/clusters/shop/nodePools"));
    assert!(create.query.contains("enum-encoding%3Dint") || create.query.contains("enum-encoding=int"));
    assert_eq!(create.body, expected_create_body());

    // The operation was polled (PENDING -> RUNNING -> DONE) before the pool was read back.
    let reqs = fake.requests();
    let polls: Vec<_> = reqs.iter().filter(|r| r.path.contains("/operations/")).collect();
    assert_eq!(polls.len(), 2);
    assert_eq!(reqs.last().unwrap().path, pool_path(GREEN));
    assert_eq!(fake.pool(GREEN).unwrap()["status"], "RUNNING");
}

#[tokio::test]
async fn create_adopts_a_pool_of_the_same_version_and_refuses_another() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let spec = green_spec(&p, "1.31.4").await;
    // An earlier run created it and crashed while GKE was still provisioning.
    let mut existing = expected_create_body()["nodePool"].clone();
    existing["status"] = json!("PROVISIONING");
    fake.put_pool(existing);
    fake.clear_requests();

    let status = p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    assert_eq!(status.state, PoolState::Creating);
    assert_eq!(status.nodes, 0);
    let mut other = spec.clone();
    other.version = "1.30.5".into();
    let err = p.create_pool(&other, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(err.message.contains("already exists at version 1.31.4-gke.1146000, not 1.30.5"), "{err}");
    assert!(fake.mutations().is_empty());
}

#[tokio::test]
async fn delete_sends_delete_node_pool_and_a_missing_pool_is_already_deleted() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let spec = green_spec(&p, "1.31.4").await;
    p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    fake.clear_requests();

    let status = p.delete_pool(GREEN).await.unwrap().unwrap();
    assert_eq!(status.state, PoolState::Deleting);
    let m = fake.mutations();
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0].method.as_str(), m[0].path.as_str(), &m[0].body),
        ("DELETE", pool_path(GREEN).as_str(), &Value::Null)
    );
    assert!(fake.pool(GREEN).is_none());
    assert!(p.pool_status(GREEN).await.unwrap().is_none());

    fake.clear_requests();
    assert_eq!(p.delete_pool(GREEN).await.unwrap(), None);
    assert!(fake.mutations().is_empty());
}

#[tokio::test]
async fn freeze_disables_autoscaling_and_auto_upgrade_and_restore_puts_back_exactly_that() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let prior = p.freeze_autoscaling(BLUE).await.unwrap();
    assert!(prior.enabled);
    assert_eq!(prior.size, PoolSize { min: 3, max: 15, desired: 6 });
    assert_eq!(prior.extra.get("locationPolicy").map(String::as_str), Some("BALANCED"));
    assert_eq!(prior.extra.get("autoUpgrade").map(String::as_str), Some("true"));

    let m = fake.mutations();
    let calls: Vec<(&str, &Value)> = m.iter().map(|r| (r.path.as_str(), &r.body)).collect();
    let set_autoscaling = format!("{}:setAutoscaling", pool_path(BLUE));
    let set_management = format!("{}:setManagement", pool_path(BLUE));
    // `enabled: false` is proto3's default, so the client leaves it out: an empty autoscaling disables it.
    let frozen_as = json!({"name": name_of(BLUE), "autoscaling": {}});
    let frozen_mgmt = json!({"name": name_of(BLUE), "management": {"autoRepair": true}});
    // First the record of the settings before the freeze, in the pool's resource labels (UpdateNodePool).
    let update = pool_path(BLUE);
    let record = json!({"name": name_of(BLUE), "resourceLabels": {"labels": {
        "poolshift-frozen": "e1-u1-a0-lbalanced", "poolshift-frozen-size": "3_15_6", "poolshift-frozen-nodes": "1_5_0_0"}}});
    assert_eq!(
        calls,
        vec![
            (update.as_str(), &record),
            (set_autoscaling.as_str(), &frozen_as),
            (set_management.as_str(), &frozen_mgmt)
        ]
    );
    assert_eq!(m[0].method, "PUT");
    let frozen = p.describe_pool(BLUE).await.unwrap();
    assert!(!frozen.autoscaling.enabled);
    assert_eq!(frozen.autoscaling.size, PoolSize { min: 6, max: 6, desired: 6 });
    assert!(!frozen.extra[TEMPLATE_KEY].contains("poolshift-frozen"), "green's template does not carry the record");

    // Frozen again (a new run after an aborted one): the recorded original, and nothing is sent.
    fake.clear_requests();
    assert_eq!(p.freeze_autoscaling(BLUE).await.unwrap(), prior);
    assert!(fake.mutations().is_empty());

    fake.clear_requests();
    p.restore_autoscaling(BLUE, &prior).await.unwrap();
    let m = fake.mutations();
    let calls: Vec<(&str, &Value)> = m.iter().map(|r| (r.path.as_str(), &r.body)).collect();
    let restored_as = json!({"name": name_of(BLUE),
        "autoscaling": {"enabled": true, "minNodeCount": 1, "maxNodeCount": 5, "locationPolicy": 1}});
    let restored_mgmt = json!({"name": name_of(BLUE), "management": {"autoUpgrade": true, "autoRepair": true}});
    let unrecord = json!({"name": name_of(BLUE), "resourceLabels": {}});
    assert_eq!(
        calls,
        vec![
            (set_autoscaling.as_str(), &restored_as),
            (set_management.as_str(), &restored_mgmt),
            (update.as_str(), &unrecord)
        ]
    );
    assert_eq!(p.describe_pool(BLUE).await.unwrap().autoscaling, prior);

    // Restoring what is already there changes nothing.
    fake.clear_requests();
    p.restore_autoscaling(BLUE, &prior).await.unwrap();
    assert!(fake.mutations().is_empty());
}

#[tokio::test]
async fn freezing_a_pool_that_does_not_scale_changes_nothing() {
    let fake = fake().await;
    let mut pool = crate::support::blue_pool();
    pool["autoscaling"] = json!({});
    pool["management"] = json!({"autoRepair": true});
    fake.put_pool(pool);
    let p = provider(&fake).await;
    let prior = p.freeze_autoscaling(BLUE).await.unwrap();
    assert!(!prior.enabled);
    assert_eq!(prior.size, PoolSize { min: 6, max: 6, desired: 6 });
    p.restore_autoscaling(BLUE, &prior).await.unwrap();
    assert!(fake.mutations().is_empty());
}

#[tokio::test]
async fn green_names_fit_gke_limits() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let long = "payments-batch-workers-highmem-europe-pool";
    let name = p.green_name(long, "1.31.4-gke.1146000");
    assert!(name.len() <= 40, "{name}");
    assert!(name.ends_with("-v1-31-4-gke-1146000"), "{name}");
    assert_eq!(p.green_name("default-pool-v1-30-8", "1.31.4"), GREEN);
}
