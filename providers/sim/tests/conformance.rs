//! The sim provider passes the provider conformance suite against the in-process simulator.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift_provider_api::Provider;
use poolshift_provider_api::conformance::Conformance;
use poolshift_provider_sim::{FROZEN_NAMESPACE, SimProvider, frozen_record_name};

#[tokio::test(start_paused = true)]
async fn sim_provider_is_conformant() {
    let sim = Simulator::from_scenario(&Scenario::builtin("demo").unwrap(), SimOptions::default()).unwrap();
    let provider = SimProvider::new(sim.client());
    let suite = Conformance {
        provider: &provider,
        blue: "blue".into(),
        target_version: "1.31.4".into(),
        tick: Box::new(|| Box::pin(tokio::time::sleep(Duration::from_secs(5)))),
        max_ticks: 100,
    };
    suite.run().await.unwrap();
    // The restores removed the freeze record.
    let records: kube::Api<ConfigMap> = kube::Api::namespaced(sim.client(), FROZEN_NAMESPACE);
    assert_eq!(records.get_opt(&frozen_record_name("blue")).await.unwrap(), None);
}

/// A new provider (a new poolshift process, after a run aborted with blue frozen) reads the original settings
/// from the record, not the frozen ones blue now has.
#[tokio::test(start_paused = true)]
async fn a_frozen_pool_is_refrozen_with_its_original_settings_by_a_new_process() {
    let sim = Simulator::from_scenario(&Scenario::builtin("demo").unwrap(), SimOptions::default()).unwrap();
    let original = SimProvider::new(sim.client()).freeze_autoscaling("blue").await.unwrap();
    assert!(original.enabled);
    let next_run = SimProvider::new(sim.client());
    let frozen = next_run.describe_pool("blue").await.unwrap().autoscaling;
    assert!(!frozen.enabled && frozen.size.min == frozen.size.max, "{frozen:?}");
    assert_eq!(next_run.freeze_autoscaling("blue").await.unwrap(), original);
    next_run.restore_autoscaling("blue", &original).await.unwrap();
    assert_eq!(next_run.describe_pool("blue").await.unwrap().autoscaling, original);
}
