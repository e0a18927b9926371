//! `poolshift rollback`: undoes a run that has not started deleting the blue pool: uncordons blue, cordons
//! and drains green, deletes green, restores blue's autoscaling. While another agent runs the pool, the
//! rollback is requested from it instead (it rolls back at its next safe point).

use std::sync::Arc;

use super::args::PoolArgs;
use super::connect::{existing_run, select_run};
use super::error::CliError;
use super::progress::TerminalProgress;
use crate::engine::Outcome;
use crate::exit::Exit;

/// How the engine words a rollback it could only request (another agent holds the lease).
const REQUESTED: &str = "rollback requested";

pub async fn run(args: &PoolArgs) -> Result<Exit, CliError> {
    let (selected, conn) = select_run(args.config.as_deref(), args.pool.as_deref(), args.state_file.as_deref()).await?;
    let progress = Arc::new(TerminalProgress::new(conn.clock.clone(), false));
    let mut session = conn.session_with_provider(&selected, progress).await?;
    let st = existing_run(&session, "roll back").await?;
    let cp = &st.checkpoint;
    super::write_stdout(
        format!("rolling back run {} of pool {} from phase {}\n", cp.run_id, cp.pool, cp.phase).as_bytes(),
    )?;
    super::prompt::pause_on_signal(session.engine.interrupt.clone());
    let notifications = super::notifications::Notifications::attach(&mut session, &selected, None, false).await?;
    let outcome = session.engine.rollback().await;
    notifications.finish().await;
    let outcome = outcome?;
    if let Outcome::Paused(msg) = &outcome
        && msg.starts_with(REQUESTED)
    {
        super::write_stdout(format!("{msg}\n").as_bytes())?;
        return Ok(Exit::Done);
    }
    super::write_stdout(super::outcome::render(&outcome, &selected.pool.name, &selected.args()).as_bytes())?;
    Ok(super::outcome::exit_code(&outcome))
}
