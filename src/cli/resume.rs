//! `poolshift resume`: continues a paused, blocked, failed or crashed run from its checkpoint, re-planning
//! the remaining blue nodes against the live cluster. Refused while another agent holds the pool's lease.

use std::sync::Arc;

use super::args::PoolArgs;
use super::connect::{existing_run, select_run};
use super::error::CliError;
use super::progress::TerminalProgress;
use crate::exit::Exit;

pub async fn run(args: &PoolArgs) -> Result<Exit, CliError> {
    let (selected, conn) = select_run(args.config.as_deref(), args.pool.as_deref(), args.state_file.as_deref()).await?;
    let progress = Arc::new(TerminalProgress::new(conn.clock.clone(), false));
    let session = conn.session_with_provider(&selected, progress).await?;
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
    super::write_stdout(
        format!(
            "resuming run {} of pool {} at phase {} ({} before)\n",
            cp.run_id,
            cp.pool,
            cp.phase,
            super::status::status_word(&cp.status)
        )
        .as_bytes(),
    )?;
    super::prompt::pause_on_signal(session.engine.interrupt.clone());
    let outcome = session.engine.resume().await?;
    super::write_stdout(super::outcome::render(&outcome, &selected.pool.name, &selected.args()).as_bytes())?;
    Ok(super::outcome::exit_code(&outcome))
}
