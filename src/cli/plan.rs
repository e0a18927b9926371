//! `poolshift plan`: the dry run. Reads the cluster and the provider (writes nothing), builds the plan
//! `upgrade` would execute, sends each of its evictions as a server-side dry run (`dryRun=All`), optionally
//! rehearses it on a simulated copy (`--rehearse`), and prints the report (`-o text|markdown|json`, see
//! `crate::report`). `--from-snapshot FILE` plans offline from a `poolshift snapshot` file. Exits 5 when the
//! plan has blocked pods (a CI gate), 0 otherwise (also when the pool is already at its target).

use std::path::Path;
use std::sync::Arc;

use poolshift_provider_api::NodeMatcher;

use super::args::{PlanArgs, PlanFormat, RehearsalArgs, Target};
use super::connect::{Connection, Selected};
use super::error::CliError;
use crate::config::{ClusterConfig, ConfigError, TargetSpec};
use crate::exit::Exit;
use crate::model::plan::{Disposition, Severity, UpgradePlan};
use crate::model::policy::{BatchSize, Policy};
use crate::model::snapshot::{SNAPSHOT_SCHEMA, Snapshot};
use crate::plan::PlanError;
use crate::plan::target::{TargetError, TargetPolicy};
use crate::report::{self, Format};
use crate::session::{Session, SessionError, plan_offline};

/// A plan with what a rehearsal needs.
struct Planned {
    plan: UpgradePlan,
    snapshot: Snapshot,
    matcher: NodeMatcher,
}

pub async fn run(args: &PlanArgs) -> Result<Exit, CliError> {
    let planned = match &args.from_snapshot {
        Some(file) => offline(args, file)?,
        None => online(args).await?,
    };
    let Some(Planned { mut plan, snapshot, matcher }) = planned else { return Ok(Exit::Done) };
    if args.rehearse {
        plan.review.rehearsal = Some(rehearse(&snapshot, &plan, &matcher, &args.rehearsal)?);
    }
    let format = match args.output {
        PlanFormat::Text => Format::Text,
        PlanFormat::Markdown => Format::Markdown,
        PlanFormat::Json => Format::Json,
    };
    let text = report::render(&plan, format).map_err(|e| CliError::Output(e.into()))?;
    super::write_stdout(text.as_bytes())?;
    if let Some(file) = &args.out {
        super::plan_file::write(file, &plan)?;
        eprintln!(
            "poolshift: plan {} written to {}: `poolshift upgrade --plan {}` executes it",
            plan.plan_id,
            file.display(),
            file.display()
        );
    }
    Ok(if plan.blocked().count() > 0 { Exit::PlanBlockers } else { Exit::Done })
}

/// Plans against the live cluster and provider, then checks every eviction with a dry run.
async fn online(args: &PlanArgs) -> Result<Option<Planned>, CliError> {
    let t = &args.target;
    let selected = Selected::load(t.config.as_deref(), t.pool.as_deref(), t.state_file.as_deref())?;
    let conn = Connection::open(&selected.config, None).await?;
    let mut session = conn.session_with_provider(&selected, Arc::new(super::connect::Silent)).await?;
    session.follow_lineage().await?;
    let (target, policy) = target_and_policy(&selected, t.to.as_ref(), false)?;
    let (mut plan, snapshot) = match session.plan_and_snapshot(&target, &policy).await {
        Ok(x) => x,
        Err(SessionError::Plan(PlanError::Target(e @ TargetError::UpToDate { .. }))) => {
            super::write_stdout(format!("pool {}: {e}\n", session.blue).as_bytes())?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let preflight = crate::preflight::check(
        session.cluster.as_ref(),
        session.engine.clock.clone(),
        &plan,
        crate::preflight::DEFAULT_CONCURRENCY,
    );
    plan.review.preflight = Some(preflight.await);
    let matcher = session.provider.node_matcher(&session.blue);
    Ok(Some(Planned { plan, snapshot, matcher }))
}

/// Plans from a snapshot file: the configuration (if any) gives the pool's policy and target, the snapshot's
/// provider record the provider's answers. Contacts nothing.
fn offline(args: &PlanArgs, file: &Path) -> Result<Option<Planned>, CliError> {
    let bad = |message: String| CliError::Snapshot { path: file.to_path_buf(), message };
    let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
    let snapshot: Snapshot = serde_json::from_str(&text).map_err(|e| bad(format!("not a poolshift snapshot: {e}")))?;
    if snapshot.schema != SNAPSHOT_SCHEMA {
        return Err(bad(format!("schema {} is not {SNAPSHOT_SCHEMA}, the one this poolshift reads", snapshot.schema)));
    }
    let t = &args.target;
    let (cluster, pool, target, policy) = match ClusterConfig::locate(t.config.as_deref()) {
        Ok(_) => {
            let selected = Selected::load(t.config.as_deref(), t.pool.as_deref(), t.state_file.as_deref())?;
            let (target, policy) = target_and_policy(&selected, t.to.as_ref(), false)?;
            (selected.config.cluster.name.clone(), selected.pool.name.clone(), target, policy)
        }
        Err(ConfigError::Missing) => {
            let pool = match (&t.pool, snapshot.providers.as_slice()) {
                (Some(p), _) => p.clone(),
                (None, [only]) => only.blue.name.clone(),
                (None, _) => {
                    let known: Vec<&str> = snapshot.providers.iter().map(|r| r.blue.name.as_str()).collect();
                    return Err(bad(format!(
                        "name the pool with --pool (the snapshot describes: {})",
                        if known.is_empty() { "no pool".into() } else { known.join(", ") }
                    )));
                }
            };
            let target = match &t.to {
                Some(to) => match to_spec(to) {
                    TargetSpec::LatestPatch => TargetPolicy::LatestPatch,
                    TargetSpec::NextMinor => {
                        TargetPolicy::NextMinor { maturity: crate::plan::target::DEFAULT_MATURITY }
                    }
                    TargetSpec::Exact(v) => TargetPolicy::Exact(v),
                },
                None => TargetPolicy::LatestPatch,
            };
            ("snapshot".to_string(), pool, target, Policy::default())
        }
        Err(e) => return Err(e.into()),
    };
    let plan = match plan_offline(&jiff::Timestamp::now().to_string(), &cluster, &snapshot, &pool, &target, &policy) {
        Ok(p) => p,
        Err(SessionError::Plan(PlanError::Target(e @ TargetError::UpToDate { .. }))) => {
            super::write_stdout(format!("pool {pool}: {e}\n").as_bytes())?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let matcher = snapshot
        .providers
        .iter()
        .find(|r| r.blue.name == pool)
        .map(|r| r.matcher.clone())
        .unwrap_or(NodeMatcher { label: String::new(), value: String::new() });
    Ok(Some(Planned { plan, snapshot, matcher }))
}

#[cfg(feature = "sim")]
fn rehearse(
    snapshot: &Snapshot,
    plan: &UpgradePlan,
    matcher: &NodeMatcher,
    args: &RehearsalArgs,
) -> Result<crate::model::review::Rehearsal, CliError> {
    let options = crate::rehearsal::Options {
        pod_start: args.pod_start,
        pod_ready: args.pod_ready,
        pod_termination: args.pod_termination,
        pool_provision: args.pool_provision,
        node_ready: args.node_ready,
        pool_delete: args.pool_delete,
    };
    crate::rehearsal::rehearse_blocking(snapshot, plan, matcher, &options)
        .map_err(|e| CliError::Rehearsal(e.to_string()))
}

#[cfg(not(feature = "sim"))]
fn rehearse(
    _: &Snapshot,
    _: &UpgradePlan,
    _: &NodeMatcher,
    _: &RehearsalArgs,
) -> Result<crate::model::review::Rehearsal, CliError> {
    Err(CliError::NotBuiltOption { option: "--rehearse (needs the sim feature)" })
}

fn to_spec(t: &Target) -> TargetSpec {
    TargetSpec::from(t)
}

/// The pool's target (`--to` over the file's `to`) and policy (`--force` enables the force escalation); a
/// `--to` the configured provider cannot take (a release version for a provider other than eks) is refused.
pub fn target_and_policy(
    selected: &Selected,
    to: Option<&Target>,
    force: bool,
) -> Result<(TargetPolicy, Policy), CliError> {
    let spec = to.map(TargetSpec::from);
    let mut policy = selected.pool.policy.clone();
    policy.force_allowed = force;
    Ok((selected.config.target(&selected.pool, spec.as_ref())?, policy))
}

/// The plan, or `None` after saying so when the pool is already at its target (nothing to do).
pub async fn plan_or_nothing(
    session: &Session,
    target: &TargetPolicy,
    policy: &Policy,
) -> Result<Option<UpgradePlan>, CliError> {
    match session.plan(target, policy).await {
        Ok(plan) => Ok(Some(plan)),
        Err(SessionError::Plan(PlanError::Target(e @ TargetError::UpToDate { .. }))) => {
            super::write_stdout(format!("pool {}: {e}\n", session.blue).as_bytes())?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn batch_rule(b: BatchSize) -> String {
    match b {
        BatchSize::Nodes(1) => "1 node".to_string(),
        BatchSize::Nodes(n) => format!("{n} nodes"),
        BatchSize::Percent(p) => format!("{p}%"),
    }
}

/// The plan in a few lines: versions, green pool, batches, blockers and risks.
pub fn summary(plan: &UpgradePlan) -> String {
    let mut out = format!(
        "plan: cluster {} pool {} {} -> {} ({}; policy {})\n",
        plan.cluster, plan.pool, plan.blue.version, plan.target.version, plan.target.reason, plan.target.policy
    );
    out.push_str(&format!(
        "  green pool {}: {} nodes of {}\n",
        plan.green.name,
        plan.green.size.desired,
        plan.green.instance_types.join(", ")
    ));
    out.push_str(&format!(
        "  {} blue nodes in {} batches (batch {}), {} pods to move, {} blocked\n",
        plan.blue_nodes.len(),
        plan.batches.len(),
        batch_rule(plan.policy.batch),
        plan.to_evict(),
        plan.blocked().count()
    ));
    for b in &plan.batches {
        let evict = b.pods.iter().filter(|p| p.disposition == Disposition::Evict).count();
        out.push_str(&format!("  batch {}: {} ({evict} pods)\n", b.index + 1, b.nodes.join(", ")));
    }
    for f in plan.findings.iter().filter(|f| f.severity != Severity::Info) {
        let what = if f.severity == Severity::Blocker { "blocker" } else { "risk" };
        let objects = if f.objects.is_empty() { String::new() } else { format!(" [{}]", f.objects.join(", ")) };
        out.push_str(&format!("  {what}: {}{objects}\n", f.message));
    }
    out
}
