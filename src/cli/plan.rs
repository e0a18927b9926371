//! `poolshift plan`: the dry run. Reads the cluster and the provider (writes nothing), builds the plan
//! `upgrade` would execute and prints it: a short summary, markdown, or the plan itself as JSON. Exits 5 when
//! the plan has blocked pods (a CI gate), 0 when the pool is already at its target.

use std::sync::Arc;

use super::args::{PlanArgs, PlanFormat, Target};
use super::connect::{Connection, Selected};
use super::error::CliError;
use crate::config::TargetSpec;
use crate::exit::Exit;
use crate::model::plan::{Disposition, Severity, UpgradePlan};
use crate::model::policy::{BatchSize, Policy};
use crate::model::version::Version;
use crate::plan::PlanError;
use crate::plan::target::{TargetError, TargetPolicy};
use crate::session::{Session, SessionError};

pub async fn run(args: &PlanArgs) -> Result<Exit, CliError> {
    if args.rehearse {
        return Err(CliError::NotBuiltOption { option: "--rehearse" });
    }
    let t = &args.target;
    let selected = Selected::load(t.config.as_deref(), t.pool.as_deref(), t.state_file.as_deref())?;
    let conn = Connection::open(&selected.config, None).await?;
    let session = conn.session_with_provider(&selected, Arc::new(super::connect::Silent)).await?;
    let (target, policy) = target_and_policy(&selected, t.to.as_ref(), false);
    let Some(plan) = plan_or_nothing(&session, &target, &policy).await? else { return Ok(Exit::Done) };
    let text = match args.output {
        PlanFormat::Json => {
            let mut s = serde_json::to_string_pretty(&plan).map_err(|e| CliError::Output(e.into()))?;
            s.push('\n');
            s
        }
        PlanFormat::Text => summary(&plan),
        PlanFormat::Markdown => markdown(&plan),
    };
    super::write_stdout(text.as_bytes())?;
    Ok(if plan.blocked().count() > 0 { Exit::PlanBlockers } else { Exit::Done })
}

/// The pool's target (`--to` over the file's `to`) and policy (`--force` enables the force escalation).
pub fn target_and_policy(selected: &Selected, to: Option<&Target>, force: bool) -> (TargetPolicy, Policy) {
    let spec = to.map(|t| match t {
        Target::LatestPatch => TargetSpec::LatestPatch,
        Target::NextMinor => TargetSpec::NextMinor,
        Target::Version { major, minor, patch } => TargetSpec::Exact(Version::new(*major, *minor, *patch)),
    });
    let mut policy = selected.pool.policy.clone();
    policy.force_allowed = force;
    (selected.pool.target(spec.as_ref()), policy)
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
            super::write_stdout(format!("pool {}: {e}\n", session.pool).as_bytes())?;
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

/// The plan as a markdown report for a change request.
pub fn markdown(plan: &UpgradePlan) -> String {
    let mut out = format!("# Upgrade plan: pool `{}` of cluster `{}`\n\n", plan.pool, plan.cluster);
    out.push_str(&format!(
        "- version: {} -> **{}** ({}; policy `{}`)\n- control plane: {}\n- green pool: `{}` ({} nodes)\n",
        plan.blue.version,
        plan.target.version,
        plan.target.reason,
        plan.target.policy,
        plan.control_plane,
        plan.green.name,
        plan.green.size.desired
    ));
    out.push_str(&format!(
        "- {} blue nodes in {} batches, {} pods to move, {} blocked\n\n## Batches\n\n| batch | nodes | pods to move |\n| --- | --- | --- |\n",
        plan.blue_nodes.len(),
        plan.batches.len(),
        plan.to_evict(),
        plan.blocked().count()
    ));
    for b in &plan.batches {
        let evict = b.pods.iter().filter(|p| p.disposition == Disposition::Evict).count();
        out.push_str(&format!("| {} | {} | {evict} |\n", b.index + 1, b.nodes.join(", ")));
    }
    if !plan.findings.is_empty() {
        out.push_str("\n## Findings\n\n");
        for f in &plan.findings {
            out.push_str(&format!("- **{:?}** `{}`: {}\n", f.severity, f.code, f.message));
        }
    }
    out
}
