//! From the file as written to the configuration poolshift runs with: the checks types cannot express
//! (fields per provider kind, duplicates, ranges, fields that only apply to one provider), each failing
//! with the path of the offending field, which the caller turns into a line and column.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::locate::FieldPath;
use super::provider::{
    DEFAULT_PLUGIN_TIMEOUT, EksConfig, GkeConfig, KwokConfig, OnpremConfig, PluginExecutable, ProviderConfig,
};
use super::schema::{self, Kind, Store};
use super::units::TargetSpec;
use super::{ClusterConfig, ClusterRef, POOL_PLACEHOLDER, PoolConfig, StateConfig};
use crate::model::policy::{Allow, Policy};
use crate::model::stop::StopKind;
use crate::plan::target::DEFAULT_MATURITY;

/// A problem and where it is.
pub type Problem = (FieldPath, String);

fn fail<T>(path: FieldPath, message: impl Into<String>) -> Result<T, Problem> {
    Err((path, message.into()))
}

/// Names that become parts of Kubernetes object names (checkpoint ConfigMaps, Leases).
fn check_name(path: FieldPath, name: &str) -> Result<(), Problem> {
    if name.is_empty() {
        return fail(path, "must not be empty");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return fail(path, format!("invalid name \"{name}\": use letters, digits, '-', '_' and '.'"));
    }
    Ok(())
}

fn non_empty(path: FieldPath, value: &Option<String>) -> Result<(), Problem> {
    match value {
        Some(v) if v.trim().is_empty() => fail(path, "must not be empty"),
        _ => Ok(()),
    }
}

fn url(path: FieldPath, value: &Option<String>) -> Result<(), Problem> {
    match value {
        Some(v) if !(v.starts_with("http://") || v.starts_with("https://")) => {
            fail(path, format!("invalid URL \"{v}\": expected http://... or https://..."))
        }
        _ => Ok(()),
    }
}

/// Relative paths are taken from the config file's directory.
fn anchored(base: &Path, p: &Path) -> std::path::PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

pub fn resolve(file: schema::File, origin: &str, base: &Path) -> Result<ClusterConfig, Problem> {
    let root = FieldPath::root();
    let cluster = root.key("cluster");
    check_name(cluster.key("name"), &file.cluster.name)?;
    non_empty(cluster.key("context"), &file.cluster.context)?;
    let provider = provider(file.provider, base)?;
    let pools = pools(&file.pools, &provider, base)?;
    let schedule = super::windows::resolve(&root.key("maintenance"), file.maintenance.as_ref())?;
    let webhooks = super::notify::resolve(&root.key("notify"), file.notify.as_ref())?;
    let state = state(file.state, base, pools.len())?;
    let lease_ttl = match file.lease_ttl {
        Some(d) if d.0 < Duration::from_secs(1) => return fail(root.key("lease_ttl"), "must be at least 1s"),
        d => d.map(|d| d.0),
    };
    Ok(ClusterConfig {
        origin: origin.to_string(),
        cluster: ClusterRef {
            name: file.cluster.name,
            context: file.cluster.context,
            kubeconfig: file.cluster.kubeconfig.map(|p| anchored(base, &p)),
        },
        provider,
        state,
        lease_ttl,
        schedule,
        webhooks,
        pools,
    })
}

fn provider(p: schema::Provider, base: &Path) -> Result<ProviderConfig, Problem> {
    let path = FieldPath::root().key("provider");
    let present = [
        ("region", p.region.is_some()),
        ("cluster", p.cluster.is_some()),
        ("endpoint_url", p.endpoint_url.is_some()),
        ("profile", p.profile.is_some()),
        ("project", p.project.is_some()),
        ("location", p.location.is_some()),
        ("endpoint", p.endpoint.is_some()),
        ("plugin", p.plugin.is_some()),
        ("plugin_path", p.plugin_path.is_some()),
        ("timeout", p.timeout.is_some()),
        ("settings", p.settings.is_some()),
        ("node_label", p.node_label.is_some()),
        ("pre_provisioned", p.pre_provisioned.is_some()),
        ("namespace", p.namespace.is_some()),
        ("versions", p.versions.is_some()),
        ("node_ready_delay", p.node_ready_delay.is_some()),
        ("kubeconfig", p.kubeconfig.is_some()),
    ];
    let (allowed, required): (&[&str], &[&str]) = match p.kind {
        Kind::Sim => (&[], &[]),
        Kind::Eks | Kind::EksAsg => (&["region", "cluster", "endpoint_url", "profile"], &["region", "cluster"]),
        Kind::Gke => (&["project", "location", "cluster", "endpoint"], &["project", "location", "cluster"]),
        Kind::Onprem => (&["plugin", "plugin_path", "timeout", "settings", "node_label", "pre_provisioned"], &[]),
        Kind::Kwok => (&["namespace", "versions", "node_ready_delay", "kubeconfig"], &[]),
    };
    let kind = p.kind.name();
    for (name, is) in present {
        if is && !allowed.contains(&name) {
            let takes = if allowed.is_empty() {
                format!("kind {kind} takes no settings")
            } else {
                format!("kind {kind} takes {}", allowed.join(", "))
            };
            return fail(path.key(name), format!("does not apply to provider kind {kind} ({takes})"));
        }
    }
    for name in required {
        if !present.iter().any(|(n, is)| n == name && *is) {
            return fail(path.key(name), format!("required for provider kind {kind}"));
        }
    }
    for (name, value) in [
        ("region", &p.region),
        ("cluster", &p.cluster),
        ("profile", &p.profile),
        ("project", &p.project),
        ("location", &p.location),
    ] {
        non_empty(path.key(name), value)?;
    }
    url(path.key("endpoint_url"), &p.endpoint_url)?;
    url(path.key("endpoint"), &p.endpoint)?;
    let eks = |p: schema::Provider| EksConfig {
        region: p.region.unwrap_or_default(),
        cluster: p.cluster.unwrap_or_default(),
        endpoint_url: p.endpoint_url,
        profile: p.profile,
    };
    Ok(match p.kind {
        Kind::Sim => ProviderConfig::Sim,
        Kind::Eks => ProviderConfig::Eks(eks(p)),
        Kind::EksAsg => ProviderConfig::EksAsg(eks(p)),
        Kind::Gke => ProviderConfig::Gke(GkeConfig {
            project: p.project.unwrap_or_default(),
            location: p.location.unwrap_or_default(),
            cluster: p.cluster.unwrap_or_default(),
            endpoint: p.endpoint,
        }),
        Kind::Onprem => ProviderConfig::Onprem(onprem(p, &path, base)?),
        Kind::Kwok => ProviderConfig::Kwok(kwok(p, &path, base)?),
    })
}

fn kwok(p: schema::Provider, path: &FieldPath, base: &Path) -> Result<KwokConfig, Problem> {
    if let Some(ns) = &p.namespace {
        let valid = ns.len() <= 63
            && ns.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !ns.starts_with('-')
            && !ns.ends_with('-');
        if ns.trim().is_empty() {
            return fail(path.key("namespace"), "must not be empty");
        }
        if !valid {
            return fail(
                path.key("namespace"),
                format!("invalid namespace \"{ns}\": a DNS label (a-z, 0-9, '-', at most 63 characters)"),
            );
        }
    }
    let mut versions = Vec::new();
    if let Some(list) = p.versions {
        if list.is_empty() {
            return fail(
                path.key("versions"),
                "list at least one version, or leave versions out to offer every patch of the control plane's minor and the three before it",
            );
        }
        for (i, v) in list.into_iter().enumerate() {
            let text = v.0.trim().trim_start_matches('v');
            let parts: Vec<&str> = text.split('.').collect();
            if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
                return fail(
                    path.key("versions").index(i),
                    format!("invalid version \"{}\": expected X.Y.Z such as 1.31.4", v.0),
                );
            }
            versions.push(text.to_string());
        }
    }
    Ok(KwokConfig {
        namespace: p.namespace,
        versions,
        node_ready_delay: p.node_ready_delay.map(|d| d.0),
        kubeconfig: p.kubeconfig.map(|k| anchored(base, &k)),
    })
}

const ONPREM_MODES: &str = "provider kind onprem needs one of plugin (a name), plugin_path or pre_provisioned";

fn onprem(p: schema::Provider, path: &FieldPath, base: &Path) -> Result<OnpremConfig, Problem> {
    let modes: Vec<&str> = [
        ("plugin", p.plugin.is_some()),
        ("plugin_path", p.plugin_path.is_some()),
        ("pre_provisioned", p.pre_provisioned.is_some()),
    ]
    .into_iter()
    .filter_map(|(n, is)| is.then_some(n))
    .collect();
    match modes.as_slice() {
        [] => return fail(path.key("plugin"), ONPREM_MODES),
        [_] => {}
        [first, second, ..] => {
            return fail(
                path.key(second),
                format!("conflicts with {first}: give only one of plugin, plugin_path, pre_provisioned"),
            );
        }
    }
    if let Some(pre) = p.pre_provisioned {
        for (name, is) in [
            ("timeout", p.timeout.is_some()),
            ("settings", p.settings.is_some()),
            ("node_label", p.node_label.is_some()),
        ] {
            if is {
                return fail(path.key(name), "applies to exec plugins only, not to pre_provisioned");
            }
        }
        let pre_path = path.key("pre_provisioned");
        let valid_label = pre.label.split_once('=').is_some_and(|(k, v)| {
            !k.is_empty() && !k.contains(char::is_whitespace) && !v.contains(char::is_whitespace)
        });
        if !valid_label {
            return fail(
                pre_path.key("label"),
                format!("invalid label \"{}\": expected key=value, such as poolshift.io/pool=green", pre.label),
            );
        }
        if pre.expected_nodes == 0 {
            return fail(pre_path.key("expected_nodes"), "must be at least 1");
        }
        non_empty(pre_path.key("retire_command"), &pre.retire_command)?;
        return Ok(OnpremConfig::PreProvisioned {
            label: pre.label,
            expected_nodes: pre.expected_nodes,
            retire_command: pre.retire_command,
        });
    }
    let executable = match (p.plugin, p.plugin_path) {
        (Some(name), _) => {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
                return fail(
                    path.key("plugin"),
                    format!(
                        "invalid plugin name \"{name}\": letters, digits, '-' and '_' (the executable is poolshift-provider-<name>)"
                    ),
                );
            }
            PluginExecutable::Name(name)
        }
        (None, Some(p)) => PluginExecutable::Path(anchored(base, &p)),
        (None, None) => return fail(path.key("plugin"), ONPREM_MODES),
    };
    let timeout = p.timeout.map_or(DEFAULT_PLUGIN_TIMEOUT, |d| d.0);
    if timeout.is_zero() {
        return fail(path.key("timeout"), "must be more than 0s");
    }
    non_empty(path.key("node_label"), &p.node_label)?;
    Ok(OnpremConfig::Plugin { executable, timeout, settings: p.settings.unwrap_or_default(), node_label: p.node_label })
}

fn state(s: Option<schema::State>, base: &Path, pools: usize) -> Result<StateConfig, Problem> {
    let path = FieldPath::root().key("state");
    let Some(s) = s else { return Ok(StateConfig::ConfigMap) };
    match (s.store, s.file) {
        (Store::Configmap, None) => Ok(StateConfig::ConfigMap),
        (Store::Configmap, Some(_)) => fail(path.key("file"), "applies only with store: file"),
        (Store::File, None) => fail(path.key("file"), "required when store is file"),
        (Store::File, Some(f)) => {
            if f.as_os_str().is_empty() {
                return fail(path.key("file"), "must not be empty");
            }
            if pools > 1 && !f.to_string_lossy().contains(POOL_PLACEHOLDER) {
                return fail(
                    path.key("file"),
                    format!(
                        "{pools} pools would share one file: put {POOL_PLACEHOLDER} in the path (e.g. /var/lib/poolshift/{POOL_PLACEHOLDER}.json)"
                    ),
                );
            }
            Ok(StateConfig::File(anchored(base, &f)))
        }
    }
}

fn pools(pools: &[schema::Pool], provider: &ProviderConfig, base: &Path) -> Result<Vec<PoolConfig>, Problem> {
    let root = FieldPath::root().key("pools");
    if pools.is_empty() {
        return fail(root, "configure at least one pool");
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(pools.len());
    for (i, p) in pools.iter().enumerate() {
        let path = root.index(i);
        check_name(path.key("name"), &p.name)?;
        if let Some(first) = seen.insert(p.name.as_str(), i) {
            return fail(path.key("name"), format!("duplicate pool name \"{}\" (also pools[{first}])", p.name));
        }
        if p.image_id.is_some() && !matches!(provider, ProviderConfig::EksAsg(_)) {
            return fail(
                path.key("image_id"),
                format!("applies only to provider kind eks-asg (this file's provider is {})", provider.kind()),
            );
        }
        non_empty(path.key("image_id"), &p.image_id)?;
        if let Some(TargetSpec::Exact(v)) = &p.to
            && let Some(why) = provider.refuses_target(v)
        {
            return fail(path.key("to"), why);
        }
        if p.max_in_flight == Some(0) {
            return fail(path.key("max_in_flight"), "must be at least 1");
        }
        for (name, d) in [("drain_timeout", p.drain_timeout), ("green_ready_timeout", p.green_ready_timeout)] {
            if d.is_some_and(|d| d.0.is_zero()) {
                return fail(path.key(name), "must be more than 0s");
            }
        }
        let guided_stops = match &p.guided {
            None => StopKind::ALL.to_vec(),
            Some(g) => super::gates::stop_kinds(&path.key("guided").key("stops"), "stops", &g.stops)?,
        };
        let gates = super::gates::resolve(&path.key("gates"), p.gates.as_ref(), base)?;
        let defaults = Policy::default();
        let policy = Policy {
            batch: p.batch.map_or(defaults.batch, |b| b.0),
            batch_soak: p.batch_soak.map_or(defaults.batch_soak, |d| d.0),
            pool_soak: p.pool_soak.map_or(defaults.pool_soak, |d| d.0),
            drain_timeout: p.drain_timeout.map_or(defaults.drain_timeout, |d| d.0),
            escalation: p.escalation.unwrap_or(defaults.escalation),
            // Force is enabled per run, on the command line (`--force`), never by the file alone.
            force_allowed: false,
            max_in_flight: p.max_in_flight.unwrap_or(defaults.max_in_flight),
            allow: p.allow.as_ref().map_or_else(Allow::default, |a| Allow {
                bare_pods: a.bare_pods,
                empty_dir: a.empty_dir,
                do_not_disrupt: a.do_not_disrupt,
                safe_to_evict_false: a.safe_to_evict_false,
            }),
            green_ready_timeout: p.green_ready_timeout.map_or(defaults.green_ready_timeout, |d| d.0),
        };
        out.push(PoolConfig {
            name: p.name.clone(),
            to: p.to.clone().unwrap_or(TargetSpec::LatestPatch),
            maturity: p.maturity.unwrap_or(DEFAULT_MATURITY),
            policy,
            image_id: p.image_id.clone(),
            guided_stops,
            gates,
        });
    }
    Ok(out)
}
