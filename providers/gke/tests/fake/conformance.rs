//! The GKE provider passes the provider conformance suite against the fake. The suite's tick moves the
//! fake's operations one step, as time does on GKE.

use poolshift_provider_api::conformance::Conformance;

use crate::support::{BLUE, fake, provider};

#[tokio::test]
async fn gke_provider_is_conformant() {
    let fake = fake().await;
    let provider = provider(&fake).await;
    let ticker = fake.clone();
    let suite = Conformance {
        provider: &provider,
        blue: BLUE.into(),
        target_version: "1.31.4".into(),
        tick: Box::new(move || {
            ticker.advance();
            Box::pin(tokio::task::yield_now())
        }),
        max_ticks: 10,
    };
    suite.run().await.unwrap();
    // Blue is as it was: autoscaling and auto-upgrade restored, nothing else left behind.
    let blue = fake.pool(BLUE).unwrap();
    assert_eq!(blue["autoscaling"]["enabled"], true);
    assert_eq!(blue["management"]["autoUpgrade"], true);
    let labels = blue["config"].get("resourceLabels").cloned().unwrap_or_default();
    assert!(labels.as_object().is_none_or(|l| l.keys().all(|k| !k.starts_with("poolshift-frozen"))), "{labels}");
    assert!(fake.pool("default-pool-v1-31-4").is_none());
}
