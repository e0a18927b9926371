//! Checkpoint stores: the ConfigMap (resourceVersion compare-and-swap) and the local file.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use poolshift::kube::ConfigMapStore;
use poolshift::kube::configmap_store::{DATA_KEY, GZIP_KEY};
use poolshift::ports::{CheckpointStore, StoreError};
use poolshift::state::FileStore;
use serde_json::json;

use super::{checkpoint, sim};

/// The contract both stores keep: create, compare-and-swap, never older over newer, delete.
async fn store_contract(store: &dyn CheckpointStore) {
    assert!(store.load().await.unwrap().is_none());
    let v1 = store.save(&checkpoint(1), None).await.unwrap();
    let loaded = store.load().await.unwrap().unwrap();
    assert_eq!((loaded.checkpoint, loaded.version.as_str()), (checkpoint(1), v1.as_str()));

    // "Must not exist yet", but it does.
    let err = store.save(&checkpoint(2), None).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

    let v2 = store.save(&checkpoint(2), Some(&v1)).await.unwrap();
    assert_ne!(v1, v2);
    // A writer still holding version 1: conflict, nothing written.
    let err = store.save(&checkpoint(3), Some(&v1)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict { expected, .. } if *expected == v1), "{err}");
    assert_eq!(store.load().await.unwrap().unwrap().checkpoint.seq, 2);
    // Not newer than the stored one: refused, even with the right version.
    let err = store.save(&checkpoint(2), Some(&v2)).await.unwrap_err();
    assert!(matches!(err, StoreError::Stale { stored: 2, writing: 2, .. }), "{err}");
    let err = store.save(&checkpoint(1), Some(&v2)).await.unwrap_err();
    assert!(matches!(err, StoreError::Stale { stored: 2, writing: 1, .. }), "{err}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");

    store.save(&checkpoint(3), Some(&v2)).await.unwrap();
    assert_eq!(store.load().await.unwrap().unwrap().checkpoint.seq, 3);
    store.delete().await.unwrap();
    assert!(store.load().await.unwrap().is_none());
    store.delete().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn configmap_store_creates_swaps_and_refuses_older_checkpoints() {
    let sim = sim();
    let client = sim.client();
    let store = ConfigMapStore::new(client.clone(), "Demo", "blue");
    assert_eq!(store.location(), "configmap poolshift-system/poolshift-demo-blue");
    store_contract(&store).await;

    // The object as written: in poolshift-system (created on demand), labelled, JSON under checkpoint.json.
    let v = store.save(&checkpoint(4), None).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "poolshift-system");
    let cm = cms.get("poolshift-demo-blue").await.unwrap();
    assert_eq!(cm.metadata.resource_version.as_deref(), Some(v.as_str()));
    assert_eq!(cm.metadata.labels.unwrap().get("app.kubernetes.io/managed-by").map(String::as_str), Some("poolshift"));
    let stored: serde_json::Value = serde_json::from_str(&cm.data.unwrap()[DATA_KEY]).unwrap();
    assert_eq!((stored["seq"].as_u64(), stored["run_id"].as_str()), (Some(4), Some("run-1")));
}

#[tokio::test(start_paused = true)]
async fn configmap_store_reports_schema_and_corruption() {
    let sim = sim();
    let client = sim.client();
    let store = ConfigMapStore::new(client.clone(), "demo", "blue");
    store.save(&checkpoint(1), None).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "poolshift-system");
    let mut future = serde_json::to_value(checkpoint(9)).unwrap();
    future["schema"] = json!(2);
    cms.patch(store.name(), &PatchParams::default(), &Patch::Merge(json!({"data": {DATA_KEY: future.to_string()}})))
        .await
        .unwrap();
    let err = store.load().await.unwrap_err();
    assert!(matches!(err, StoreError::Schema { found: 2, supported: 1, .. }), "{err}");
    // Never overwritten by this (older) poolshift either.
    let v = cms.get(store.name()).await.unwrap().metadata.resource_version.unwrap();
    let err = store.save(&checkpoint(10), Some(&v)).await.unwrap_err();
    assert!(matches!(err, StoreError::Schema { found: 2, .. }), "{err}");

    cms.patch(store.name(), &PatchParams::default(), &Patch::Merge(json!({"data": {DATA_KEY: "{not json"}})))
        .await
        .unwrap();
    let err = store.load().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn file_store_keeps_the_same_contract_with_atomic_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blue.json");
    let store = FileStore::new(&path);
    assert_eq!(store.location(), format!("file {}", path.display()));
    store_contract(&store).await;

    // Version token: the stored seq.
    assert_eq!(store.save(&checkpoint(5), None).await.unwrap(), "5");
    let inode = |p: &std::path::Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = inode(&path);
    assert_eq!(store.save(&checkpoint(6), Some("5")).await.unwrap(), "6");
    // Replaced by a rename (a new file), not rewritten in place; no temporary file left behind.
    assert_ne!(inode(&path), before);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [std::ffi::OsString::from("blue.json")]);
    let on_disk: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk["seq"], 6);
    // A refused write leaves the file as it was.
    assert!(store.save(&checkpoint(7), Some("5")).await.is_err());
    assert_eq!(store.load().await.unwrap().unwrap().checkpoint.seq, 6);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1);
}

#[tokio::test]
async fn file_store_reports_schema_corruption_and_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cp.json");
    let store = FileStore::new(&path);
    let mut future = serde_json::to_value(checkpoint(1)).unwrap();
    future["schema"] = json!(7);
    std::fs::write(&path, future.to_string()).unwrap();
    let err = store.load().await.unwrap_err();
    assert!(matches!(err, StoreError::Schema { found: 7, supported: 1, .. }), "{err}");
    assert!(err.to_string().contains("this poolshift reads schema 1"), "{err}");
    std::fs::write(&path, "{\"schema\": 1, \"seq\": ").unwrap();
    assert!(matches!(store.load().await.unwrap_err(), StoreError::Corrupt { .. }));
    std::fs::write(&path, "[1, 2]").unwrap();
    assert!(matches!(store.load().await.unwrap_err(), StoreError::Corrupt { .. }));

    let nowhere = FileStore::new(dir.path().join("missing-dir").join("cp.json"));
    let err = nowhere.save(&checkpoint(1), None).await.unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
}

/// A checkpoint whose plan moves `pods` pods, with names and UIDs that compress like real ones (`noisy`:
/// random hex everywhere, which hardly compresses).
fn large_checkpoint(seq: u64, pods: usize, noisy: bool) -> poolshift::model::checkpoint::Checkpoint {
    use poolshift::model::plan::{Batch, Disposition, PlannedPod};
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut hex = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        format!("{:016x}", state)
    };
    let mut cp = checkpoint(seq);
    let pods: Vec<PlannedPod> = (0..pods)
        .map(|i| PlannedPod {
            namespace: format!("team-{}", i % 50),
            name: if noisy { format!("{}{}", hex(), hex()) } else { format!("web-{}-{:05}", i / 30, i % 30) },
            uid: format!("{}-{}", hex(), hex()),
            node: format!("ip-10-0-{}-{}.eu-west-1.compute.internal", i / 30 / 250, (i / 30) % 250),
            workload: Some(poolshift::model::identity::WorkloadRef::new("Deployment", format!("web-{}", i / 30))),
            pdb: Some(format!("team-{}/web-{}", i % 50, i / 30)),
            disposition: Disposition::Evict,
        })
        .collect();
    cp.plan.batches = vec![Batch { index: 0, nodes: vec!["n1".into()], pods }];
    cp
}

#[tokio::test(start_paused = true)]
async fn configmap_store_compresses_a_large_plan_and_refuses_what_cannot_fit() {
    let sim = sim();
    let client = sim.client();
    let store = ConfigMapStore::new(client.clone(), "Demo", "big");
    // 15,000 pods (a 500-node pool): several MB of JSON, more than a ConfigMap's 1 MiB.
    let big = large_checkpoint(1, 15_000, false);
    let json_len = serde_json::to_string(&big).unwrap().len();
    assert!(json_len > 1024 * 1024, "{json_len}");
    let v1 = store.save(&big, None).await.unwrap();
    let loaded = store.load().await.unwrap().unwrap();
    assert_eq!((&loaded.checkpoint, loaded.version.as_str()), (&big, v1.as_str()));
    assert_eq!(store.version().await.unwrap().as_deref(), Some(v1.as_str()));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "poolshift-system");
    let cm = cms.get("poolshift-demo-big").await.unwrap();
    assert!(cm.data.is_none(), "compressed only");
    let gz = &cm.binary_data.unwrap()[GZIP_KEY].0;
    assert!(gz.len() < 1024 * 1024, "{} compressed bytes for {json_len}", gz.len());

    // The compare-and-swap and the seq rule hold as for plain JSON.
    let err = store.save(&large_checkpoint(1, 15_000, false), Some(&v1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Stale { stored: 1, writing: 1, .. }), "{err}");
    // A small one goes back to plain JSON.
    let v2 = store.save(&checkpoint(2), Some(&v1)).await.unwrap();
    let cm = cms.get("poolshift-demo-big").await.unwrap();
    assert!(cm.binary_data.is_none() && cm.data.is_some_and(|d| d.contains_key(DATA_KEY)));

    // Too large even compressed: refused before any request, naming the way out; the stored one stays.
    let err = store.save(&large_checkpoint(3, 60_000, true), Some(&v2)).await.unwrap_err();
    assert!(
        err.to_string().contains("more than a ConfigMap holds") && err.to_string().contains("--state-file"),
        "{err}"
    );
    assert_eq!(store.load().await.unwrap().unwrap().checkpoint.seq, 2);

    // Damaged compressed data is reported as such, not as a missing checkpoint.
    let mut damaged = cms.get("poolshift-demo-big").await.unwrap();
    damaged.data = None;
    damaged.binary_data = Some([(GZIP_KEY.to_string(), k8s_openapi::ByteString(b"not gzip".to_vec()))].into());
    cms.replace("poolshift-demo-big", &Default::default(), &damaged).await.unwrap();
    let err = store.load().await.unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { message, .. } if message.contains(GZIP_KEY)), "{err}");

    // The API server itself refuses an oversized ConfigMap, as upstream's validation does.
    let mut huge = ConfigMap::default();
    huge.metadata.name = Some("huge".into());
    huge.data = Some([("a".to_string(), "x".repeat(1024 * 1024 + 1))].into());
    let err = cms.create(&Default::default(), &huge).await.unwrap_err();
    let kube::Error::Api(s) = err else { panic!("not an API error") };
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(s.message.contains("Too long: may not be more than 1048576 bytes"), "{}", s.message);
}
