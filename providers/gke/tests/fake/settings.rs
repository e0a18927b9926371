//! The provider's settings as the cluster YAML carries them, and their validation (nothing contacted).

use poolshift_provider_api::ErrorKind;
use poolshift_provider_gke::{GkeProvider, GkeSettings};

#[test]
fn settings_deserialize_strictly() {
    let s: GkeSettings =
        serde_json::from_str(r#"{"project": "shop-prod", "location": "europe-west1", "cluster": "shop"}"#).unwrap();
    assert_eq!(s.endpoint, None);
    let err = serde_json::from_str::<GkeSettings>(r#"{"project": "p", "location": "l", "cluster": "c", "zone": "z"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `zone`"), "{err}");
}

#[tokio::test]
async fn a_bad_resource_id_is_invalid_before_anything_is_contacted() {
    let settings = GkeSettings {
        project: "shop-prod".into(),
        location: "europe-west1".into(),
        cluster: "".into(),
        endpoint: Some("http://127.0.0.1:9".into()),
    };
    let err = GkeProvider::new(settings).await.err().unwrap();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(err.message, "GKE settings: cluster \"\" is not a GKE resource id");
}
