//! `poolshift status`: for every pool of the configuration, its run as the checkpoint records it (phase,
//! status, batches, pods moved, blockers, quarantined nodes, pending requests) and who holds its lease.
//! `-o json` prints a JSON array with one [`PoolStatus`] per pool (and per `--context`), documented in the
//! README. Reads only.

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
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

pub async fn run(args: &StatusArgs) -> Result<Exit, CliError> {
    let file = ClusterConfig::locate(args.config.as_deref())?;
    let config = ClusterConfig::load(&file)?;
    let contexts: Vec<Option<&str>> =
        if args.contexts.is_empty() { vec![None] } else { args.contexts.iter().map(|c| Some(c.as_str())).collect() };
    let mut all = Vec::new();
    for context in contexts {
        let conn = Connection::open(&config, context).await?;
        for pool in &config.pools {
            let state = config.state_for(&pool.name, args.state_file.as_deref());
            let selected = Selected { config: config.clone(), pool: pool.clone(), state, file: file.clone() };
            let session = conn.session_without_provider(&selected, "status");
            let run = session.engine.store.load().await?.map(|st| summarize(&st.checkpoint));
            let lease = lease(&conn, &config.cluster.name, &pool.name).await?;
            all.push(PoolStatus {
                cluster: config.cluster.name.clone(),
                context: context.map(str::to_string).or_else(|| config.cluster.context.clone()),
                pool: pool.name.clone(),
                checkpoint: session.engine.store.location(),
                run,
                lease,
            });
        }
    }
    let out = match args.output {
        StatusFormat::Json => {
            let mut s = serde_json::to_string_pretty(&all).map_err(|e| CliError::Output(e.into()))?;
            s.push('\n');
            s
        }
        StatusFormat::Text => all.iter().map(text).collect::<Vec<_>>().join("\n"),
    };
    super::write_stdout(out.as_bytes())?;
    Ok(Exit::Done)
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
