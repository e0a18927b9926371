//! `poolshift abort`: ends the pool's run and releases its lease, changing nothing in the cluster, and says
//! what is left behind (a green pool, cordoned blue nodes, frozen autoscaling) for the operator to handle.

use super::args::PoolArgs;
use super::connect::{existing_run, select_run};
use super::error::CliError;
use crate::exit::Exit;

pub async fn run(args: &PoolArgs) -> Result<Exit, CliError> {
    let (selected, conn) = select_run(args.config.as_deref(), args.pool.as_deref(), args.state_file.as_deref()).await?;
    let session = conn.session_without_provider(&selected, "abort");
    let st = existing_run(&session, "abort").await?;
    let cp = &st.checkpoint;
    if cp.finished() {
        let msg = format!(
            "run {} of pool {} is already {}: nothing to abort\n",
            cp.run_id,
            cp.pool,
            super::status::status_word(&cp.status)
        );
        super::write_stdout(msg.as_bytes())?;
        return Ok(Exit::Done);
    }
    let left = session.engine.abort().await?;
    let mut out =
        format!("aborted run {} of pool {} at phase {}; the lease is released.\n", cp.run_id, cp.pool, cp.phase);
    if left.is_empty() {
        out.push_str("Nothing was left behind.\n");
    } else {
        out.push_str("Left as it is (nothing was deleted, uncordoned or restored):\n");
        for l in &left {
            out.push_str(&format!("  - {l}\n"));
        }
    }
    super::write_stdout(out.as_bytes())?;
    Ok(Exit::Done)
}
