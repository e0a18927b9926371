//! The operator's terminal, as the guided mode talks to it: show text, read an answer.

use async_trait::async_trait;

#[async_trait]
pub trait Terminal: Send + Sync {
    /// Shows `text` (whole lines) to the operator.
    fn say(&self, text: &str);
    /// Shows `prompt` and waits for one line; `None` when the input closed or Ctrl-C interrupted the wait.
    async fn ask(&self, prompt: &str) -> Option<String>;
}
