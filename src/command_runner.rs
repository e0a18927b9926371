//! [`ProcessRunner`]: the real [`CommandRunner`], starting gate commands as child processes in their own
//! process group (killed whole at the deadline) with the agent's environment plus the run's variables.

use std::path::Path;

use async_trait::async_trait;
use poolshift_process::{RunError, describe_exit};

use crate::ports::exec::{CommandOutcome, CommandRunner, CommandSpec};

#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessRunner;

#[async_trait]
impl CommandRunner for ProcessRunner {
    async fn run(&self, spec: &CommandSpec) -> CommandOutcome {
        let Some((program, args)) = spec.argv.split_first() else {
            return CommandOutcome::NotStarted { message: "the command is empty".into() };
        };
        match poolshift_process::run(Path::new(program), args, None, &spec.env, spec.timeout).await {
            Ok(done) => {
                let mut output = String::from_utf8_lossy(&done.stdout).trim_end().to_string();
                if !done.stderr.is_empty() {
                    if !output.is_empty() {
                        output.push('\n');
                    }
                    output.push_str(&done.stderr);
                }
                CommandOutcome::Finished { success: done.status.success(), exit: describe_exit(&done.status), output }
            }
            Err(RunError::TimedOut { stderr, .. }) => CommandOutcome::TimedOut { output: stderr },
            Err(e @ (RunError::Spawn { .. } | RunError::Wait(_))) => {
                CommandOutcome::NotStarted { message: e.to_string() }
            }
        }
    }
}
