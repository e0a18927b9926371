//! [`CommandGate`]: an operator's command run at the stop points it names (after green is Ready and after
//! each batch by default), with the run's context in `POOLSHIFT_*` environment variables. Exit 0 passes;
//! anything else (another status, a timeout, a command that cannot start) blocks the run with its output.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::stop::{StopKind, StopPoint};
use crate::ports::exec::{CommandOutcome, CommandRunner, CommandSpec};
use crate::ports::gate::{GateInput, Gatekeeper, Verdict};

/// A gate command as the cluster file configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateCommand {
    /// Names the gate in messages and in `POOLSHIFT_GATE`.
    pub name: String,
    pub argv: Vec<String>,
    pub timeout: Duration,
    /// Where it runs.
    pub at: Vec<StopKind>,
}

pub struct CommandGate {
    command: GateCommand,
    runner: Arc<dyn CommandRunner>,
}

impl CommandGate {
    pub fn new(command: GateCommand, runner: Arc<dyn CommandRunner>) -> Self {
        Self { command, runner }
    }
}

/// The run's context for a gate command at `at`.
pub fn environment(gate: &str, at: StopPoint, input: &GateInput) -> Vec<(String, String)> {
    let cp = &input.checkpoint;
    let mut env = vec![
        ("POOLSHIFT_GATE", gate.to_string()),
        ("POOLSHIFT_STOP", at.kind().name().to_string()),
        ("POOLSHIFT_CLUSTER", cp.cluster.clone()),
        ("POOLSHIFT_POOL", cp.pool.clone()),
        ("POOLSHIFT_GREEN_POOL", cp.green.name.clone()),
        ("POOLSHIFT_RUN_ID", cp.run_id.clone()),
        ("POOLSHIFT_PLAN_ID", cp.plan_id.clone()),
        ("POOLSHIFT_FROM_VERSION", cp.plan.blue.version.clone()),
        ("POOLSHIFT_TO_VERSION", cp.plan.target.version.to_string()),
        ("POOLSHIFT_PODS_MOVED", cp.moved.to_string()),
        ("POOLSHIFT_BATCHES", cp.batches.len().to_string()),
    ];
    if let StopPoint::AfterBatch { batch, .. } = at {
        env.push(("POOLSHIFT_BATCH", (batch + 1).to_string()));
        env.push(("POOLSHIFT_BATCH_NODES", cp.batch_nodes(batch).join(" ")));
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[async_trait]
impl Gatekeeper for CommandGate {
    fn name(&self) -> String {
        format!("gate {}", self.command.name)
    }

    async fn check(&self, at: StopPoint, input: &GateInput) -> Verdict {
        if !self.command.at.contains(&at.kind()) {
            return Verdict::Pass;
        }
        let c = &self.command;
        let spec = CommandSpec { argv: c.argv.clone(), env: environment(&c.name, at, input), timeout: c.timeout };
        let (why, output) = match self.runner.run(&spec).await {
            CommandOutcome::Finished { success: true, .. } => return Verdict::Pass,
            CommandOutcome::Finished { exit, output, .. } => (exit, output),
            CommandOutcome::TimedOut { output } => {
                (format!("did not finish within {}", crate::text_table::human(c.timeout)), output)
            }
            CommandOutcome::NotStarted { message } => (format!("could not start: {message}"), String::new()),
        };
        let last = output.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim()));
        Verdict::Block {
            reason: format!("gate {} failed {at}: {} {why}{}", c.name, c.argv[0], last.unwrap_or_default()),
            output: Some(output),
        }
    }
}
