//! `poolshift resume`: continues a paused, blocked, failed or crashed run from its checkpoint, re-planning
//! the remaining blue nodes against the live cluster. Refused while another agent holds the pool's lease.

use super::args::ResumeArgs;
use super::connect::{existing_run, select_run};
use super::error::CliError;
use super::guided::Ui;
use crate::engine::EngineError;
use crate::exit::Exit;
use crate::model::checkpoint::{Checkpoint, RunStatus};
use crate::ports::LockError;

pub async fn run(resume: &ResumeArgs) -> Result<Exit, CliError> {
    let args = &resume.pool;
    let (selected, conn) = select_run(args.config.as_deref(), args.pool.as_deref(), args.state_file.as_deref()).await?;
    let ui = Ui::new(conn.clock.clone(), resume.yes);
    let conn_clock = conn.clock.clone();
    let mut session = conn.session_with_provider(&selected, ui.reporter()).await?;
    let st = existing_run(&session, "resume").await?;
    let cp = &st.checkpoint;
    if cp.finished() {
        let msg = format!(
            "run {} of pool {} is already {}: nothing to resume\n",
            cp.run_id,
            cp.pool,
            super::status::status_word(&cp.status)
        );
        super::write_stdout(msg.as_bytes())?;
        return Ok(Exit::Done);
    }
    if let Some(reason) = super::gatekeepers::window_closed(&selected, conn_clock.as_ref(), resume.ignore_windows) {
        let msg = format!(
            "not resuming run {} of pool {}: {reason}; nothing changed (runbook: windows-and-gates)\n",
            cp.run_id, cp.pool
        );
        super::write_stdout(msg.as_bytes())?;
        return Ok(Exit::Paused);
    }
    super::prompt::pause_on_signal(session.engine.interrupt.clone());
    super::gatekeepers::install(&mut session, &selected, resume.ignore_windows);
    let notifications =
        super::notifications::Notifications::attach(&mut session, &selected, resume.metrics_addr.as_deref(), true)
            .await?;
    // Said once the lease is ours: a run another agent holds is refused without claiming to resume it.
    let announce = |cp: &Checkpoint| {
        let before = match &cp.status {
            RunStatus::Failed(reason) => format!("failed before: {reason}"),
            s => format!("{} before", super::status::status_word(s)),
        };
        let line = format!("resuming run {} of pool {} at phase {} ({before})\n", cp.run_id, cp.pool, cp.phase);
        ui.say(&line);
    };
    ui.begin(&mut session, cp.plan.to_evict() as u64, cp.moved, &selected.pool.guided_stops).await;
    let outcome = session.engine.resume_with(&announce).await;
    ui.finish();
    notifications.finish().await;
    let outcome = match outcome {
        Err(EngineError::Lock(e @ LockError::Held { .. })) => {
            return Err(super::busy::held(e, Some(&st.checkpoint.run_id), &selected));
        }
        other => other?,
    };
    super::write_stdout(super::outcome::render(&outcome, &selected.pool.name, &selected.args()).as_bytes())?;
    Ok(super::outcome::exit_code(&outcome))
}
