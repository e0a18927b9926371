//! The `gates` section of a pool: the built-in checks and operators' commands run after green is Ready and
//! after each batch.
//!
//! ```yaml
//! gates:
//!   checks: true               # the built-in checks (default true)
//!   pending_timeout: 5m        # a replacement Pending this long fails the checks
//!   ready_timeout: 10m         # how long they wait for green Ready and workloads back to their replicas
//!   commands:
//!     - name: smoke            # letters, digits, '-' and '_'; POOLSHIFT_GATE
//!       run: [./smoke.sh, --quick]   # argv, no shell; relative programs from the file's directory
//!       timeout: 2m            # default 5m, at most 1h
//!       at: [green_ready, after_batch]   # default
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::locate::FieldPath;
use super::units::Dur;
use super::validate::Problem;
use crate::gates::{GateCommand, HealthSettings};
use crate::model::stop::StopKind;

/// A gate command's deadline when the file gives none.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest deadline a gate command may have: a stuck gate would hold the run past any window.
pub const MAX_COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with checks, pending_timeout, ready_timeout, commands (all optional)")]
pub struct Gates {
    #[serde(default)]
    pub checks: Option<bool>,
    #[serde(default)]
    pub pending_timeout: Option<Dur>,
    #[serde(default)]
    pub ready_timeout: Option<Dur>,
    #[serde(default)]
    pub commands: Vec<Command>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with name, run (a list: the program and its arguments), timeout, at")]
pub struct Command {
    pub name: String,
    pub run: Vec<String>,
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub at: Option<Vec<StopKind>>,
}

/// A pool's gates as poolshift runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateConfig {
    /// The built-in checks; `None` when `checks: false`.
    pub checks: Option<HealthSettings>,
    pub commands: Vec<GateCommand>,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self { checks: Some(HealthSettings::default()), commands: Vec::new() }
    }
}

/// Stop point kinds as listed at `path`, each once.
pub fn stop_kinds(path: &FieldPath, name: &str, list: &[StopKind]) -> Result<Vec<StopKind>, Problem> {
    let mut kinds: Vec<StopKind> = Vec::new();
    for (j, k) in list.iter().enumerate() {
        if let Some(first) = kinds.iter().position(|s| s == k) {
            return Err((path.index(j), format!("{k} is listed twice (also {name}[{first}])")));
        }
        kinds.push(*k);
    }
    Ok(kinds)
}

fn positive(path: FieldPath, d: Option<Dur>, default: Duration) -> Result<Duration, Problem> {
    match d {
        Some(d) if d.0.is_zero() => Err((path, "must be more than 0s".into())),
        d => Ok(d.map_or(default, |d| d.0)),
    }
}

/// Checks `gates` (at `path`); relative programs are taken from `base`, the file's directory.
pub fn resolve(path: &FieldPath, gates: Option<&Gates>, base: &Path) -> Result<GateConfig, Problem> {
    let Some(g) = gates else { return Ok(GateConfig::default()) };
    let defaults = HealthSettings::default();
    let settings = HealthSettings {
        pending_timeout: positive(path.key("pending_timeout"), g.pending_timeout, defaults.pending_timeout)?,
        ready_timeout: positive(path.key("ready_timeout"), g.ready_timeout, defaults.ready_timeout)?,
    };
    let checks = match g.checks {
        Some(false) => {
            for (key, set) in
                [("pending_timeout", g.pending_timeout.is_some()), ("ready_timeout", g.ready_timeout.is_some())]
            {
                if set {
                    return Err((
                        path.key(key),
                        "applies only to the built-in checks, which checks: false turns off".into(),
                    ));
                }
            }
            None
        }
        _ => Some(settings),
    };
    let mut commands: Vec<GateCommand> = Vec::new();
    for (i, c) in g.commands.iter().enumerate() {
        let at = path.key("commands").index(i);
        commands.push(command(&at, c, base, &commands)?);
    }
    Ok(GateConfig { checks, commands })
}

fn command(path: &FieldPath, c: &Command, base: &Path, before: &[GateCommand]) -> Result<GateCommand, Problem> {
    if c.name.is_empty() || !c.name.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_')) {
        return Err((path.key("name"), format!("invalid gate name \"{}\": use letters, digits, '-' and '_'", c.name)));
    }
    if let Some(first) = before.iter().position(|b| b.name == c.name) {
        return Err((path.key("name"), format!("duplicate gate name \"{}\" (also commands[{first}])", c.name)));
    }
    let Some(program) = c.run.first() else {
        return Err((path.key("run"), "must name the program to run: [program, arg, ...]".into()));
    };
    if program.trim().is_empty() {
        return Err((path.key("run").index(0), "the program must not be empty".into()));
    }
    let timeout = positive(path.key("timeout"), c.timeout, DEFAULT_COMMAND_TIMEOUT)?;
    if timeout > MAX_COMMAND_TIMEOUT {
        return Err((path.key("timeout"), "must be at most 1h: a gate that runs longer holds the run".into()));
    }
    let at = match &c.at {
        None => vec![StopKind::GreenReady, StopKind::AfterBatch],
        Some(list) if list.is_empty() => {
            return Err((path.key("at"), "must name at least one stop point (or remove the gate)".into()));
        }
        Some(list) => stop_kinds(&path.key("at"), "at", list)?,
    };
    // A program with a '/' is a path (relative ones from the file's directory); without, it is looked up on PATH.
    let mut argv = c.run.clone();
    if program.contains('/') && !Path::new(program).is_absolute() {
        argv[0] = base.join(program).display().to_string();
    }
    Ok(GateCommand { name: c.name.clone(), argv, timeout, at })
}
