//! [`ScriptedCommands`]: a [`CommandRunner`] that answers from a queue (success where nothing is queued)
//! and records every command it was asked to run, with its environment.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::exec::{CommandOutcome, CommandRunner, CommandSpec};

#[derive(Debug, Default)]
pub struct ScriptedCommands {
    answers: Mutex<VecDeque<CommandOutcome>>,
    ran: Mutex<Vec<CommandSpec>>,
}

impl ScriptedCommands {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next command run ends with `outcome` (after the ones queued before).
    pub fn answer(self, outcome: CommandOutcome) -> Self {
        lock(&self.answers).push_back(outcome);
        self
    }

    /// Every command run, in order.
    pub fn ran(&self) -> Vec<CommandSpec> {
        lock(&self.ran).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl CommandRunner for ScriptedCommands {
    async fn run(&self, spec: &CommandSpec) -> CommandOutcome {
        lock(&self.ran).push(spec.clone());
        lock(&self.answers).pop_front().unwrap_or(CommandOutcome::Finished {
            success: true,
            exit: "exited with status 0".into(),
            output: String::new(),
        })
    }
}
