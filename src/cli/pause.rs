//! `poolshift pause`: asks the agent running the pool's upgrade (in any process, on any machine) to stop at
//! its next safe point: it lets in-flight evictions finish, saves its checkpoint and exits with code 3.
//! This command only writes the request into the checkpoint and returns.

use super::args::PoolArgs;
use super::connect::{existing_run, select_run};
use super::error::CliError;
use crate::exit::Exit;
use crate::model::checkpoint::RunStatus;

pub async fn run(args: &PoolArgs) -> Result<Exit, CliError> {
    let (selected, conn) = select_run(args.config.as_deref(), args.pool.as_deref(), args.state_file.as_deref()).await?;
    let session = conn.session_without_provider(&selected, "pause");
    let st = existing_run(&session, "pause").await?;
    let cp = &st.checkpoint;
    if cp.status != RunStatus::Running {
        let msg = format!(
            "run {} of pool {} is not running ({}): nothing to pause\n",
            cp.run_id,
            cp.pool,
            super::status::status_word(&cp.status)
        );
        super::write_stdout(msg.as_bytes())?;
        return Ok(Exit::Done);
    }
    session.engine.request_pause().await?;
    let msg = format!(
        "pause requested for run {} of pool {}: the running agent stops at its next safe point (exit code 3); `poolshift resume {}` continues (runbook: pause-resume)\n",
        cp.run_id,
        cp.pool,
        selected.args()
    );
    super::write_stdout(msg.as_bytes())?;
    Ok(Exit::Done)
}
