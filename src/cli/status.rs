//! `poolshift status`: for every pool of the configuration, its run as the checkpoint records it (phase,
//! status, batches, pods moved, blockers, quarantined nodes, pending requests), who holds its lease, and
//! the maintenance window. Over a fleet (`--dir` of cluster files, `--all-contexts`, several `--context`)
//! one table with a row per cluster and pool; a cluster that cannot be read gets a row saying why (exit 1).
//! `-o json` prints a JSON array with one [`PoolStatus`] per pool (and per context), documented in the
//! README. Reads only.

use std::path::{Path, PathBuf};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::config::Kubeconfig;
use serde::Serialize;

use super::args::{StatusArgs, StatusFormat};
use super::connect::{Connection, Selected};
use super::error::CliError;
use crate::config::ClusterConfig;
use crate::exit::Exit;
use crate::kube::{SYSTEM_NAMESPACE, object_name};
use crate::model::checkpoint::{BatchState, Blocker, Checkpoint, Request, RunStatus};

/// One pool's entry in `status -o json`.
#[derive(Debug, Serialize)]
pub struct PoolStatus {
    pub cluster: String,
    /// The kubeconfig context looked at (`null`: the configuration's, or the current one).
    pub context: Option<String>,
    pub pool: String,
    /// Where the checkpoint lives (`configmap poolshift-system/...`, or a file path).
    pub checkpoint: String,
    /// The latest run; `null` when the pool was never upgraded.
    pub run: Option<RunSummary>,
    /// The pool's Lease; `null` when none exists.
    pub lease: Option<LeaseSummary>,
    /// The file's maintenance windows now; `null` when it has none (runs may start at any time).
    pub window: Option<WindowSummary>,
    /// Why the cluster could not be read (fleet views only); the other fields are empty then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct WindowSummary {
    /// A window is open now.
    pub open: bool,
    /// When the open window closes.
    pub closes_at: Option<String>,
    /// When the next window opens (after the open one, if any).
    pub next_opens_at: Option<String>,
}

fn window(config: &ClusterConfig, now: jiff::Timestamp) -> Option<WindowSummary> {
    let s = config.schedule.as_ref()?;
    let open = s.open_at(now);
    let after = open.as_ref().map_or(now, |o| o.end);
    Some(WindowSummary {
        open: open.is_some(),
        closes_at: open.map(|o| o.end.to_string()),
        next_opens_at: s.next_opening(after).map(|o| o.start.to_string()),
    })
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    /// The id of the plan the run executes (`plan` prints it; a reviewed plan file carries it).
    pub plan_id: String,
    /// The reviewed plan file the run executes (`upgrade --plan FILE`); `null` when it planned by itself.
    pub plan_file: Option<String>,
    /// `Planned`, `CreatingGreen`, `WaitingGreenReady`, `Validating`, `CordoningBlue`, `Draining batch 2 of 5`,
    /// `PoolSoaking`, `DeletingBlue`, `Done`, `RollingBack (...)`, `RolledBack`.
    pub phase: String,
    /// `running`, `paused`, `blocked`, `done`, `rolled_back`, `aborted` or `failed`.
    pub status: &'static str,
    /// Why it is paused, blocked or failed.
    pub reason: Option<String>,
    pub from_version: String,
    pub to_version: String,
    pub green_pool: String,
    pub green_created: bool,
    pub batches_done: usize,
    pub batches_total: usize,
    pub pods_moved: u64,
    pub blockers: Vec<Blocker>,
    pub quarantined: Vec<String>,
    pub pause_requested: Option<Request>,
    pub rollback_requested: Option<Request>,
    pub started_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct LeaseSummary {
    /// `host/pid` of the agent holding it; `null` when released.
    pub holder: Option<String>,
    pub renewed_at: Option<String>,
    pub ttl_seconds: Option<i32>,
    /// When the lease runs out unless renewed (`renewed_at` + `ttl_seconds`); after it, another agent may take
    /// the pool over with `poolshift resume`.
    pub expires_at: Option<String>,
    /// Held, but not renewed within its time to live (the agent is gone; another may take over).
    pub expired: bool,
}

/// The status as one lowercase word.
pub fn status_word(s: &RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "running",
        RunStatus::Paused(_) => "paused",
        RunStatus::Blocked(_) => "blocked",
        RunStatus::Done => "done",
        RunStatus::RolledBack => "rolled_back",
        RunStatus::Aborted => "aborted",
        RunStatus::Failed(_) => "failed",
    }
}

fn reason(s: &RunStatus) -> Option<String> {
    match s {
        RunStatus::Paused(r) | RunStatus::Blocked(r) | RunStatus::Failed(r) => Some(r.clone()),
        _ => None,
    }
}

pub fn summarize(cp: &Checkpoint) -> RunSummary {
    RunSummary {
        run_id: cp.run_id.clone(),
        plan_id: cp.plan_id.clone(),
        plan_file: cp.reviewed.clone(),
        phase: cp.phase.to_string(),
        status: status_word(&cp.status),
        reason: reason(&cp.status),
        from_version: cp.plan.blue.version.clone(),
        to_version: cp.plan.target.version.to_string(),
        green_pool: cp.green.name.clone(),
        green_created: cp.green.created,
        batches_done: cp.batches.iter().filter(|b| b.state == BatchState::Done).count(),
        batches_total: cp.batches.len(),
        pods_moved: cp.moved,
        blockers: cp.batches.iter().flat_map(|b| b.blockers.iter().cloned()).collect(),
        quarantined: cp.quarantined.clone(),
        pause_requested: cp.requests.pause.clone(),
        rollback_requested: cp.requests.rollback.clone(),
        started_at: cp.started_at.clone(),
        updated_at: cp.updated_at.clone(),
    }
}

/// One cluster to look at: its file, its configuration, the kubeconfig context (`None`: the file's).
struct Target {
    file: PathBuf,
    config: ClusterConfig,
    context: Option<String>,
}

/// The clusters `args` names. Every file is loaded and checked before anything is contacted.
fn targets(args: &StatusArgs) -> Result<Vec<Target>, CliError> {
    if let Some(dir) = &args.dir {
        let read = |e: std::io::Error| CliError::Fleet(format!("cannot read {}: {e}", dir.display()));
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(CliError::Fleet(format!("{} has no cluster files (*.yaml, *.yml)", dir.display())));
        }
        let mut out = Vec::new();
        for file in files {
            let config = ClusterConfig::load(&file)?;
            if let Some(other) = out.iter().find(|t: &&Target| t.config.cluster.name == config.cluster.name) {
                return Err(CliError::Fleet(format!(
                    "{} and {} both name cluster {}: checkpoints and leases would be confused",
                    other.file.display(),
                    file.display(),
                    config.cluster.name
                )));
            }
            out.push(Target { file, config, context: None });
        }
        return Ok(out);
    }
    let file = ClusterConfig::locate(args.config.as_deref())?;
    let config = ClusterConfig::load(&file)?;
    let contexts: Vec<Option<String>> = if args.all_contexts {
        let kubeconfig = match &config.cluster.kubeconfig {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        }
        .map_err(|e| CliError::KubeConfig(e.to_string()))?;
        let names: Vec<Option<String>> = kubeconfig.contexts.into_iter().map(|c| Some(c.name)).collect();
        if names.is_empty() {
            return Err(CliError::KubeConfig("--all-contexts: the kubeconfig has no contexts".into()));
        }
        names
    } else if args.contexts.is_empty() {
        vec![None]
    } else {
        args.contexts.iter().cloned().map(Some).collect()
    };
    Ok(contexts.into_iter().map(|context| Target { file: file.clone(), config: config.clone(), context }).collect())
}

/// Every pool of `t`, read from its cluster.
async fn pools_of(t: &Target, state_file: Option<&Path>) -> Result<Vec<PoolStatus>, CliError> {
    let config = &t.config;
    let conn = Connection::open(config, t.context.as_deref()).await?;
    let now = conn.clock.now();
    let mut out = Vec::new();
    for pool in &config.pools {
        let state = config.state_for(&pool.name, state_file);
        let selected = Selected { config: config.clone(), pool: pool.clone(), state, file: t.file.clone() };
        let session = conn.session_without_provider(&selected, "status");
        let run = session.engine.store.load().await?.map(|st| summarize(&st.checkpoint));
        let lease = lease(&conn, &config.cluster.name, &pool.name).await?;
        out.push(PoolStatus {
            cluster: config.cluster.name.clone(),
            context: t.context.clone().or_else(|| config.cluster.context.clone()),
            pool: pool.name.clone(),
            checkpoint: session.engine.store.location(),
            run,
            lease,
            window: window(config, now),
            error: None,
        });
    }
    Ok(out)
}

pub async fn run(args: &StatusArgs) -> Result<Exit, CliError> {
    let targets = targets(args)?;
    let fleet = args.dir.is_some() || args.all_contexts || targets.len() > 1;
    let mut all = Vec::new();
    let mut unreadable = false;
    for t in &targets {
        match pools_of(t, args.state_file.as_deref()).await {
            Ok(rows) => all.extend(rows),
            // In a fleet, one cluster out of reach does not hide the others.
            Err(e) if fleet => {
                unreadable = true;
                all.extend(t.config.pools.iter().map(|pool| PoolStatus {
                    cluster: t.config.cluster.name.clone(),
                    context: t.context.clone().or_else(|| t.config.cluster.context.clone()),
                    pool: pool.name.clone(),
                    checkpoint: String::new(),
                    run: None,
                    lease: None,
                    window: window(&t.config, jiff::Timestamp::now()),
                    error: Some(e.to_string()),
                }));
            }
            Err(e) => return Err(e),
        }
    }
    let out = match args.output {
        StatusFormat::Json => {
            let mut s = serde_json::to_string_pretty(&all).map_err(|e| CliError::Output(e.into()))?;
            s.push('\n');
            s
        }
        StatusFormat::Text if fleet => table(&all),
        StatusFormat::Text => all.iter().map(text).collect::<Vec<_>>().join("\n"),
    };
    super::write_stdout(out.as_bytes())?;
    Ok(if unreadable { Exit::Failed } else { Exit::Done })
}

/// The fleet as one table, a row per cluster (and context) and pool.
fn table(all: &[PoolStatus]) -> String {
    let header = [
        "CLUSTER",
        "POOL",
        "VERSION",
        "PHASE",
        "BATCH",
        "MOVED",
        "BLOCKERS",
        "PAUSED",
        "LEASE",
        "UPDATED",
        "NEXT WINDOW",
    ];
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|p| {
            let cluster = match &p.context {
                Some(c) if *c != p.cluster => format!("{} ({c})", p.cluster),
                _ => p.cluster.clone(),
            };
            let window = match &p.window {
                None => "any time".to_string(),
                Some(w) if w.open => format!("open until {}", w.closes_at.as_deref().unwrap_or("?")),
                Some(w) => w.next_opens_at.clone().unwrap_or_else(|| "none".into()),
            };
            if let Some(e) = &p.error {
                let mut row = vec![cluster, p.pool.clone(), "-".into(), format!("unreadable: {e}")];
                row.extend(std::iter::repeat_n("-".to_string(), 6));
                row.push(window);
                return row;
            }
            let lease = match &p.lease {
                Some(LeaseSummary { holder: Some(h), expired: false, .. }) => h.clone(),
                Some(LeaseSummary { holder: Some(h), expired: true, .. }) => format!("{h} (expired)"),
                _ => "free".into(),
            };
            match &p.run {
                None => vec![
                    cluster,
                    p.pool.clone(),
                    "-".into(),
                    "never upgraded".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    lease,
                    "-".into(),
                    window,
                ],
                Some(r) => vec![
                    cluster,
                    p.pool.clone(),
                    format!("{} -> {}", r.from_version, r.to_version),
                    format!("{} ({})", r.phase, r.status),
                    format!("{}/{}", r.batches_done, r.batches_total),
                    r.pods_moved.to_string(),
                    r.blockers.len().to_string(),
                    if matches!(r.status, "paused" | "blocked") { "yes".into() } else { "no".into() },
                    lease,
                    r.updated_at.clone(),
                    window,
                ],
            }
        })
        .collect();
    crate::text_table::render("", &header, &rows)
}

async fn lease(conn: &Connection, cluster: &str, pool: &str) -> Result<Option<LeaseSummary>, CliError> {
    let api: Api<Lease> = Api::namespaced(conn.client.clone(), SYSTEM_NAMESPACE);
    let Some(lease) = api.get_opt(&object_name(cluster, pool)).await? else { return Ok(None) };
    let spec = lease.spec.unwrap_or_default();
    let holder = spec.holder_identity.filter(|h| !h.is_empty());
    let renewed = spec.renew_time.or(spec.acquire_time).map(|t| t.0);
    let ttl = spec.lease_duration_seconds;
    let expired = holder.is_some()
        && match (renewed, ttl) {
            (Some(at), Some(ttl)) => {
                let age = conn.clock.now().duration_since(at);
                age > jiff::SignedDuration::from_secs(i64::from(ttl))
            }
            _ => true,
        };
    let expires_at = renewed
        .zip(ttl)
        .and_then(|(at, ttl)| at.checked_add(jiff::SignedDuration::from_secs(i64::from(ttl))).ok())
        .map(|t| crate::ports::lock::expiry_text(Some(t)));
    Ok(Some(LeaseSummary { holder, renewed_at: renewed.map(|t| t.to_string()), ttl_seconds: ttl, expires_at, expired }))
}

fn text(p: &PoolStatus) -> String {
    let mut out = format!("pool {} of cluster {}", p.pool, p.cluster);
    if let Some(c) = &p.context {
        out.push_str(&format!(" (context {c})"));
    }
    out.push('\n');
    let Some(r) = &p.run else {
        out.push_str(&format!("  no run recorded ({})\n", p.checkpoint));
        return out;
    };
    out.push_str(&format!("  run {}: {} at phase {}\n", r.run_id, r.status, r.phase));
    match &r.plan_file {
        Some(file) => out.push_str(&format!("  plan {} (reviewed: {file})\n", r.plan_id)),
        None => out.push_str(&format!("  plan {}\n", r.plan_id)),
    }
    if let Some(reason) = &r.reason {
        out.push_str(&format!("  reason: {reason}\n"));
    }
    let created = if r.green_created { "created" } else { "not created yet" };
    out.push_str(&format!("  {} -> {}, green pool {} ({created})\n", r.from_version, r.to_version, r.green_pool));
    out.push_str(&format!(
        "  batches {}/{} done, {} pods moved; updated {}\n",
        r.batches_done, r.batches_total, r.pods_moved, r.updated_at
    ));
    if !r.blockers.is_empty() {
        out.push_str("  blockers:\n");
        out.push_str(&super::outcome::blocker_lines(&r.blockers, "    "));
    }
    if !r.quarantined.is_empty() {
        out.push_str(&format!("  quarantined: {}\n", r.quarantined.join(", ")));
    }
    if let Some(req) = &r.pause_requested {
        out.push_str(&format!("  pause requested by {} at {}\n", req.by, req.at));
    }
    if let Some(req) = &r.rollback_requested {
        out.push_str(&format!("  rollback requested by {} at {}\n", req.by, req.at));
    }
    match &p.lease {
        Some(LeaseSummary { holder: Some(h), renewed_at, expires_at, expired, .. }) => {
            let renewed = renewed_at.as_deref().unwrap_or("never");
            let expiry = match (expires_at, expired) {
                (Some(t), true) => format!(", expired at {t}: `poolshift resume` takes the pool over"),
                (Some(t), false) => format!(", expires at {t} unless renewed"),
                (None, _) => String::new(),
            };
            let state = if *expired { "expired" } else { "held" };
            out.push_str(&format!("  lease: {state} by {h} (renewed {renewed}{expiry})\n"));
        }
        _ => out.push_str("  lease: free\n"),
    }
    out.push_str(&format!("  checkpoint: {}\n", p.checkpoint));
    out
}
