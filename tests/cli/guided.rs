//! The guided mode on a pseudo-terminal: `upgrade` without `--yes` against `sim serve`, driven as an operator
//! would: approve the plan, look at the blockers and the next batch at a stop, pause there, `resume`, answer
//! Ctrl-C at a stop (a safe pause), and finish with `resume --yes`. The screen is read as a terminal draws it.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::agent::SimCluster;
use crate::support::{repo_root, stderr, stdout};

/// Four batches of one node; the operator is asked before the first batch and after each one.
const POLICY: &str = "    to: latest-patch\n    batch: 1\n    batch_soak: 5s\n    pool_soak: 10s\n    drain_timeout: 10m\n    guided: {stops: [before_first_batch, after_batch]}\n";

/// A safety net against hangs, not an assertion on time.
const LIMIT: Duration = Duration::from_secs(300);

/// `poolshift` on a pseudo-terminal of 300 rows (the whole session stays on screen), its output parsed as
/// a terminal would draw it.
struct Terminal {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Mutex<vt100::Parser>>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Terminal {
    fn spawn(cluster: &SimCluster, command: &str, args: &[&str]) -> Terminal {
        let pair = native_pty_system()
            .openpty(PtySize { rows: 300, cols: 200, pixel_width: 0, pixel_height: 0 })
            .expect("open a pseudo-terminal");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_poolshift"));
        cmd.arg(command);
        cmd.arg("-c");
        cmd.arg(&cluster.config);
        cmd.args(args);
        cmd.cwd(repo_root());
        cmd.env("TERM", "xterm-256color");
        for var in ["RUST_LOG", "POOLSHIFT_CONFIG", "POOLSHIFT_POOL", "POOLSHIFT_TO", "KUBECONFIG"] {
            cmd.env_remove(var);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn poolshift on the terminal");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("terminal reader");
        let writer = pair.master.take_writer().expect("terminal writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(300, 200, 0)));
        let feed = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).process(&buf[..n]);
            }
        });
        Terminal { child, writer, screen, _master: pair.master }
    }

    fn screen(&self) -> String {
        self.screen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).screen().contents()
    }

    /// Waits until the screen shows `text`; returns the screen.
    fn wait_for(&mut self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(300)); // the last output
                let screen = self.screen();
                assert!(screen.contains(text), "exited ({status:?}) without showing {text:?}:\n{screen}");
                return screen;
            }
            assert!(start.elapsed() < LIMIT, "never showed {text:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `keys` (a line ends with `\r`, as Enter sends it).
    fn type_keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("type");
        self.writer.flush().expect("flush");
    }

    /// Waits for the exit; the exit code and the final screen.
    fn finish(mut self) -> (u32, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll") {
                std::thread::sleep(Duration::from_millis(300));
                return (status.exit_code(), self.screen());
            }
            assert!(start.elapsed() < LIMIT, "did not exit:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn an_operator_approves_pauses_at_a_stop_resumes_and_finishes() {
    let cluster = SimCluster::start(POLICY);
    let mut t = Terminal::spawn(&cluster, "upgrade", &[]);

    // The plan, then the question.
    let screen = t.wait_for("Upgrade pool blue (plan ");
    assert!(screen.contains("plan: cluster cli-test pool blue 1.31.1 -> 1.31.4"), "{screen}");
    assert!(screen.contains("4 blue nodes in 4 batches"), "{screen}");
    t.type_keys("y\r");

    // Green is up; the first stop, before anything on blue changes.
    let screen = t.wait_for("== stop: before the first batch");
    assert!(screen.contains("green pool blue-v1-31-4: "), "{screen}");
    assert!(screen.contains("[c] continue  [p] pause  [r] roll back  [b] show blockers"), "{screen}");
    assert!(
        cluster.served.kubectl_ok(&["get", "nodes", "-o", "jsonpath={.items[*].spec.unschedulable}"]).trim().is_empty(),
        "nothing cordoned yet"
    );
    t.type_keys("b\r");
    t.wait_for("blockers: none");
    t.type_keys("c\r");

    // After the first batch: look at the next one, then pause here.
    let screen = t.wait_for("== stop: after batch 1 of 4");
    assert!(screen.contains("batch 1/4: done"), "{screen}");
    assert!(screen.contains("next: drain batch 2 of 4"), "{screen}");
    t.type_keys("n\r");
    let screen = t.wait_for("batch 2 of 4 (not started): nodes ");
    assert!(screen.contains(": evict"), "the batch's pods are listed: {screen}");
    t.type_keys("p\r");
    let (code, screen) = t.finish();
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("paused: paused by the operator at the stop after batch 1 of 4"), "{screen}");
    assert!(screen.contains("poolshift resume"), "{screen}");
    let s = cluster.status();
    assert_eq!(s["run"]["status"], "paused", "{s}");
    assert_eq!(s["run"]["phase"], "Draining batch 2 of 4", "{s}");
    assert_eq!(s["run"]["batches_done"], 1, "{s}");

    // Resume on the terminal: asked again where it stopped, then after each batch; Ctrl-C at a stop pauses.
    let mut t = Terminal::spawn(&cluster, "resume", &[]);
    let screen = t.wait_for("== stop: after batch 1 of 4");
    assert!(screen.contains("resuming run blue-"), "{screen}");
    t.type_keys("c\r");
    let screen = t.wait_for("== stop: after batch 2 of 4");
    assert!(screen.contains("batch 2/4: done"), "{screen}");
    t.type_keys("\x03");
    let (code, screen) = t.finish();
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("paused at the stop after batch 2 of 4"), "{screen}");
    assert_eq!(cluster.status()["run"]["batches_done"], 2);

    // The rest unattended on a terminal: the bars, no stops.
    let mut t = Terminal::spawn(&cluster, "resume", &["--yes"]);
    let (code, screen) = {
        t.wait_for("resuming run blue-");
        t.finish()
    };
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("done: pool blue upgraded to green pool blue-v1-31-4"), "{screen}");
    assert!(!screen.contains("== stop:"), "--yes does not stop: {screen}");
    cluster.assert_invariants();
    cluster.assert_only_green();
}

#[test]
fn without_a_terminal_progress_is_plain_lines() {
    let cluster = SimCluster::start(POLICY);
    let o = cluster.run("upgrade", &["--yes"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert!(!out.contains('\x1b'), "no escape codes: {out:?}");
    assert!(out.contains("] batch 1/4: done"), "{out}");
    assert!(!out.contains("== stop:"), "{out}");
}
