//! The pre-provisioned provider against the in-process simulator. The test plays the operator's
//! automation by creating simulated pools whose nodes carry the green label (through the sim's pool API).
//! Tests without a retire command run in virtual time; the ones running a command use the real clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};
use poolshift_provider_api::conformance::Conformance;
use poolshift_provider_api::{AutoscalingSettings, CreateToken, ErrorKind, PoolSpec, PoolState, Provider};
use poolshift_provider_onprem::{PreProvisioned, PreProvisionedSettings};
use serde_json::json;

use super::support::{join_nodes, script};

const GREEN: &str = "example.com/generation=g2";
const BLUE: &str = "kubesim.io/pool=blue";

fn settings(expected: u32) -> PreProvisionedSettings {
    PreProvisionedSettings {
        label: GREEN.into(),
        blue_label: BLUE.into(),
        expected_nodes: expected,
        retire_command: None,
        retire_timeout: Duration::from_secs(30),
    }
}

fn demo(speed: f64) -> Simulator {
    Simulator::from_scenario(&Scenario::builtin("demo").unwrap(), SimOptions { seed: 42, speed }).unwrap()
}

#[tokio::test(start_paused = true)]
async fn pre_provisioned_provider_is_conformant() {
    let sim = demo(1.0);
    let client = sim.client();
    let provider = PreProvisioned::new(client.clone(), settings(3)).unwrap();
    assert_eq!(provider.green_name("blue", "1.31.4"), "g2");
    // The automation joins three green nodes once poolshift has asked for the pool (the first tick).
    let joined = Arc::new(AtomicBool::new(false));
    let suite = Conformance {
        provider: &provider,
        blue: "blue".into(),
        target_version: "1.31.4".into(),
        tick: Box::new(move || {
            let client = client.clone();
            let joined = joined.clone();
            Box::pin(async move {
                if !joined.swap(true, Ordering::SeqCst) {
                    join_nodes(&client, "rack7", "1.31.4", 3, json!({"example.com/generation": "g2"})).await;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            })
        }),
        max_ticks: 100,
    };
    suite.run().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn green_is_ready_once_expected_nodes_are_ready_at_the_target_version() {
    let sim = demo(1.0);
    let client = sim.client();
    let p = PreProvisioned::new(client.clone(), settings(3)).unwrap();

    let blue = p.describe_pool("blue").await.unwrap();
    assert_eq!(blue.version, "1.30.8");
    assert_eq!(blue.size.desired, 10);
    assert_eq!(blue.zones, vec!["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
    assert_eq!(blue.instance_types, vec!["m5.xlarge"]);
    assert_eq!(blue.labels.get("team").map(String::as_str), Some("platform"));
    assert!(!blue.labels.contains_key("kubesim.io/pool"), "the pool label itself is not copied");
    assert!(!blue.labels.keys().any(|k| k.contains("kubernetes.io")), "{:?}", blue.labels);
    assert_eq!(blue.autoscaling, AutoscalingSettings::default());
    let m = p.node_matcher("blue");
    assert_eq!((m.label.as_str(), m.value.as_str()), ("kubesim.io/pool", "blue"));
    let m = p.node_matcher("g2");
    assert_eq!((m.label.as_str(), m.value.as_str()), ("example.com/generation", "g2"));

    // Before anything: green does not exist.
    assert_eq!(p.pool_status("g2").await.unwrap(), None);
    let spec = PoolSpec::derive(&blue, "g2", "1.31.4");
    let s = p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    assert_eq!((s.state.clone(), s.nodes), (PoolState::Creating, 0));
    assert!(
        s.message.as_deref().unwrap().starts_with("0 of 3 nodes labelled example.com/generation=g2 Ready at 1.31.4"),
        "{s:?}"
    );

    // The automation first joins nodes at the wrong patch: they do not count.
    join_nodes(&client, "rack6", "1.31.3", 3, json!({"example.com/generation": "g2"})).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    let s = p.pool_status("g2").await.unwrap().unwrap();
    assert_eq!((s.state.clone(), s.nodes), (PoolState::Creating, 3), "{s:?}");
    assert!(s.message.as_deref().unwrap().contains("at another version: rack6-1a-0 (1.31.3)"), "{s:?}");

    join_nodes(&client, "rack7", "1.31.4", 2, json!({"example.com/generation": "g2"})).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    let s = p.pool_status("g2").await.unwrap().unwrap();
    assert_eq!(s.state, PoolState::Creating, "2 of 3: {s:?}");
    assert!(s.message.as_deref().unwrap().starts_with("2 of 3 nodes"), "{s:?}");

    join_nodes(&client, "rack8", "1.31.4", 1, json!({"example.com/generation": "g2"})).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    let s = p.pool_status("g2").await.unwrap().unwrap();
    assert_eq!((s.state.clone(), s.nodes, s.version.as_str()), (PoolState::Ready, 6, "1.31.4"), "{s:?}");

    // Versions: the control plane's and what green nodes run (not newer than the control plane).
    let v = p.versions().await.unwrap();
    assert_eq!(v.control_plane, "1.31.4");
    assert_eq!(v.node_versions, vec!["1.31.3", "1.31.4"]);

    // Same name at another version: Conflict; freeze and restore are no-ops.
    let mut other = spec.clone();
    other.version = "1.31.3".into();
    assert_eq!(p.create_pool(&other, &CreateToken::new("test", 1)).await.unwrap_err().kind, ErrorKind::Conflict);
    assert_eq!(p.freeze_autoscaling("blue").await.unwrap(), AutoscalingSettings::default());
    p.restore_autoscaling("blue", &AutoscalingSettings::default()).await.unwrap();
    // Another name than the green label's value is refused.
    let mut wrong = spec.clone();
    wrong.name = "blue-v1-31-4".into();
    let e = p.create_pool(&wrong, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("its name is \"g2\""), "{e}");
}

#[tokio::test(start_paused = true)]
async fn delete_lists_the_nodes_for_the_operator_to_retire() {
    let sim = demo(1.0);
    let p = PreProvisioned::new(sim.client(), settings(3)).unwrap();
    let s = p.delete_pool("blue").await.unwrap().unwrap();
    assert_eq!((s.state.clone(), s.nodes), (PoolState::Deleting, 10));
    let msg = s.message.unwrap();
    assert!(msg.starts_with("retire these 10 nodes of pool blue (labelled kubesim.io/pool=blue)"), "{msg}");
    assert!(msg.ends_with("blue-1a-0, blue-1a-3, blue-1a-6, blue-1a-9, blue-1b-1, blue-1b-4, blue-1b-7, blue-1c-2, blue-1c-5, blue-1c-8"), "{msg}");
    // Handed over: gone for poolshift, the Node objects stay for the operator.
    assert_eq!(p.pool_status("blue").await.unwrap(), None);
    assert_eq!(p.delete_pool("blue").await.unwrap(), None);
    let nodes: Api<Node> = Api::all(sim.client());
    assert_eq!(nodes.list(&ListParams::default().labels(BLUE)).await.unwrap().items.len(), 10);
    // Unknown pools are missing, not errors.
    assert_eq!(p.delete_pool("elsewhere").await.unwrap(), None);
    assert_eq!(p.describe_pool("elsewhere").await.unwrap_err().kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn the_retire_command_gets_the_node_names() {
    let sim = demo(1.0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("retired.txt");
    let cmd = script(dir.path(), "retire", &format!("echo \"$@\" > {}", out.display()));
    let mut s = settings(3);
    s.retire_command = Some(vec![cmd.display().to_string(), "--reimage".into()]);
    let p = PreProvisioned::new(sim.client(), s).unwrap();
    let status = p.delete_pool("blue").await.unwrap().unwrap();
    assert!(
        status
            .message
            .unwrap()
            .starts_with(&format!("retire command `{} --reimage` ran for: blue-1a-0,", cmd.display()))
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        "--reimage blue-1a-0 blue-1a-3 blue-1a-6 blue-1a-9 blue-1b-1 blue-1b-4 blue-1b-7 blue-1c-2 blue-1c-5 blue-1c-8"
    );
    assert_eq!(p.pool_status("blue").await.unwrap(), None);
}

#[tokio::test]
async fn a_failing_or_hanging_retire_command_is_an_error_and_the_pool_stays() {
    let sim = demo(1.0);
    let dir = tempfile::tempdir().unwrap();
    let failing = script(dir.path(), "retire-fails", "echo 'ipmi: BMC unreachable' >&2; exit 2");
    let mut s = settings(3);
    s.retire_command = Some(vec![failing.display().to_string()]);
    let p = PreProvisioned::new(sim.client(), s).unwrap();
    let e = p.delete_pool("blue").await.unwrap_err();
    assert_eq!((e.kind, e.operation.as_str()), (ErrorKind::Failed, "delete"));
    assert!(e.message.ends_with("exited with status 2; stderr: ipmi: BMC unreachable"), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("blue-1a-0 blue-1a-3"), "the hint lists the nodes: {e:?}");
    assert_eq!(p.pool_status("blue").await.unwrap().unwrap().state, PoolState::Ready, "not handed over");

    let hanging = script(dir.path(), "retire-hangs", "sleep 600");
    let mut s = settings(3);
    s.retire_command = Some(vec![hanging.display().to_string()]);
    s.retire_timeout = Duration::from_secs(1);
    let p = PreProvisioned::new(sim.client(), s).unwrap();
    let e = p.delete_pool("blue").await.unwrap_err();
    assert!(e.message.contains("did not finish within 1s; its process group was killed"), "{e}");
    assert!(p.pool_status("blue").await.unwrap().is_some());
}

#[tokio::test]
async fn settings_are_checked() {
    let sim = Simulator::new(SimOptions::default());
    let new = |s: PreProvisionedSettings| PreProvisioned::new(sim.client(), s).err().map(|e| (e.kind, e.message));
    let mut s = settings(3);
    s.label = "g2".into();
    let (kind, msg) = new(s).unwrap();
    assert_eq!(kind, ErrorKind::Invalid);
    assert_eq!(msg, "label: \"g2\" is not a label (want key=value, e.g. example.com/pool=green)");
    let mut s = settings(3);
    s.blue_label = "example.com/generation=g2".into();
    assert!(new(s).unwrap().1.contains("have the same value"));
    assert_eq!(new(settings(0)).unwrap().1, "expected_nodes must be at least 1");
    let mut s = settings(3);
    s.retire_command = Some(vec![]);
    assert!(new(s).unwrap().1.starts_with("retire_command is empty"));

    // The settings document: durations as strings or seconds, unknown keys refused.
    let s: PreProvisionedSettings = serde_json::from_value(json!({
        "label": GREEN, "blue_label": BLUE, "expected_nodes": 4, "retire_command": ["retire"], "retire_timeout": "2m"
    }))
    .unwrap();
    assert_eq!((s.expected_nodes, s.retire_timeout), (4, Duration::from_secs(120)));
    let e = serde_json::from_value::<PreProvisionedSettings>(json!({
        "label": GREEN, "blue_label": BLUE, "expected_nodes": 4, "labels": "x"
    }))
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `labels`"), "{e}");
}
