//! The exec provider with the reference plugin `plugins/poolshift-provider-kubesim` against the simulator
//! served over TCP: the conformance suite, what the plugin receives and what the simulator then holds,
//! error mapping, throttling.

use poolshift_provider_api::conformance::Conformance;
use poolshift_provider_api::{CreateToken, ErrorKind, PoolSpec, PoolState, Provider};
use poolshift_provider_onprem::{ExecProvider, ExecSettings};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{TcpSim, kubesim_plugin, kubesim_provider, script, sim_request, sim_sleep};

#[tokio::test]
async fn kubesim_plugin_passes_the_conformance_suite() {
    let sim = TcpSim::demo().await;
    let provider = kubesim_provider(&sim.url);
    assert_eq!(provider.kind(), "onprem:kubesim");
    let suite = Conformance {
        provider: &provider,
        blue: "blue".into(),
        target_version: "1.31.4".into(),
        tick: Box::new(|| Box::pin(sim_sleep(5))),
        max_ticks: 200,
    };
    suite.run().await.unwrap();
    // Freeze then restore left blue's autoscaling as the scenario had it, and no freeze record behind.
    let client = sim.sim.client();
    let blue = sim_request(&client, "GET", "/sim/v1/pools/blue", None).await;
    assert_eq!(blue["spec"]["autoscaling"], json!({"enabled": true, "min": 8, "max": 14}));
    let records: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(client, "kube-system");
    assert_eq!(records.get_opt("poolshift-frozen-blue").await.unwrap(), None, "the restore removed the record");
}

/// The plugin and the built-in sim provider keep the same freeze record: a pool frozen by one (a run that
/// was aborted) is frozen again by the other with the original settings, and restored by it.
#[tokio::test]
async fn a_pool_frozen_by_the_sim_provider_is_refrozen_by_the_plugin_with_its_original_settings() {
    let sim = TcpSim::demo().await;
    let builtin = poolshift_provider_sim::SimProvider::new(sim.sim.client());
    let original = builtin.freeze_autoscaling("blue").await.unwrap();
    assert_eq!((original.enabled, original.size.min, original.size.max), (true, 8, 14));
    let plugin = kubesim_provider(&sim.url);
    let frozen = plugin.describe_pool("blue").await.unwrap().autoscaling;
    assert!(!frozen.enabled);
    assert_eq!(plugin.freeze_autoscaling("blue").await.unwrap(), original, "not the frozen {frozen:?}");
    plugin.restore_autoscaling("blue", &original).await.unwrap();
    assert_eq!(plugin.describe_pool("blue").await.unwrap().autoscaling, original);
    // And the other way round.
    let again = plugin.freeze_autoscaling("blue").await.unwrap();
    assert_eq!(builtin.freeze_autoscaling("blue").await.unwrap(), again);
    builtin.restore_autoscaling("blue", &again).await.unwrap();
    assert_eq!(builtin.describe_pool("blue").await.unwrap().autoscaling, original);
}

#[tokio::test]
async fn create_sends_the_protocol_request_and_the_simulator_gets_blues_shape() {
    let sim = TcpSim::demo().await;
    let dir = tempfile::tempdir().unwrap();
    // A wrapper that keeps each request it is given, then runs the reference plugin.
    let wrapper = script(
        dir.path(),
        "poolshift-provider-recording",
        &format!("tee \"{}/$1.json\" | exec \"{}\" \"$@\"", dir.path().display(), kubesim_plugin().display()),
    );
    let provider = ExecProvider::new(ExecSettings {
        plugin_path: Some(wrapper),
        node_label: "kubesim.io/pool".into(),
        settings: json!({"kubesim_url": sim.url, "team": "platform"}),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(provider.kind(), "onprem:recording");

    let blue = provider.describe_pool("blue").await.unwrap();
    assert_eq!(blue.version, "1.30.8");
    assert_eq!(blue.instance_types, vec!["m5.xlarge"]);
    assert_eq!(blue.zones, vec!["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
    assert_eq!((blue.size.desired, blue.autoscaling.size.min, blue.autoscaling.size.max), (10, 8, 14));
    assert!(blue.autoscaling.enabled);

    let name = provider.green_name("blue", "1.31.4");
    assert_eq!(name, "blue-v1-31-4");
    let spec = PoolSpec::derive(&blue, &name, "1.31.4");
    let status = provider.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    assert_eq!((status.name.as_str(), status.version.as_str()), ("blue-v1-31-4", "1.31.4"));
    assert_eq!(status.state, PoolState::Creating);

    let request: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("create.json")).unwrap()).unwrap();
    assert_eq!(request["protocol"], "poolshift.io/provider/v1");
    assert_eq!(request["verb"], "create");
    assert_eq!(request["pool"], "blue-v1-31-4");
    assert_eq!(request["settings"], json!({"kubesim_url": sim.url, "team": "platform"}));
    assert_eq!(request["spec"], serde_json::to_value(&spec).unwrap(), "the spec in its serde form");
    assert!(request.get("prior").is_none(), "only restore carries prior: {request}");
    let describe: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("describe.json")).unwrap()).unwrap();
    assert_eq!((describe["verb"].as_str(), describe["pool"].as_str()), (Some("describe"), Some("blue")));
    assert!(describe.get("spec").is_none(), "only create carries a spec: {describe}");

    // What the simulated cloud was asked for: blue's shape at the new version, scaling as blue does.
    let pool = sim_request(&sim.sim.client(), "GET", "/sim/v1/pools/blue-v1-31-4", None).await;
    let s = &pool["spec"];
    assert_eq!(s["version"], "1.31.4");
    assert_eq!(s["size"], 10);
    assert_eq!(s["instance_type"], "m5.xlarge");
    assert_eq!(s["zones"], json!(["eu-west-1a", "eu-west-1b", "eu-west-1c"]));
    assert_eq!(s["labels"], json!({"team": "platform"}));
    assert_eq!(s["allocatable"]["cpu"], "4");
    assert_eq!(s["capacity_type"], "on-demand");
    assert_eq!(s["autoscaling"], json!({"enabled": true, "min": 8, "max": 14}));
    assert_eq!(request["token"], "test/1", "the attempt's idempotency token");

    // restore carries the prior settings.
    let prior = provider.freeze_autoscaling("blue").await.unwrap();
    provider.restore_autoscaling("blue", &prior).await.unwrap();
    let restore: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("restore.json")).unwrap()).unwrap();
    assert_eq!(restore["prior"], json!({"enabled": true, "size": {"min": 8, "max": 14, "desired": 10}}));
}

#[tokio::test]
async fn simulator_refusals_map_to_error_kinds() {
    let sim = TcpSim::demo().await;
    let p = kubesim_provider(&sim.url);
    let e = p.describe_pool("nope").await.unwrap_err();
    assert_eq!(
        (e.kind, e.operation.as_str(), e.provider.as_str()),
        (ErrorKind::NotFound, "describe", "onprem:kubesim")
    );
    assert!(e.message.contains("pool nope does not exist"), "{e}");
    assert_eq!(p.pool_status("nope").await.unwrap(), None);
    assert_eq!(p.delete_pool("nope").await.unwrap(), None);
    let e = p.freeze_autoscaling("nope").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);

    let blue = p.describe_pool("blue").await.unwrap();
    let mut bad = PoolSpec::derive(&blue, "green", "not-a-version");
    let e = p.create_pool(&bad, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid, "{e}");
    assert!(e.message.contains("kubesim answered 422"), "{e}");

    bad.version = "1.31.4".into();
    bad.capacity_type = poolshift_provider_api::CapacityType::Preemptible;
    let e = p.create_pool(&bad, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("on-demand or spot"), "{e}");

    let good = PoolSpec::derive(&blue, "green", "1.31.4");
    p.create_pool(&good, &CreateToken::new("test", 1)).await.unwrap();
    let mut other = good.clone();
    other.version = "1.31.3".into();
    let e = p.create_pool(&other, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    assert_eq!(e.hint.as_deref(), Some("a pool of that name exists with another spec, or is being deleted"));
}

/// A fake pool API on 127.0.0.1 that throttles every request (429 with Retry-After), as a busy cloud API
/// does; the simulator's own fault injection covers the Kubernetes API only.
async fn throttling_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"error": "rate limit exceeded, slow down"}"#;
                let resp = format!(
                    "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn throttling_and_unreachable_apis_are_transient() {
    let url = throttling_endpoint().await;
    let p = kubesim_provider(&url);
    let e = p.describe_pool("blue").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(e.message.contains("kubesim answered 429") && e.message.contains("slow down"), "{e}");
    assert!(e.kind.is_retryable());

    // Nothing listens on a port just released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = kubesim_provider(&format!("http://127.0.0.1:{port}"));
    let e = p.pool_status("blue").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(e.message.contains("cannot reach kubesim"), "{e}");
}

#[tokio::test]
async fn the_simulator_url_can_come_from_the_environment() {
    let sim = TcpSim::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let wrapper = script(
        dir.path(),
        "poolshift-provider-envsim",
        &format!("KUBESIM_URL={} exec \"{}\" \"$@\"", sim.url, kubesim_plugin().display()),
    );
    let p = ExecProvider::new(ExecSettings { plugin_path: Some(wrapper), ..Default::default() }).unwrap();
    let v = p.versions().await.unwrap();
    assert_eq!(v.control_plane, "1.31.4");
    assert!(v.node_versions.contains(&"1.31.4".to_string()) && v.node_versions.contains(&"1.28.12".to_string()));
    assert!(!v.node_versions.contains(&"1.31.5".to_string()), "never newer than the control plane");
    // Without the variable or the setting, the plugin says what is missing.
    let bare = ExecProvider::new(ExecSettings { plugin_path: Some(kubesim_plugin()), ..Default::default() }).unwrap();
    let e = bare.versions().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("no simulator URL"), "{e}");
    assert!(e.hint.unwrap().contains("KUBESIM_URL"));
}
