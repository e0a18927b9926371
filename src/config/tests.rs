use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::model::policy::{BatchSize, Escalation};
use crate::model::version::Version;

pub(super) fn parse(text: &str) -> Result<ClusterConfig, ConfigError> {
    ClusterConfig::parse(text, "prod.yaml", Path::new("/etc/poolshift"))
}

/// The full message of the error `text` gives.
pub(super) fn error(text: &str) -> String {
    match parse(text) {
        Ok(c) => panic!("accepted:\n{text}\n=> {c:?}"),
        Err(e) => e.to_string(),
    }
}

/// A valid file; tests replace or append lines to break it.
const GOOD: &str = "\
cluster:
  name: prod-eu
provider:
  kind: sim
pools:
  - name: workers
    to: next-minor
    batch: 20%
    batch_soak: 2m
";

fn with(line: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = GOOD.lines().collect();
    lines[line - 1] = replacement;
    lines.join("\n") + "\n"
}

fn plus(extra: &str) -> String {
    format!("{GOOD}{extra}")
}

#[test]
fn a_bad_duration_names_file_line_column_and_field() {
    assert_eq!(
        error(&with(9, "    batch_soak: 5 minutes")),
        "prod.yaml:9:17: pools[0].batch_soak: invalid duration \"5 minutes\": expected a number and a unit such as 90s, 5m, 1h"
    );
    assert_eq!(
        error(&plus("    drain_timeout: 900\n")),
        "prod.yaml:10:20: pools[0].drain_timeout: invalid duration 900: a duration needs a unit, such as 900s or 900m"
    );
}

#[test]
fn unknown_keys_are_errors_at_every_level() {
    assert_eq!(
        error(&plus("lease_tll: 30s\n")),
        "prod.yaml:10:1: lease_tll: unknown field `lease_tll`, expected one of `cluster`, `provider`, `state`, `lease_ttl`, `maintenance`, `notify`, `pools`"
    );
    assert_eq!(
        error(&plus("    allow: {bare_pod: true}\n")),
        "prod.yaml:10:13: pools[0].allow.bare_pod: unknown field `bare_pod`, expected one of `bare_pods`, `empty_dir`, `do_not_disrupt`, `safe_to_evict_false`"
    );
    assert_eq!(
        error(&with(2, "  name: prod-eu\n  zone: a")),
        "prod.yaml:3:3: cluster.zone: unknown field `zone`, expected one of `name`, `context`, `kubeconfig`"
    );
}

#[test]
fn wrong_types_are_errors() {
    assert_eq!(
        error(&plus("    max_in_flight: many\n")),
        "prod.yaml:10:20: pools[0].max_in_flight: invalid type: string \"many\", expected usize"
    );
    assert_eq!(
        error(&plus("    allow: {empty_dir: maybe}\n")),
        "prod.yaml:10:24: pools[0].allow.empty_dir: invalid type: string \"maybe\", expected a boolean"
    );
    assert_eq!(
        error("cluster: [prod]\nprovider: {kind: sim}\npools: [{name: a}]\n"),
        "prod.yaml:1:10: cluster: invalid type: sequence, expected a mapping with name (and optionally context, kubeconfig)"
    );
}

#[test]
fn a_bad_target_version_is_an_error() {
    assert_eq!(
        error(&with(7, "    to: 1.31.x")),
        "prod.yaml:7:9: pools[0].to: invalid target \"1.31.x\": expected latest-patch, next-minor or a version X.Y.Z such as 1.31.4"
    );
    // YAML reads 1.31 as a number: still reported as a target.
    assert_eq!(
        error(&with(7, "    to: 1.31")),
        "prod.yaml:7:9: pools[0].to: invalid target 1.31: expected latest-patch, next-minor or a version X.Y.Z such as 1.31.4"
    );
}

#[test]
fn a_bad_batch_is_an_error() {
    assert_eq!(
        error(&with(8, "    batch: 150%")),
        "prod.yaml:8:12: pools[0].batch: invalid batch \"150%\": a percentage must be between 1% and 100%"
    );
    assert_eq!(
        error(&with(8, "    batch: 0")),
        "prod.yaml:8:12: pools[0].batch: invalid batch 0: a batch has at least 1 node"
    );
}

#[test]
fn an_unknown_provider_kind_is_an_error() {
    assert_eq!(
        error(&with(4, "  kind: aks")),
        "prod.yaml:4:9: provider.kind: unknown variant `aks`, expected one of `sim`, `eks`, `eks-asg`, `gke`, `onprem`, `kwok`"
    );
}

#[test]
fn provider_fields_are_checked_against_the_kind() {
    // Required: reported at the provider mapping, where it should be written.
    assert_eq!(
        error(&with(4, "  kind: eks\n  region: eu-west-1")),
        "prod.yaml:4:3: provider.cluster: required for provider kind eks"
    );
    assert_eq!(
        error(&with(4, "  kind: gke\n  project: p\n  location: europe-west1\n  cluster: c\n  region: eu")),
        "prod.yaml:8:11: provider.region: does not apply to provider kind gke (kind gke takes project, location, cluster, endpoint)"
    );
    assert_eq!(
        error(&with(4, "  kind: sim\n  region: eu")),
        "prod.yaml:5:11: provider.region: does not apply to provider kind sim (kind sim takes no settings)"
    );
    assert_eq!(
        error(&with(4, "  kind: eks\n  region: eu-west-1\n  cluster: prod\n  endpoint_url: localhost:5000")),
        "prod.yaml:7:17: provider.endpoint_url: invalid URL \"localhost:5000\": expected http://... or https://..."
    );
}

#[test]
fn onprem_takes_exactly_one_mode() {
    assert_eq!(
        error(&with(4, "  kind: onprem")),
        "prod.yaml:4:3: provider.plugin: provider kind onprem needs one of plugin (a name), plugin_path or pre_provisioned"
    );
    assert_eq!(
        error(&with(4, "  kind: onprem\n  plugin: terraform\n  pre_provisioned: {label: a=b, expected_nodes: 3}")),
        "prod.yaml:6:20: provider.pre_provisioned: conflicts with plugin: give only one of plugin, plugin_path, pre_provisioned"
    );
    assert_eq!(
        error(&with(4, "  kind: onprem\n  pre_provisioned: {label: green, expected_nodes: 3}")),
        "prod.yaml:5:28: provider.pre_provisioned.label: invalid label \"green\": expected key=value, such as poolshift.io/pool=green"
    );
    assert_eq!(
        error(&with(4, "  kind: onprem\n  plugin: my plugin")),
        "prod.yaml:5:11: provider.plugin: invalid plugin name \"my plugin\": letters, digits, '-' and '_' (the executable is poolshift-provider-<name>)"
    );
}

#[test]
fn duplicate_pool_names_are_an_error() {
    assert_eq!(
        error(&plus("  - name: workers\n")),
        "prod.yaml:10:11: pools[1].name: duplicate pool name \"workers\" (also pools[0])"
    );
}

#[test]
fn state_file_rules() {
    assert_eq!(error(&plus("state:\n  store: file\n")), "prod.yaml:11:3: state.file: required when store is file");
    assert_eq!(
        error(&plus("state: {store: configmap, file: /tmp/x.json}\n")),
        "prod.yaml:10:33: state.file: applies only with store: file"
    );
    assert_eq!(
        error(&plus("  - name: system\nstate: {store: file, file: /var/lib/poolshift/state.json}\n")),
        "prod.yaml:11:28: state.file: 2 pools would share one file: put {pool} in the path (e.g. /var/lib/poolshift/{pool}.json)"
    );
    assert_eq!(
        error(&plus("state: {store: s3}\n")),
        "prod.yaml:10:16: state.store: unknown variant `s3`, expected `configmap` or `file`"
    );
}

#[test]
fn image_id_only_for_eks_asg() {
    assert_eq!(
        error(&plus("    image_id: ami-123\n")),
        "prod.yaml:10:15: pools[0].image_id: applies only to provider kind eks-asg (this file's provider is sim)"
    );
}

#[test]
fn bad_escalation_and_ranges() {
    assert_eq!(
        error(&plus("    escalation: delete\n")),
        "prod.yaml:10:17: pools[0].escalation: unknown variant `delete`, expected one of `pause`, `quarantine`, `force`"
    );
    assert_eq!(error(&plus("    max_in_flight: 0\n")), "prod.yaml:10:20: pools[0].max_in_flight: must be at least 1");
    assert_eq!(error(&plus("lease_ttl: 500ms\n")), "prod.yaml:10:12: lease_ttl: must be at least 1s");
}

#[test]
fn missing_and_empty_things() {
    assert_eq!(error(""), "prod.yaml:1:1: (top level): the file is empty: expected cluster, provider and pools");
    assert_eq!(
        error("# just a comment\n"),
        "prod.yaml:1:1: (top level): the file is empty: expected cluster, provider and pools"
    );
    assert_eq!(
        error("cluster: {name: a}\nprovider: {kind: sim}\n"),
        "prod.yaml:1:1: (top level): missing field `pools`"
    );
    assert_eq!(error(&with(2, "  name: \"\"")), "prod.yaml:2:9: cluster.name: must not be empty");
    assert_eq!(
        error("cluster: {name: a}\nprovider: {kind: sim}\npools: []\n"),
        "prod.yaml:3:8: pools: configure at least one pool"
    );
    assert_eq!(
        error(&with(2, "  name: prod eu")),
        "prod.yaml:2:9: cluster.name: invalid name \"prod eu\": use letters, digits, '-', '_' and '.'"
    );
}

#[test]
fn yaml_syntax_errors_are_positioned() {
    let e = error("cluster:\n  name: a\n pools: [\n");
    assert!(e.starts_with("prod.yaml:3:"), "{e}");
}

#[test]
fn a_good_file_gives_the_policy_and_target() {
    let c = parse(&plus(
        "    pool_soak: 10m\n    drain_timeout: 15m\n    green_ready_timeout: 30m\n    escalation: force\n    max_in_flight: 7\n    maturity: 3\n    allow: {bare_pods: true}\nlease_ttl: 10s\n",
    ))
    .unwrap();
    assert_eq!(c.cluster.name, "prod-eu");
    assert_eq!(c.provider, ProviderConfig::Sim);
    assert_eq!(c.state, StateConfig::ConfigMap);
    assert_eq!(c.lease_ttl, Some(Duration::from_secs(10)));
    let p = c.pool(None).unwrap();
    assert_eq!(p.policy.batch, BatchSize::Percent(20));
    assert_eq!(p.policy.batch_soak, Duration::from_secs(120));
    assert_eq!(p.policy.pool_soak, Duration::from_secs(600));
    assert_eq!(p.policy.drain_timeout, Duration::from_secs(900));
    assert_eq!(p.policy.green_ready_timeout, Duration::from_secs(1800));
    assert_eq!(p.policy.escalation, Escalation::Force);
    assert!(!p.policy.force_allowed, "only --force enables force");
    assert_eq!(p.policy.max_in_flight, 7);
    assert!(p.policy.allow.bare_pods && !p.policy.allow.empty_dir);
    assert_eq!(p.target(None), TargetPolicy::NextMinor { maturity: 3 });
    let exact = TargetSpec::Exact(Version::new(1, 31, 4));
    assert_eq!(p.target(Some(&exact)), TargetPolicy::Exact(Version::new(1, 31, 4)));
}

#[test]
fn defaults_for_an_almost_empty_pool() {
    let c = parse("cluster: {name: c}\nprovider: {kind: sim}\npools: [{name: a}]\n").unwrap();
    let p = c.pool(Some("a")).unwrap();
    assert_eq!(p.policy, crate::model::policy::Policy::default());
    assert_eq!(p.target(None), TargetPolicy::LatestPatch);
    assert_eq!(c.lease_ttl, None);
}

#[test]
fn pools_are_chosen_by_name_or_when_alone() {
    let c = parse(&plus("  - name: system\n")).unwrap();
    assert_eq!(
        c.pool(None).unwrap_err().to_string(),
        "prod.yaml configures several pools (workers, system): say which with --pool NAME"
    );
    assert_eq!(
        c.pool(Some("gpu")).unwrap_err().to_string(),
        "prod.yaml has no pool named \"gpu\" (its pools: workers, system)"
    );
    assert_eq!(c.pool(Some("system")).unwrap().name, "system");
}

#[test]
fn state_files_are_per_pool_and_relative_to_the_file() {
    let c = parse(&plus("  - name: system\nstate: {store: file, file: \"state/{pool}.json\"}\n")).unwrap();
    assert_eq!(c.state, StateConfig::File(PathBuf::from("/etc/poolshift/state/{pool}.json")));
    let StateLocation::File(f) = c.state_for("system", None) else { panic!() };
    assert_eq!(f, PathBuf::from("/etc/poolshift/state/system.json"));
    // --state-file wins over the file, and over the ConfigMap default.
    let StateLocation::File(f) = c.state_for("system", Some(Path::new("/tmp/s.json"))) else { panic!() };
    assert_eq!(f, PathBuf::from("/tmp/s.json"));
    let c = parse(GOOD).unwrap();
    assert!(matches!(c.state_for("workers", None), StateLocation::ConfigMap));
}

#[test]
fn provider_settings_are_kept() {
    let c = parse(&with(
        4,
        "  kind: onprem\n  plugin_path: bin/plugin.sh\n  timeout: 30s\n  settings: {workspace: prod, vars: [a, b]}",
    ))
    .unwrap();
    let ProviderConfig::Onprem(OnpremConfig::Plugin { executable, timeout, settings, .. }) = c.provider else {
        panic!()
    };
    assert_eq!(executable, PluginExecutable::Path(PathBuf::from("/etc/poolshift/bin/plugin.sh")));
    assert_eq!(timeout, Duration::from_secs(30));
    assert_eq!(settings["vars"], serde_json::json!(["a", "b"]));
    let c = parse(&with(4, "  kind: eks-asg\n  region: eu-west-1\n  cluster: prod")).unwrap();
    assert_eq!(c.provider.kind(), "eks-asg");
}

#[test]
fn kwok_settings_are_kept() {
    let c = parse(&with(
        4,
        "  kind: kwok\n  namespace: pools\n  versions: [1.33.4, \"v1.34.1\"]\n  node_ready_delay: 1m30s\n  kubeconfig: cloud.kubeconfig",
    ))
    .unwrap();
    assert_eq!(
        c.provider,
        ProviderConfig::Kwok(KwokConfig {
            namespace: Some("pools".into()),
            versions: vec!["1.33.4".into(), "1.34.1".into()],
            node_ready_delay: Some(Duration::from_secs(90)),
            kubeconfig: Some(PathBuf::from("/etc/poolshift/cloud.kubeconfig")),
        })
    );
    assert_eq!(c.provider.kind(), "kwok");
    // Nothing but the kind: the provider's defaults.
    let c = parse(&with(4, "  kind: kwok")).unwrap();
    assert_eq!(c.provider, ProviderConfig::Kwok(KwokConfig::default()));
}

#[test]
fn kwok_settings_are_checked() {
    assert_eq!(
        error(&with(4, "  kind: kwok\n  region: eu")),
        "prod.yaml:5:11: provider.region: does not apply to provider kind kwok (kind kwok takes namespace, versions, node_ready_delay, kubeconfig)"
    );
    assert_eq!(
        error(&with(4, "  kind: kwok\n  versions: [1.33.4, 1.34.x]")),
        "prod.yaml:5:22: provider.versions[1]: invalid version \"1.34.x\": expected X.Y.Z such as 1.31.4"
    );
    // YAML reads 1.34 as a number: still a bad version, named by its index.
    assert_eq!(
        error(&with(4, "  kind: kwok\n  versions:\n    - 1.33.4\n    - 1.34")),
        "prod.yaml:7:7: provider.versions[1]: invalid version \"1.34\": expected X.Y.Z such as 1.31.4"
    );
    assert_eq!(
        error(&with(4, "  kind: kwok\n  versions: []")),
        "prod.yaml:5:13: provider.versions: list at least one version, or leave versions out to offer every patch of the control plane's minor and the three before it"
    );
    assert_eq!(
        error(&with(4, "  kind: kwok\n  namespace: \"\"")),
        "prod.yaml:5:14: provider.namespace: must not be empty"
    );
    assert_eq!(
        error(&with(4, "  kind: kwok\n  namespace: Kwok_Pools")),
        "prod.yaml:5:14: provider.namespace: invalid namespace \"Kwok_Pools\": a DNS label (a-z, 0-9, '-', at most 63 characters)"
    );
    assert_eq!(
        error(&with(4, "  kind: kwok\n  node_ready_delay: soon")),
        "prod.yaml:5:21: provider.node_ready_delay: invalid duration \"soon\": expected a number and a unit such as 90s, 5m, 1h"
    );
    assert_eq!(
        error(&with(4, "  kind: sim\n  namespace: pools")),
        "prod.yaml:5:14: provider.namespace: does not apply to provider kind sim (kind sim takes no settings)"
    );
}

/// Every shipped example loads.
#[test]
fn every_example_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let c = ClusterConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!c.pools.is_empty());
            seen.push(c.provider.kind());
        }
    }
    seen.sort();
    assert_eq!(seen, ["eks", "eks-asg", "gke", "kwok", "onprem", "sim"]);
}

#[test]
fn guided_stops_default_to_all_and_are_checked() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.pools[0].guided_stops, StopKind::ALL.to_vec());
    let c = parse(&plus("    guided: {stops: [after_batch, before_blue_deletion]}\n")).unwrap();
    assert_eq!(c.pools[0].guided_stops, vec![StopKind::AfterBatch, StopKind::BeforeBlueDeletion]);
    let c = parse(&plus("    guided: {stops: []}\n")).unwrap();
    assert!(c.pools[0].guided_stops.is_empty(), "an empty list never stops");
    assert_eq!(
        error(&plus("    guided: {stops: [after_each_batch]}\n")),
        "prod.yaml:10:22: pools[0].guided.stops[0]: unknown variant `after_each_batch`, expected one of `green_ready`, `before_first_batch`, `after_batch`, `before_blue_deletion`"
    );
    assert_eq!(
        error(&plus("    guided: {stops: [after_batch, green_ready, after_batch]}\n")),
        "prod.yaml:10:48: pools[0].guided.stops[2]: after_batch is listed twice (also stops[0])"
    );
    assert_eq!(
        error(&plus("    guided: {stop: [after_batch]}\n")),
        "prod.yaml:10:14: pools[0].guided.stop: unknown field `stop`, expected `stops`"
    );
}
