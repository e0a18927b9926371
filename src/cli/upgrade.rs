//! `poolshift upgrade`: plans the pool's upgrade, shows the plan, asks for confirmation on a terminal (a job
//! passes `--yes`), then runs it with live progress. Ctrl-C pauses at the next safe point. Refuses to start
//! while an unfinished run of the pool exists: that one is resumed, rolled back or aborted first.

use std::io::IsTerminal;
use std::sync::Arc;

use super::args::UpgradeArgs;
use super::connect::{Connection, Selected};
use super::error::CliError;
use super::plan::{plan_or_nothing, summary, target_and_policy};
use super::progress::TerminalProgress;
use crate::exit::Exit;
use crate::model::policy::Escalation;

pub async fn run(args: &UpgradeArgs) -> Result<Exit, CliError> {
    let t = &args.target;
    // A job without --yes fails here, before anything is contacted.
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsYes);
    }
    let selected = Selected::load(t.config.as_deref(), t.pool.as_deref(), t.state_file.as_deref())?;
    let conn = Connection::open(&selected.config, None).await?;
    let progress = Arc::new(TerminalProgress::new(conn.clock.clone(), false));
    let session = conn.session_with_provider(&selected, progress).await?;
    if let Some(st) = session.engine.store.load().await?
        && !st.checkpoint.finished()
    {
        let cp = &st.checkpoint;
        return Err(CliError::Unfinished {
            pool: cp.pool.clone(),
            run: cp.run_id.clone(),
            phase: cp.phase.to_string(),
            status: super::status::status_word(&cp.status).to_string(),
            args: selected.args(),
        });
    }
    let (target, policy) = target_and_policy(&selected, t.to.as_ref(), args.force)?;
    let Some(plan) = plan_or_nothing(&session, &target, &policy).await? else { return Ok(Exit::Done) };
    let mut intro = summary(&plan);
    if policy.escalation == Escalation::Force && !policy.force_allowed {
        intro.push_str(
            "  note: escalation is force, but force is not enabled for this run (--force): stuck pods pause the run\n",
        );
    }
    intro.push('\n');
    super::write_stdout(intro.as_bytes())?;
    if !args.yes && !super::prompt::confirm(&format!("Upgrade pool {}?", plan.pool))? {
        super::write_stdout(b"Nothing changed.\n")?;
        return Ok(Exit::Done);
    }
    super::prompt::pause_on_signal(session.engine.interrupt.clone());
    let outcome = session.engine.start(plan).await?;
    super::write_stdout(super::outcome::render(&outcome, &selected.pool.name, &selected.args()).as_bytes())?;
    Ok(super::outcome::exit_code(&outcome))
}
