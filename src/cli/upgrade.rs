//! `poolshift upgrade`: plans the pool's upgrade (or, with `--plan FILE`, takes the reviewed plan and checks
//! it against the cluster and the provider now), shows it, refuses a plan with blockers unless they are
//! accepted, asks for confirmation on a terminal (a job passes `--yes`), then runs it with live progress.
//! Ctrl-C pauses at the next safe point. Refuses to start while an unfinished run of the pool exists: that one
//! is resumed, rolled back or aborted first.

use std::io::IsTerminal;
use std::path::Path;

use super::args::{PoolArgs, ResumeArgs, Target, UpgradeArgs};
use super::connect::{Connection, Selected};
use super::error::CliError;
use super::gatekeepers;
use super::guided::Ui;
use super::notifications::Notifications;
use super::plan::{plan_or_nothing, summary, target_and_policy};
use crate::config::TargetSpec;
use crate::exit::Exit;
use crate::model::plan::UpgradePlan;
use crate::model::policy::{Escalation, Policy};
use crate::plan::PlanError;
use crate::plan::drift::{self, Observed, StartCheck};
use crate::plan::target::{TargetError, TargetPolicy};
use crate::session::{Session, SessionError};

pub async fn run(args: &UpgradeArgs) -> Result<Exit, CliError> {
    let t = &args.target;
    // A job without --yes fails here, before anything is contacted.
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsYes);
    }
    // A reviewed plan is read and checked before anything is contacted too.
    let reviewed = match &args.plan {
        Some(file) => Some(super::plan_file::read(file)?),
        None => None,
    };
    let pool = match (&t.pool, &reviewed) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(plan)) => Some(configured_pool_of(plan, t.config.as_deref())?),
        (None, None) => None,
    };
    let selected = Selected::load(t.config.as_deref(), pool.as_deref(), t.state_file.as_deref())?;
    if let (Some(plan), Some(file)) = (&reviewed, &args.plan) {
        same_pool(plan, &selected, file)?;
    }
    if let Some(to) = t.to.as_ref() {
        unattended_target(to, &selected, args)?;
    }
    let conn = Connection::open(&selected.config, None).await?;
    let ui = Ui::new(conn.clock.clone(), args.yes);
    let mut session = conn.session_with_provider(&selected, ui.reporter()).await?;
    if let Some(st) = session.engine.store.load().await?
        && !st.checkpoint.finished()
    {
        if args.resume && args.plan.is_none() {
            drop(session);
            let pool = PoolArgs {
                config: t.config.clone(),
                pool: Some(selected.pool.name.clone()),
                state_file: t.state_file.clone(),
            };
            let resume = ResumeArgs {
                pool,
                yes: args.yes,
                ignore_windows: args.ignore_windows,
                metrics_addr: args.metrics_addr.clone(),
            };
            return super::resume::run(&resume).await;
        }
        return Err(super::busy::unfinished(&session, &st.checkpoint, &selected).await);
    }
    session.follow_lineage().await?;
    if let Some(reason) = gatekeepers::window_closed(&selected, conn.clock.as_ref(), args.ignore_windows) {
        super::write_stdout(
            format!("not starting: {reason}; nothing changed (runbook: windows-and-gates)\n").as_bytes(),
        )?;
        return Ok(Exit::Paused);
    }
    let (target, policy) = target_and_policy(&selected, t.to.as_ref(), args.force)?;
    let plan = match (reviewed, &args.plan) {
        (Some(mut plan), Some(file)) => {
            check_drift(&session, &plan, &target, &policy, args, file).await?;
            plan.policy.force_allowed = args.force;
            plan
        }
        _ => match plan_or_nothing(&session, &target, &policy).await? {
            Some(plan) => plan,
            None => return Ok(Exit::Done),
        },
    };
    let mut intro = summary(&plan);
    if policy.escalation == Escalation::Force && !policy.force_allowed {
        intro.push_str(
            "  note: escalation is force, but force is not enabled for this run (--force): stuck pods pause the run\n",
        );
    }
    intro.push('\n');
    super::write_stdout(intro.as_bytes())?;
    accept_blockers(&plan, args)?;
    if !args.yes && !super::prompt::confirm(&format!("Upgrade pool {} (plan {})?", plan.pool, plan.plan_id))? {
        super::write_stdout(b"Nothing changed.\n")?;
        return Ok(Exit::Done);
    }
    super::prompt::pause_on_signal(session.engine.interrupt.clone());
    gatekeepers::install(&mut session, &selected, args.ignore_windows);
    let notifications = Notifications::attach(&mut session, &selected, args.metrics_addr.as_deref(), true).await?;
    ui.begin(&mut session, plan.to_evict() as u64, 0, &selected.pool.guided_stops).await;
    let outcome = match &args.plan {
        Some(file) => session.engine.start_reviewed(plan, &file.display().to_string()).await,
        None => session.engine.start(plan).await,
    };
    ui.finish();
    notifications.finish().await;
    let outcome = outcome?;
    super::write_stdout(super::outcome::render(&outcome, &selected.pool.name, &selected.args()).as_bytes())?;
    Ok(super::outcome::exit_code(&outcome))
}

/// A job (`--yes` without a terminal) takes the next minor version only where the cluster file says so:
/// its default is the newest patch, and `--to next-minor` on a job's command line is refused.
fn unattended_target(to: &Target, selected: &Selected, args: &UpgradeArgs) -> Result<(), CliError> {
    let job = args.yes && !std::io::stdin().is_terminal();
    if job && matches!(to, Target::NextMinor) && selected.pool.to != TargetSpec::NextMinor {
        return Err(CliError::JobNextMinor {
            file: selected.file.display().to_string(),
            pool: selected.pool.name.clone(),
        });
    }
    Ok(())
}

/// Whether provider pool `pool` is configured pool `configured`: the same name, or a green pool an earlier
/// upgrade of it made (`workers-v1-31-4`), which replaced it.
fn descends_from(pool: &str, configured: &str) -> bool {
    pool == configured
        || pool
            .strip_prefix(configured)
            .and_then(|rest| rest.strip_prefix("-v"))
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '-'))
}

/// The configured pool a reviewed plan is for (no `--pool`): the one its pool is, or descends from.
fn configured_pool_of(plan: &UpgradePlan, config: Option<&Path>) -> Result<String, CliError> {
    let file = crate::config::ClusterConfig::locate(config)?;
    let cfg = crate::config::ClusterConfig::load(&file)?;
    Ok(cfg
        .pools
        .iter()
        .find(|p| descends_from(&plan.pool, &p.name))
        .map_or_else(|| plan.pool.clone(), |p| p.name.clone()))
}

/// A reviewed plan is for one cluster and pool: the configuration must name the same ones.
fn same_pool(plan: &UpgradePlan, selected: &Selected, file: &Path) -> Result<(), CliError> {
    let cluster = &selected.config.cluster.name;
    if plan.cluster != *cluster || !descends_from(&plan.pool, &selected.pool.name) {
        return Err(CliError::PlanFile {
            path: file.to_path_buf(),
            message: format!(
                "it is a plan for pool {} of cluster {}, not pool {} of cluster {} ({})",
                plan.pool,
                plan.cluster,
                selected.pool.name,
                cluster,
                selected.file.display()
            ),
        });
    }
    Ok(())
}

/// Plans again from the cluster and the provider now, compares, prints the differences, and refuses on a
/// material one (exit 6, nothing changed).
async fn check_drift(
    session: &Session,
    reviewed: &UpgradePlan,
    target: &TargetPolicy,
    policy: &Policy,
    args: &UpgradeArgs,
    file: &Path,
) -> Result<(), CliError> {
    let refuse = |count| CliError::PlanDrift { path: file.to_path_buf(), plan_id: reviewed.plan_id.clone(), count };
    let (fresh, snapshot) = match session.plan_and_snapshot(target, policy).await {
        Ok(x) => x,
        Err(SessionError::Plan(PlanError::Target(e @ TargetError::UpToDate { .. }))) => {
            super::write_stdout(
                format!("plan {}: refuses: pool {}: {e}\n", reviewed.plan_id, reviewed.pool).as_bytes(),
            )?;
            return Err(refuse(1));
        }
        Err(e) => return Err(e.into()),
    };
    let observed = Observed::from_plan(&fresh, &snapshot.pdbs);
    let check = StartCheck { policy_now: policy, now: session.engine.clock.now(), max_age: args.max_plan_age };
    let drift = drift::before_start(reviewed, &fresh, &observed, &check);
    let mut out =
        format!("executing reviewed plan {} ({}), made at {}\n", reviewed.plan_id, file.display(), reviewed.planned_at);
    if drift == drift::Drift::default() {
        out.push_str("  the cluster and the provider match the plan\n");
    }
    out.push_str(&drift.lines("  "));
    super::write_stdout(out.as_bytes())?;
    if drift.is_material() { Err(refuse(drift.material.len())) } else { Ok(()) }
}

/// A plan with blocked pods starts only when the operator accepts them: `--accept-blockers`, or yes on a
/// terminal. A job without the flag is refused (exit 5) before anything changes.
fn accept_blockers(plan: &UpgradePlan, args: &UpgradeArgs) -> Result<(), CliError> {
    let count = plan.blocked().count();
    if count == 0 || args.accept_blockers {
        return Ok(());
    }
    let mut list = String::from("blocked pods:\n");
    for p in plan.blocked() {
        if let crate::model::plan::Disposition::Blocked(reason) = &p.disposition {
            list.push_str(&format!("  {} on {}: {reason}\n", p.key(), p.node));
        }
    }
    super::write_stdout(list.as_bytes())?;
    if args.yes || !std::io::stdin().is_terminal() {
        return Err(CliError::PlanBlockers { count });
    }
    let then = match plan.policy.escalation {
        Escalation::Pause => "the run creates green, cordons blue and pauses at the first of them (exit 4)",
        Escalation::Quarantine => "their nodes stay cordoned with them and blue is not deleted until they are moved",
        Escalation::Force if plan.policy.force_allowed => {
            "they are deleted at the drain timeout, bypassing their budgets"
        }
        Escalation::Force => "the run pauses at the first of them (force is not enabled: --force)",
    };
    let question = format!("The plan has {count} blocked pod(s): {then}. Start anyway?");
    if super::prompt::confirm(&question)? { Ok(()) } else { Err(CliError::PlanBlockers { count }) }
}
