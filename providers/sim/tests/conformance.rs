//! The sim provider passes the provider conformance suite against the in-process simulator.

use std::time::Duration;

use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift_provider_api::conformance::Conformance;
use poolshift_provider_sim::SimProvider;

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
}
