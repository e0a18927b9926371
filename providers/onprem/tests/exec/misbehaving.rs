//! Plugins that misbehave: each is a clear `Failed` error naming the plugin, the verb and what happened,
//! and the simulator's pools are exactly as before (poolshift neither retries nor cleans up on its own).
//! The bad plugins are small shell scripts; the good one describes blue so the create has a real spec.

use std::path::Path;
use std::time::Duration;

use poolshift_provider_api::{CreateToken, ErrorKind, PoolSpec, Provider, ProviderError};
use poolshift_provider_onprem::{ExecProvider, ExecSettings};

use super::support::{TcpSim, kubesim_provider, script_provider};

const V1: &str = "poolshift.io/provider/v1";

/// Runs `create` of blue's green pool through the plugin `body` and checks that no pool changed.
async fn create_through(body: &str, timeout: Duration) -> (ProviderError, String) {
    let sim = TcpSim::demo().await;
    let blue = kubesim_provider(&sim.url).describe_pool("blue").await.unwrap();
    let spec = PoolSpec::derive(&blue, "blue-v1-31-4", "1.31.4");
    let before = sim.pools().await;
    let dir = tempfile::tempdir().unwrap();
    let body = body.replace("$DIR", &dir.path().display().to_string());
    let p = script_provider(dir.path(), "bad", &body, timeout);
    let e = p.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!((e.provider.as_str(), e.operation.as_str()), ("onprem:bad", "create"), "{e}");
    let program = p.program().display().to_string();
    assert!(e.message.contains(&program), "the message names the plugin: {e}");
    let after = sim.pools().await;
    assert_eq!(before, after, "the simulator's pools changed");
    let extra = std::fs::read_to_string(dir.path().join("child.pid")).unwrap_or_default();
    (e, extra)
}

#[tokio::test]
async fn a_plugin_killed_by_a_signal_is_a_clear_error() {
    let (e, _) =
        create_through("cat > /dev/null; echo 'provisioning rack 7' >&2; kill -9 $$", Duration::from_secs(20)).await;
    assert_eq!(e.kind, ErrorKind::Failed);
    assert!(e.message.contains("was killed by signal 9 (SIGKILL)"), "{e}");
    assert!(e.message.contains("stderr: provisioning rack 7"), "stderr is included: {e}");
    assert!(e.hint.as_deref().unwrap_or("").contains("run it by hand"), "{e:?}");
}

#[tokio::test]
async fn a_plugin_that_times_out_is_killed_with_its_children() {
    // The plugin starts a child (as a script starts curl or terraform) and never answers.
    let (e, pid) = create_through(
        "cat > /dev/null; echo 'waiting for the API' >&2; sleep 600 & echo $! > $DIR/child.pid; wait",
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(e.kind, ErrorKind::Failed);
    assert!(e.message.contains("did not answer within 1s (the timeout); its process group was killed"), "{e}");
    assert!(e.message.contains("waiting for the API"), "{e}");
    let pid = pid.trim();
    assert!(!pid.is_empty(), "the plugin recorded its child");
    // The child was killed with the group: gone, or a zombie nobody has reaped yet.
    let mut state = String::new();
    for _ in 0..100 {
        state = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => "gone".into(),
            Ok(stat) => stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("").to_string(),
        };
        if state == "gone" || state == "Z" || state == "X" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(state.as_str(), "gone" | "Z" | "X"), "child {pid} still running (state {state})");
}

#[tokio::test]
async fn garbage_on_stdout_is_a_clear_error() {
    let (e, _) = create_through("cat > /dev/null; echo 'Creating pool... done!'", Duration::from_secs(20)).await;
    assert_eq!(e.kind, ErrorKind::Failed);
    assert!(e.message.contains("exited with status 0 but answered something that is not a JSON document"), "{e}");
    assert!(e.message.contains("Creating pool... done!"), "the answer is quoted: {e}");
}

#[tokio::test]
async fn a_non_zero_exit_without_a_json_error_is_a_clear_error() {
    let (e, _) =
        create_through("cat > /dev/null; echo 'state lock held by another run' >&2; exit 3", Duration::from_secs(20))
            .await;
    assert_eq!(e.kind, ErrorKind::Failed);
    assert!(e.message.contains("exited with status 3 without a JSON error (answered nothing on stdout)"), "{e}");
    assert!(e.message.contains("stderr: state lock held by another run"), "{e}");
}

#[tokio::test]
async fn a_result_with_a_non_zero_exit_is_not_trusted() {
    let body = format!(
        r#"cat > /dev/null; echo '{{"protocol": "{V1}", "result": {{"name": "blue-v1-31-4", "version": "1.31.4", "state": "creating", "nodes": 0}}}}'; exit 2"#
    );
    let (e, _) = create_through(&body, Duration::from_secs(20)).await;
    assert_eq!(e.kind, ErrorKind::Failed);
    assert!(e.message.contains("exited with status 2 after answering a result; the result is not trusted"), "{e}");
}

#[tokio::test]
async fn another_protocol_version_is_rejected() {
    let body = r#"cat > /dev/null; echo '{"protocol": "poolshift.io/provider/v2", "result": {"name": "blue-v1-31-4", "version": "1.31.4", "state": "creating", "nodes": 0}}'"#;
    let (e, _) = create_through(body, Duration::from_secs(20)).await;
    assert_eq!(e.kind, ErrorKind::Failed);
    assert!(
        e.message.contains(
            "answered protocol \"poolshift.io/provider/v2\", but poolshift speaks \"poolshift.io/provider/v1\""
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_result_of_the_wrong_shape_is_rejected() {
    let body = format!(r#"cat > /dev/null; echo '{{"protocol": "{V1}", "result": {{"name": "blue-v1-31-4"}}}}'"#);
    let (e, _) = create_through(&body, Duration::from_secs(20)).await;
    assert_eq!(e.kind, ErrorKind::Failed);
    assert!(e.message.contains("answered a result that is not a PoolStatus (missing field `version`"), "{e}");
    // Or about another pool than the one asked for.
    let body = format!(
        r#"cat > /dev/null; echo '{{"protocol": "{V1}", "result": {{"name": "other", "version": "1.31.4", "state": "creating", "nodes": 0}}}}'"#
    );
    let (e, _) = create_through(&body, Duration::from_secs(20)).await;
    assert!(e.message.contains("answered about pool \"other\" when asked about \"blue-v1-31-4\""), "{e}");
}

#[tokio::test]
async fn structured_errors_keep_their_kind_message_and_hint() {
    let body = format!(
        r#"cat > /dev/null; echo 'ipam: 10.0.0.0/24 full' >&2; echo '{{"protocol": "{V1}", "error": {{"kind": "quota", "message": "no free addresses for 10 nodes", "hint": "grow the node subnet"}}}}'; exit 1"#
    );
    let sim = TcpSim::demo().await;
    let blue = kubesim_provider(&sim.url).describe_pool("blue").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = script_provider(dir.path(), "ipam", &body, Duration::from_secs(20));
    let e = p
        .create_pool(&PoolSpec::derive(&blue, "blue-v1-31-4", "1.31.4"), &CreateToken::new("test", 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Quota);
    assert_eq!(e.message, "no free addresses for 10 nodes; stderr: ipam: 10.0.0.0/24 full");
    assert_eq!(e.hint.as_deref(), Some("grow the node subnet"));

    // A throttled backend reported by the plugin is retryable.
    let body = format!(
        r#"cat > /dev/null; echo '{{"protocol": "{V1}", "error": {{"kind": "transient", "message": "API rate limit, retry"}}}}'"#
    );
    let p = script_provider(dir.path(), "busy", &body, Duration::from_secs(20));
    let e = p.pool_status("blue").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(e.kind.is_retryable());
    // not_found from status or delete means the pool is gone.
    let body = format!(
        r#"cat > /dev/null; echo '{{"protocol": "{V1}", "error": {{"kind": "not_found", "message": "no such pool"}}}}'; exit 1"#
    );
    let p = script_provider(dir.path(), "gone", &body, Duration::from_secs(20));
    assert_eq!(p.pool_status("x").await.unwrap(), None);
    assert_eq!(p.delete_pool("x").await.unwrap(), None);
    assert_eq!(p.describe_pool("x").await.unwrap_err().kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn a_missing_executable_is_a_clear_error() {
    let e = ExecProvider::new(ExecSettings { plugin: Some("no-such-plugin-xyz".into()), ..Default::default() })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Failed);
    assert_eq!(e.provider, "onprem:no-such-plugin-xyz");
    assert!(e.message.starts_with("no executable poolshift-provider-no-such-plugin-xyz on PATH (searched: "), "{e}");
    assert!(e.hint.as_deref().unwrap_or("").contains("plugin_path"), "{e:?}");

    let e = ExecProvider::new(ExecSettings {
        plugin_path: Some("/nonexistent/poolshift-provider-x".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Failed);
    assert!(e.message.contains("plugin_path /nonexistent/poolshift-provider-x: No such file"), "{e}");

    let e = ExecProvider::new(ExecSettings::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("set plugin"), "{e}");

    // A plugin that disappears after poolshift found it: the call fails, nothing changes.
    let sim = TcpSim::demo().await;
    let before = sim.pools().await;
    let dir = tempfile::tempdir().unwrap();
    let p = script_provider(dir.path(), "vanishing", "exit 0", Duration::from_secs(5));
    std::fs::remove_file(p.program()).unwrap();
    let e = p.delete_pool("blue").await.unwrap_err();
    assert_eq!((e.kind, e.operation.as_str()), (ErrorKind::Failed, "delete"));
    assert!(e.message.contains("could not be started: No such file or directory"), "{e}");
    assert_eq!(sim.pools().await, before);
    assert!(!Path::new(&p.program()).exists());
}
