//! Live progress drawn on a terminal (indicatif): the phase with elapsed and estimated time left, a bar of
//! pods moved over the whole run and one for the current batch, the pods waiting per PDB with what the
//! budget allows now, and the longest current wait (pod, PDB, the server's message, for how long). The
//! lines the plain mode prints are printed above the bars.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::progress::{self, describe, stamp};
use crate::ports::report::Event;
use crate::ports::{Clock, LiveView, Reporter};

/// How often the bars are redrawn with fresh times and budgets (real time).
const REDRAW: Duration = Duration::from_millis(250);

pub struct Bars {
    clock: Arc<dyn Clock>,
    origin: Duration,
    multi: MultiProgress,
    header: ProgressBar,
    overall: ProgressBar,
    batch: ProgressBar,
    waits: ProgressBar,
    longest: ProgressBar,
    state: Mutex<State>,
    /// The cluster's live view, for what each budget allows now (attached once the session has one).
    live: OnceLock<Arc<dyn LiveView>>,
}

#[derive(Default)]
struct State {
    lines: progress::State,
    phase: String,
    /// Pods moved in this process since the first batch started, and when that was (engine time).
    moved_here: u64,
    first_batch_at: Option<Duration>,
    /// Pods waiting for an eviction: pod -> (PDB, the server's message, waiting since).
    waiting: BTreeMap<String, (Option<String>, String, Duration)>,
    /// The blocked pods of the last stop, when the run blocked.
    blocked: Option<String>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

impl Bars {
    /// Bars on stdout, hidden until [`Bars::begin`].
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let text = style("{msg}");
        let header = multi.add(ProgressBar::new(1).with_style(text.clone()));
        let overall =
            multi.add(ProgressBar::new(0).with_style(style("  all batches [{bar:30}] {pos}/{len} pods moved")));
        let batch = multi.add(ProgressBar::new(0).with_style(style("  {prefix:<11} [{bar:30}] {pos}/{len} {msg}")));
        batch.set_prefix("no batch");
        let waits = multi.add(ProgressBar::new(1).with_style(text.clone()));
        let longest = multi.add(ProgressBar::new(1).with_style(text));
        let origin = clock.elapsed();
        let bars = Arc::new(Self {
            clock,
            origin,
            multi,
            header,
            overall,
            batch,
            waits,
            longest,
            state: Mutex::new(State::default()),
            live: OnceLock::new(),
        });
        bars.redraw();
        let weak = Arc::downgrade(&bars);
        tokio::spawn(redraw_while_alive(weak));
        bars
    }

    /// Shows the bars for a run of `planned` pods of which `moved` already moved (a resumed run).
    pub fn begin(&self, planned: u64, moved: u64) {
        self.overall.set_length(planned);
        self.overall.set_position(moved.min(planned));
        self.show();
    }

    /// The cluster's live view, to show what each budget allows now.
    pub fn attach(&self, live: Arc<dyn LiveView>) {
        let _ = self.live.set(live);
    }

    /// Hides the bars (while the operator answers a question).
    pub fn hide(&self) {
        let _ = self.multi.clear();
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
    }

    /// Shows the bars again.
    pub fn show(&self) {
        self.multi.set_draw_target(ProgressDrawTarget::stdout());
        self.redraw();
    }

    /// Removes the bars from the screen (the run ended; the lines printed above them stay).
    pub fn finish(&self) {
        let _ = self.multi.clear();
    }

    /// Prints a line above the bars.
    pub fn println(&self, text: &str) {
        // Drawing is best effort: a terminal that went away must not stop the upgrade.
        let _ = self.multi.println(text);
    }

    fn now(&self) -> Duration {
        self.clock.elapsed().saturating_sub(self.origin)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn redraw(&self) {
        let now = self.now();
        let st = self.state();
        let left = eta(
            self.overall.length().unwrap_or(0).saturating_sub(self.overall.position()),
            st.moved_here,
            st.first_batch_at.map(|t| now.saturating_sub(t)),
        );
        let phase = if st.phase.is_empty() { "starting" } else { st.phase.as_str() };
        self.header.set_message(format!("poolshift {} phase {phase} · {left}", stamp(now)));
        self.waits.set_message(waits_line(&st.waiting, self.live.get().map(|l| l.as_ref())));
        self.longest.set_message(match &st.blocked {
            Some(b) => b.clone(),
            None => longest_line(&st.waiting, now),
        });
    }
}

async fn redraw_while_alive(bars: Weak<Bars>) {
    loop {
        tokio::time::sleep(REDRAW).await;
        match bars.upgrade() {
            Some(b) => b.redraw(),
            None => return,
        }
    }
}

/// "about 3m20s left" from the pods left and the rate so far; "estimating" before the first move.
fn eta(left: u64, moved: u64, over: Option<Duration>) -> String {
    match over {
        Some(d) if moved > 0 && !d.is_zero() => {
            let secs = (d.as_secs_f64() * left as f64 / moved as f64).round() as u64;
            format!("about {}m{:02}s of draining left", secs / 60, secs % 60)
        }
        _ if left == 0 => "nothing left to move".to_string(),
        _ => "estimating time left".to_string(),
    }
}

/// "waiting: PDB shop/web allows 0 now (3 pods) · PDB data/db allows 1 now (1 pod)".
fn waits_line(waiting: &BTreeMap<String, (Option<String>, String, Duration)>, live: Option<&dyn LiveView>) -> String {
    if waiting.is_empty() {
        return "  waiting: none".to_string();
    }
    let mut per_pdb: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for (pdb, _, _) in waiting.values() {
        *per_pdb.entry(pdb.as_deref()).or_default() += 1;
    }
    let parts: Vec<String> = per_pdb
        .iter()
        .map(|(pdb, n)| {
            let pods = if *n == 1 { "1 pod".to_string() } else { format!("{n} pods") };
            match pdb {
                Some(pdb) => {
                    let allows = allowed(pdb, live).map(|a| format!(" allows {a} now")).unwrap_or_default();
                    format!("PDB {pdb}{allows} ({pods})")
                }
                None => format!("no PDB, the server asked to wait ({pods})"),
            }
        })
        .collect();
    format!("  waiting: {}", parts.join(" · "))
}

/// What budget `ns/name` allows now, from the live view.
fn allowed(pdb: &str, live: Option<&dyn LiveView>) -> Option<i32> {
    let (ns, name) = pdb.split_once('/')?;
    live?.pdbs(ns).iter().find(|p| p.name == name).map(|p| p.disruptions_allowed)
}

/// The pod waiting longest, with its PDB, the server's message and for how long.
fn longest_line(waiting: &BTreeMap<String, (Option<String>, String, Duration)>, now: Duration) -> String {
    match waiting.iter().min_by_key(|(_, (_, _, since))| *since) {
        Some((pod, (pdb, message, since))) => {
            let pdb = pdb.as_deref().map(|p| format!(" (PDB {p})")).unwrap_or_default();
            let secs = now.saturating_sub(*since).as_secs();
            format!("  longest wait: {pod}{pdb} for {}m{:02}s: {message}", secs / 60, secs % 60)
        }
        None => String::new(),
    }
}

impl Reporter for Bars {
    fn event(&self, e: &Event) {
        let now = self.now();
        let lines = {
            let mut st = self.state();
            match e {
                Event::Phase { phase } => st.phase = phase.to_string(),
                Event::BatchStarted { batch, of, pods, .. } => {
                    st.first_batch_at.get_or_insert(now);
                    st.waiting.clear();
                    st.blocked = None;
                    self.batch.set_prefix(format!("batch {}/{of}", batch + 1));
                    self.batch.set_length(*pods as u64);
                    self.batch.set_position(0);
                    self.batch.set_message("pods moved");
                }
                Event::PodEvicted { pod, .. } => {
                    st.waiting.remove(pod);
                }
                Event::PodMoved { .. } => {
                    st.moved_here += 1;
                    self.overall.inc(1);
                    self.batch.inc(1);
                }
                Event::Waiting { pod, pdb, message } => {
                    let since = st.waiting.get(pod).map_or(now, |w| w.2);
                    st.waiting.insert(pod.clone(), (pdb.clone(), message.clone(), since));
                }
                Event::BatchDone { .. } => {
                    st.waiting.clear();
                    self.batch.set_message("pods moved, done");
                }
                Event::Blocked { blockers } => {
                    st.blocked = blockers.first().map(|b| {
                        let pdb = b.pdb.as_ref().map(|p| format!(" (PDB {p})")).unwrap_or_default();
                        format!("  blocked: {}{pdb}: {} ({} pod(s) in all)", b.pod, b.reason, blockers.len())
                    });
                }
                _ => {}
            }
            describe(e, &mut st.lines, false)
        };
        for line in lines {
            self.println(&format!("{} {line}", stamp(now)));
        }
        self.redraw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_follows_the_rate_so_far() {
        assert_eq!(eta(30, 10, Some(Duration::from_secs(60))), "about 3m00s of draining left");
        assert_eq!(eta(30, 0, Some(Duration::from_secs(60))), "estimating time left");
        assert_eq!(eta(0, 0, None), "nothing left to move");
    }

    #[test]
    fn waits_are_counted_per_budget_and_the_longest_is_named() {
        let mut w = BTreeMap::new();
        let msg = "Cannot evict pod as it would violate the pod's disruption budget.".to_string();
        w.insert("shop/web-1".to_string(), (Some("shop/web".to_string()), msg.clone(), Duration::from_secs(5)));
        w.insert("shop/web-2".to_string(), (Some("shop/web".to_string()), msg.clone(), Duration::from_secs(9)));
        w.insert("data/db-0".to_string(), (None, "too many requests".to_string(), Duration::from_secs(20)));
        assert_eq!(waits_line(&w, None), "  waiting: no PDB, the server asked to wait (1 pod) · PDB shop/web (2 pods)");
        assert_eq!(
            longest_line(&w, Duration::from_secs(75)),
            format!("  longest wait: shop/web-1 (PDB shop/web) for 1m10s: {msg}")
        );
        assert_eq!(waits_line(&BTreeMap::new(), None), "  waiting: none");
    }
}
