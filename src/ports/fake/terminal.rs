//! [`ScriptedTerminal`]: answers from a list and keeps everything shown, for tests of the guided mode.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::terminal::Terminal;

#[derive(Debug, Default)]
pub struct ScriptedTerminal {
    answers: Mutex<VecDeque<String>>,
    shown: Mutex<String>,
}

impl ScriptedTerminal {
    /// A terminal on which the operator types `answers`, one per question; then the input closes.
    pub fn typing(answers: &[&str]) -> Self {
        Self { answers: Mutex::new(answers.iter().map(|a| a.to_string()).collect()), ..Default::default() }
    }

    /// Everything shown so far (texts and prompts).
    pub fn shown(&self) -> String {
        lock(&self.shown).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Terminal for ScriptedTerminal {
    fn say(&self, text: &str) {
        let mut shown = lock(&self.shown);
        shown.push_str(text);
        if !text.ends_with('\n') {
            shown.push('\n');
        }
    }

    async fn ask(&self, prompt: &str) -> Option<String> {
        let answer = lock(&self.answers).pop_front();
        let mut shown = lock(&self.shown);
        shown.push_str(prompt);
        shown.push_str(answer.as_deref().unwrap_or("<closed>"));
        shown.push('\n');
        answer
    }
}
