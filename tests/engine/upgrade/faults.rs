//! API faults: throttling with Retry-After and server errors are answers to wait on, not failures.

use poolshift::engine::Outcome;

use super::harness::{policy, rig, scenario};

#[tokio::test(start_paused = true)]
async fn upgrade_completes_through_api_throttling_and_errors() {
    let yaml = scenario(
        4,
        "  - {kind: Deployment, name: web, namespace: shop, replicas: 12, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 2}}
  - {kind: StatefulSet, name: db, namespace: data, replicas: 3, requests: {cpu: 100m, memory: 64Mi}, pdb: {max_unavailable: 1}}",
        "faults:
  api:
    - {verbs: [create], resources: [pods/eviction], error_rate: 0.15, throttle_rate: 0.15, retry_after_seconds: 2}
    - {verbs: [patch, update, get], error_rate: 0.05}
",
    );
    let r = rig(&yaml);
    let out = r.upgrade(&policy()).await;
    assert!(matches!(out, Outcome::Done(_)), "{out:?}");
    let requests = r.recorder().requests;
    let evictions: u64 = requests.iter().filter(|(k, _)| k.contains("pods/eviction")).map(|(_, v)| v).sum();
    assert!(evictions > 15, "faults made some evictions repeat: {requests:?}");
    r.assert_safe();
}
