//! The real terminal of the guided mode: answers are read from stdin by one reader thread (a blocked read
//! must not keep the process alive at exit), and a question gives up when Ctrl-C interrupts the run. The
//! progress bars are hidden while a question waits.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc};

use super::bars::Bars;
use crate::ports::terminal::Terminal;

/// How often a waiting question looks at the Ctrl-C flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

pub struct Console {
    lines: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    interrupt: Arc<AtomicBool>,
    bars: Option<Arc<Bars>>,
}

impl Console {
    /// A console that hides `bars` while it asks; `interrupt` is the run's Ctrl-C flag.
    pub fn new(interrupt: Arc<AtomicBool>, bars: Option<Arc<Bars>>) -> Self {
        Self { lines: Mutex::new(None), interrupt, bars }
    }

    fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A terminal that went away must not stop the run: the next question then reads a closed input.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// Lines typed on stdin, read by a thread of their own until the input closes.
fn reader() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[async_trait]
impl Terminal for Console {
    fn say(&self, text: &str) {
        match &self.bars {
            Some(b) => {
                for line in text.trim_end_matches('\n').lines() {
                    b.println(line);
                }
            }
            None if text.ends_with('\n') => self.print(text),
            None => self.print(&format!("{text}\n")),
        }
    }

    async fn ask(&self, prompt: &str) -> Option<String> {
        if self.interrupt.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(b) = &self.bars {
            b.hide();
        }
        self.print(prompt);
        let mut guard = self.lines.lock().await;
        let rx = guard.get_or_insert_with(reader);
        let answer = loop {
            tokio::select! {
                line = rx.recv() => break line,
                _ = tokio::time::sleep(INTERRUPT_POLL) => {
                    if self.interrupt.load(Ordering::SeqCst) {
                        self.print("\n");
                        break None;
                    }
                }
            }
        };
        if let Some(b) = &self.bars {
            b.show();
        }
        answer
    }
}
