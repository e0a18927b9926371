//! [`ExecProvider`]: every provider call runs an executable `poolshift-provider-<name>` with the verb as
//! its argument and a JSON request on stdin, and reads one JSON answer from stdout (PROTOCOL.md).
//!
//! Whatever goes wrong on the plugin's side (it cannot be started, crashes, times out, exits non-zero
//! without a JSON error, prints something that is not a v1 answer, or answers a result of the wrong shape)
//! is a [`ErrorKind::Failed`] naming the plugin, the verb and what happened, with the end of its stderr.
//! poolshift never retries or cleans up after such a failure on its own: the call did nothing it knows of.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use poolshift_provider_api::{
    AutoscalingSettings, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSpec, PoolStatus,
    Provider, ProviderError, default_green_name,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::protocol::{self, Answer, PROTOCOL, Request, Verb};
use poolshift_process::{self as process, RunError};

/// Executables are named `poolshift-provider-<name>`.
pub const PLUGIN_PREFIX: &str = "poolshift-provider-";
/// The node label a plugin's nodes carry unless the settings say otherwise (`<label>=<pool name>`).
pub const DEFAULT_NODE_LABEL: &str = "poolshift.io/pool";

/// Settings of the exec provider (the `provider:` section of the cluster file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSettings {
    /// Plugin name: runs `poolshift-provider-<plugin>` found on PATH.
    #[serde(default)]
    pub plugin: Option<String>,
    /// Explicit path of the executable (wins over the PATH search; `plugin` then only names it in logs).
    #[serde(default)]
    pub plugin_path: Option<PathBuf>,
    /// Per call: `"5m"`, `"90s"`, `"1h30m"`, `"500ms"`, or a number of seconds. Default 5m.
    #[serde(default = "default_timeout", deserialize_with = "crate::duration::deserialize")]
    pub timeout: Duration,
    /// The node label whose value is the pool name on the plugin's nodes. Default `poolshift.io/pool`.
    #[serde(default = "default_node_label")]
    pub node_label: String,
    /// Longest pool name the plugin's infrastructure accepts (green names are shortened to fit). Default 63.
    #[serde(default = "default_max_name_length")]
    pub max_name_length: usize,
    /// Free-form settings passed to the plugin in every request.
    #[serde(default = "empty_object")]
    pub settings: Value,
}

fn default_timeout() -> Duration {
    Duration::from_secs(300)
}

fn default_node_label() -> String {
    DEFAULT_NODE_LABEL.to_string()
}

fn default_max_name_length() -> usize {
    63
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl Default for ExecSettings {
    fn default() -> Self {
        Self {
            plugin: None,
            plugin_path: None,
            timeout: default_timeout(),
            node_label: default_node_label(),
            max_name_length: default_max_name_length(),
            settings: empty_object(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExecProvider {
    /// `onprem:<name>`.
    kind: String,
    program: PathBuf,
    timeout: Duration,
    node_label: String,
    max_name_length: usize,
    settings: Value,
}

const LOCATE: &str = "locate plugin";

impl ExecProvider {
    /// Finds the plugin: `plugin_path` when set, else `poolshift-provider-<plugin>` on PATH. Nothing is run.
    pub fn new(settings: ExecSettings) -> Result<Self, ProviderError> {
        let invalid = |msg: String| ProviderError::new("onprem", LOCATE, ErrorKind::Invalid, msg);
        if settings.node_label.trim().is_empty() {
            return Err(invalid("node_label is empty".into()));
        }
        if settings.max_name_length < 8 {
            return Err(invalid(format!("max_name_length {} is too short (at least 8)", settings.max_name_length)));
        }
        if !settings.settings.is_object() {
            return Err(invalid(format!("settings must be a mapping, not {}", settings.settings)));
        }
        let name = match &settings.plugin {
            Some(p) => {
                let n = p.strip_prefix(PLUGIN_PREFIX).unwrap_or(p);
                if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                    return Err(invalid(format!(
                        "plugin {p:?} is not a plugin name (letters, digits, '-', '_', '.'; use plugin_path for a path)"
                    )));
                }
                Some(n.to_string())
            }
            None => None,
        };
        let (program, name) = match (&settings.plugin_path, name) {
            (Some(path), name) => {
                check_executable(path).map_err(|why| {
                    ProviderError::new(
                        "onprem",
                        LOCATE,
                        ErrorKind::Failed,
                        format!("plugin_path {}: {why}", path.display()),
                    )
                    .with_hint("point plugin_path at the plugin executable (chmod +x) (runbook: onprem-plugin)")
                })?;
                let name = name.unwrap_or_else(|| {
                    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                    file.strip_prefix(PLUGIN_PREFIX).map(str::to_string).unwrap_or(file)
                });
                (path.clone(), name)
            }
            (None, Some(name)) => (find_on_path(&name, std::env::var_os("PATH"))?, name),
            (None, None) => {
                return Err(invalid("set plugin (a name looked up on PATH) or plugin_path".into()));
            }
        };
        Ok(Self {
            kind: format!("onprem:{name}"),
            program,
            timeout: settings.timeout,
            node_label: settings.node_label,
            max_name_length: settings.max_name_length,
            settings: settings.settings,
        })
    }

    /// The executable that is run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    fn err(&self, verb: Verb, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.kind, verb.as_str(), kind, message)
    }

    /// A misbehaving plugin: Failed, with the program, what happened, the end of stderr, and a way to reproduce.
    fn failed(&self, verb: Verb, what: impl std::fmt::Display, stderr: &str) -> ProviderError {
        self.err(verb, ErrorKind::Failed, format!("plugin {} {what}{}", self.program.display(), stderr_note(stderr)))
            .with_hint(format!(
                "run it by hand: `{} {}` with the request on stdin (see providers/onprem/PROTOCOL.md) (runbook: onprem-plugin)",
                self.program.display(),
                verb.as_str()
            ))
    }

    /// Runs one call; `Ok` is the answer's `result`.
    async fn call(
        &self,
        verb: Verb,
        pool: Option<&str>,
        spec: Option<(&PoolSpec, &CreateToken)>,
        prior: Option<&AutoscalingSettings>,
    ) -> Result<Value, ProviderError> {
        let request = Request {
            protocol: PROTOCOL,
            verb,
            pool,
            spec: spec.map(|(s, _)| s),
            token: spec.map(|(_, t)| t),
            prior,
            settings: &self.settings,
        };
        let body = serde_json::to_vec(&request).map_err(|e| self.err(verb, ErrorKind::Failed, e.to_string()))?;
        tracing::debug!(plugin = %self.program.display(), verb = verb.as_str(), pool, "calling exec plugin");
        let started = Instant::now();
        let out = process::run(&self.program, &[verb.as_str().to_string()], Some(body), &[], self.timeout).await;
        let out = match out {
            Ok(out) => out,
            Err(RunError::TimedOut { timeout, stderr }) => {
                return Err(self.failed(
                    verb,
                    format!("did not answer within {timeout:?} (the timeout); its process group was killed"),
                    &stderr,
                ));
            }
            Err(RunError::Spawn { source, .. }) => {
                return Err(self.failed(verb, format!("could not be started: {source}"), ""));
            }
            Err(RunError::Wait(e)) => return Err(self.failed(verb, format!("could not be waited for: {e}"), "")),
        };
        if !out.stderr.is_empty() {
            tracing::info!(plugin = %self.kind, verb = verb.as_str(), stderr = %out.stderr, "exec plugin stderr");
        }
        tracing::debug!(plugin = %self.kind, verb = verb.as_str(), elapsed = ?started.elapsed(), status = %out.status, "exec plugin answered");
        let exit = process::describe_exit(&out.status);
        if out.stdout_truncated {
            return Err(self.failed(
                verb,
                format!("{exit} after answering more than {} bytes", process::MAX_STDOUT),
                &out.stderr,
            ));
        }
        let answer = protocol::parse_answer(&out.stdout);
        match answer {
            // A structured error is the plugin's word, whatever its exit status.
            Ok(Answer::Error(e)) => {
                let mut err = self.err(verb, e.kind, format!("{}{}", e.message, stderr_note(&out.stderr)));
                err.hint = e.hint;
                Err(err)
            }
            Ok(Answer::Result(_)) if !out.status.success() => Err(self.failed(
                verb,
                format!("{exit} after answering a result; the result is not trusted"),
                &out.stderr,
            )),
            Ok(Answer::Result(v)) => Ok(v),
            Err(why) if !out.status.success() => {
                Err(self.failed(verb, format!("{exit} without a JSON error ({why})"), &out.stderr))
            }
            Err(why) => Err(self.failed(verb, format!("{exit} but {why}"), &out.stderr)),
        }
    }

    /// A result of type `T` (a null result is not one).
    fn decode<T: DeserializeOwned>(&self, verb: Verb, v: Value) -> Result<T, ProviderError> {
        if v.is_null() {
            return Err(self.failed(verb, "answered a null result", ""));
        }
        let shown = protocol::excerpt(&v.to_string());
        serde_json::from_value(v).map_err(|e| {
            self.failed(verb, format!("answered a result that is not a {} ({e}): {shown}", short_type::<T>()), "")
        })
    }

    /// `None` for a null result or a not_found error: the pool does not exist.
    async fn optional_status(&self, verb: Verb, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        match self.call(verb, Some(pool), None, None).await {
            Ok(Value::Null) => Ok(None),
            Ok(v) => {
                let s: PoolStatus = self.decode(verb, v)?;
                self.check_name(verb, pool, &s.name)?;
                Ok(Some(s))
            }
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn check_name(&self, verb: Verb, asked: &str, answered: &str) -> Result<(), ProviderError> {
        if asked == answered {
            Ok(())
        } else {
            Err(self.failed(verb, format!("answered about pool {answered:?} when asked about {asked:?}"), ""))
        }
    }
}

fn short_type<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() { String::new() } else { format!("; stderr: {}", protocol::excerpt_tail(stderr)) }
}

fn check_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("is not a file".into());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("is not executable".into());
    }
    Ok(())
}

/// `poolshift-provider-<name>` in the first directory of `path` (a PATH value) that holds it as an
/// executable file.
fn find_on_path(name: &str, path: Option<std::ffi::OsString>) -> Result<PathBuf, ProviderError> {
    let file = format!("{PLUGIN_PREFIX}{name}");
    let path = path.unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()).collect();
    for d in &dirs {
        let candidate = d.join(&file);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(ProviderError::new(
        &format!("onprem:{name}"),
        LOCATE,
        ErrorKind::Failed,
        format!(
            "no executable {file} on PATH (searched: {})",
            if searched.is_empty() { "PATH is empty".to_string() } else { searched.join(", ") }
        ),
    )
    .with_hint(format!("install {file} in a PATH directory (chmod +x), or set plugin_path (runbook: onprem-plugin)")))
}

#[async_trait]
impl Provider for ExecProvider {
    fn kind(&self) -> &str {
        &self.kind
    }

    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        let v = self.call(Verb::Describe, Some(pool), None, None).await?;
        let d: PoolDescription = self.decode(Verb::Describe, v)?;
        self.check_name(Verb::Describe, pool, &d.name)?;
        Ok(d)
    }

    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        let v = self.call(Verb::Versions, None, None, None).await?;
        self.decode(Verb::Versions, v)
    }

    async fn create_pool(&self, spec: &PoolSpec, token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        let v = self.call(Verb::Create, Some(&spec.name), Some((spec, token)), None).await?;
        let s: PoolStatus = self.decode(Verb::Create, v)?;
        self.check_name(Verb::Create, &spec.name, &s.name)?;
        Ok(s)
    }

    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        self.optional_status(Verb::Status, pool).await
    }

    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        self.optional_status(Verb::Delete, pool).await
    }

    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        let v = self.call(Verb::Freeze, Some(pool), None, None).await?;
        self.decode(Verb::Freeze, v)
    }

    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        self.call(Verb::Restore, Some(pool), None, Some(prior)).await.map(|_| ())
    }

    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        NodeMatcher { label: self.node_label.clone(), value: pool.to_string() }
    }

    fn green_name(&self, blue: &str, version: &str) -> String {
        default_green_name(blue, version, self.max_name_length)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn touch(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn finds_the_first_executable_on_path() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        touch(&a.path().join("poolshift-provider-vsphere"), 0o644);
        touch(&b.path().join("poolshift-provider-vsphere"), 0o755);
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        let found = find_on_path("vsphere", Some(path.clone())).unwrap();
        assert_eq!(found, b.path().join("poolshift-provider-vsphere"), "the non-executable file is skipped");

        let e = find_on_path("maas", Some(path)).unwrap_err();
        assert_eq!((e.kind, e.provider.as_str()), (ErrorKind::Failed, "onprem:maas"));
        assert_eq!(
            e.message,
            format!(
                "no executable poolshift-provider-maas on PATH (searched: {}, {})",
                a.path().display(),
                b.path().display()
            )
        );
        let e = find_on_path("maas", None).unwrap_err();
        assert!(e.message.ends_with("(searched: PATH is empty)"), "{e}");
    }

    #[test]
    fn settings_deserialize_with_defaults_and_durations() {
        let s: ExecSettings = serde_json::from_value(serde_json::json!({"plugin": "kubesim"})).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(300));
        assert_eq!(s.node_label, "poolshift.io/pool");
        assert_eq!(s.max_name_length, 63);
        assert_eq!(s.settings, serde_json::json!({}));
        let s: ExecSettings = serde_json::from_value(serde_json::json!({
            "plugin_path": "/opt/p", "timeout": "1h30m", "settings": {"url": "x"}
        }))
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(5400));
        let s: ExecSettings = serde_json::from_value(serde_json::json!({"plugin": "x", "timeout": 90})).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(90));
        let e = serde_json::from_value::<ExecSettings>(serde_json::json!({"plugin": "x", "timout": "5m"})).unwrap_err();
        assert!(e.to_string().contains("unknown field `timout`"), "{e}");
        let e =
            serde_json::from_value::<ExecSettings>(serde_json::json!({"plugin": "x", "timeout": "5 min"})).unwrap_err();
        assert!(e.to_string().contains("unknown unit"), "{e}");
    }

    #[test]
    fn plugin_names_are_names_not_paths() {
        let e = ExecProvider::new(ExecSettings { plugin: Some("../bin/x".into()), ..Default::default() }).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.message.contains("use plugin_path for a path"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("poolshift-provider-racks");
        touch(&path, 0o755);
        let p = ExecProvider::new(ExecSettings { plugin_path: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!((p.kind(), p.program()), ("onprem:racks", path.as_path()));
        assert_eq!(p.node_matcher("g").label, "poolshift.io/pool");
        let short =
            ExecProvider::new(ExecSettings { plugin_path: Some(path), max_name_length: 20, ..Default::default() })
                .unwrap();
        assert_eq!(short.green_name("a-very-long-pool-name", "1.31.4"), "a-very-long-v1-31-4");
    }
}
