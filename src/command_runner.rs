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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sh(script: &str, timeout: Duration) -> CommandSpec {
        CommandSpec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("POOLSHIFT_STOP".into(), "after_batch".into()), ("POOLSHIFT_BATCH".into(), "2".into())],
            timeout,
        }
    }

    #[tokio::test]
    async fn a_command_sees_the_run_and_its_exit_status_decides() {
        let ok = ProcessRunner.run(&sh("echo \"at $POOLSHIFT_STOP $POOLSHIFT_BATCH\"", Duration::from_secs(20))).await;
        assert_eq!(
            ok,
            CommandOutcome::Finished {
                success: true,
                exit: "exited with status 0".into(),
                output: "at after_batch 2".into()
            }
        );
        let failed =
            ProcessRunner.run(&sh("echo checking; echo 'p99 too high' >&2; exit 3", Duration::from_secs(20))).await;
        assert_eq!(
            failed,
            CommandOutcome::Finished {
                success: false,
                exit: "exited with status 3".into(),
                output: "checking\np99 too high".into()
            }
        );
    }

    #[tokio::test]
    async fn a_command_past_its_deadline_is_killed_and_a_missing_one_does_not_start() {
        let slow = ProcessRunner.run(&sh("echo waiting >&2; sleep 30", Duration::from_millis(500))).await;
        assert_eq!(slow, CommandOutcome::TimedOut { output: "waiting".into() });
        let missing = CommandSpec {
            argv: vec!["/nonexistent/smoke.sh".into()],
            env: Vec::new(),
            timeout: Duration::from_secs(5),
        };
        let CommandOutcome::NotStarted { message } = ProcessRunner.run(&missing).await else { panic!("started") };
        assert!(message.starts_with("cannot start /nonexistent/smoke.sh: No such file or directory"), "{message}");
    }
}
