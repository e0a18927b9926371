//! Running an operator's command (a gate): the one port that starts processes for the engine.

use std::time::Duration;

use async_trait::async_trait;

/// What to run: argv (never through a shell), variables added to the agent's environment, a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The program and its arguments (the program is looked up on PATH when it has no `/`).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// It ran to its end: `success` when it exited 0; `exit` says how it ended (`exited with status 3`).
    Finished { success: bool, exit: String, output: String },
    /// It was still running at the deadline; its process group was killed.
    TimedOut { output: String },
    /// It could not be started (not found, not executable).
    NotStarted { message: String },
}

#[async_trait]
pub trait CommandRunner: Send + Sync {
    async fn run(&self, spec: &CommandSpec) -> CommandOutcome;
}
