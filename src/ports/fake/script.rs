//! [`Script`]: which calls of the scripted fakes fail, and the journal of every call they saw.
//!
//! One script may be shared by every fake of a test (operation names do not collide across ports), so that
//! its journal orders calls across ports: "no eviction after the failed lease renewal" is a comparison of
//! [`Call::seq`]s. Call counts are 1-based and per operation; rules are checked in the order they were
//! added, the first that matches decides. Nothing is random.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use poolshift_provider_api::ErrorKind;

use crate::ports::EvictOutcome;

/// What a scripted call answers instead of (or, with [`Timing::After`], after) the real one. Each fake turns
/// it into its port's error; see the fakes for how a fault that is not its port's own is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The API server answered with an error status (`ClusterError::Api`, `StoreError::Io`, `LockError::Api`;
    /// a provider reports it as [`ErrorKind::Transient`] for 429 and 5xx, [`ErrorKind::Failed`] otherwise).
    Api { code: u16, reason: String },
    /// The connection failed (`ClusterError::Transport`; a provider reports [`ErrorKind::Transient`]).
    Transport { message: String },
    /// `evict` only: the Eviction API's answer, classified (503 Transient, 429 Throttled with Retry-After ...).
    Evict(EvictOutcome),
    /// A provider failure of this kind.
    Provider { kind: ErrorKind, message: String },
    /// Checkpoint store: someone else wrote since it was read (`StoreError::Conflict`).
    Conflict,
    /// Lease: another agent took it, or it was deleted (`LockError::Lost`).
    LeaseLost { message: String },
}

impl Fault {
    pub fn api(code: u16, reason: &str) -> Self {
        Fault::Api { code, reason: reason.to_string() }
    }

    pub fn transport(message: &str) -> Self {
        Fault::Transport { message: message.to_string() }
    }

    pub fn evict(outcome: EvictOutcome) -> Self {
        Fault::Evict(outcome)
    }

    /// A 503 from the Eviction API, with the server's Retry-After if any.
    pub fn evict_unavailable(retry_after: Option<Duration>) -> Self {
        Fault::Evict(EvictOutcome::Transient { message: "503 ServiceUnavailable (scripted)".into(), retry_after })
    }

    /// A 429 without a DisruptionBudget cause (API priority and fairness).
    pub fn evict_throttled(retry_after: Option<Duration>) -> Self {
        Fault::Evict(EvictOutcome::Throttled { retry_after })
    }

    pub fn provider(kind: ErrorKind, message: &str) -> Self {
        Fault::Provider { kind, message: message.to_string() }
    }

    pub fn lease_lost(message: &str) -> Self {
        Fault::LeaseLost { message: message.to_string() }
    }

    /// For messages: what the fault says.
    pub fn describe(&self) -> String {
        match self {
            Fault::Api { code, reason } => format!("the API server answered {code} {reason} (scripted)"),
            Fault::Transport { message } | Fault::Provider { message, .. } | Fault::LeaseLost { message } => {
                format!("{message} (scripted)")
            }
            Fault::Evict(o) => format!("eviction answered {o:?} (scripted)"),
            Fault::Conflict => "changed since it was read (scripted)".to_string(),
        }
    }
}

/// Which calls of an operation a rule applies to (1-based, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    Nth(u64),
    From(u64),
    Range(u64, u64),
}

impl Calls {
    pub fn contains(self, n: u64) -> bool {
        match self {
            Calls::Nth(k) => n == k,
            Calls::From(k) => n >= k,
            Calls::Range(a, b) => (a..=b).contains(&n),
        }
    }
}

/// Whether the fault replaces the call, or comes after the call was made (its answer was lost: the pool was
/// created, the checkpoint written, the pod evicted, but the caller sees the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    Instead,
    After,
}

#[derive(Debug, Clone)]
struct Rule {
    op: String,
    calls: Calls,
    timing: Timing,
    fault: Fault,
}

/// A call a fake saw, in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Position in the script's journal (0-based, across operations).
    pub seq: usize,
    pub op: String,
    /// A short summary of the arguments (`shop/web-1`, `blue-a-0 cordon`, a pool name, `seq 7`).
    pub arg: String,
    /// This operation's call count (1-based).
    pub n: u64,
    /// The fault it was answered with, if any.
    pub fault: Option<Fault>,
    /// When it was made (tokio time: virtual under a paused runtime).
    pub at: tokio::time::Instant,
}

/// What a fake does with a call: [`Script::call`]'s verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(Fault),
    FailAfter(Fault),
}

impl Verdict {
    /// Performs the verdict: makes the real `call` unless the fault replaces it, and answers with what
    /// `fault` makes of the fault (the port's error, or for `evict` an outcome).
    pub async fn run<T, E, Fut>(
        self,
        call: impl FnOnce() -> Fut,
        fault: impl FnOnce(Fault) -> Result<T, E>,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        match self {
            Verdict::Pass => call().await,
            Verdict::Fail(f) => fault(f),
            Verdict::FailAfter(f) => {
                let _lost = call().await;
                fault(f)
            }
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    counts: HashMap<String, u64>,
    rules: Vec<Rule>,
    journal: Vec<Call>,
}

/// Thread-safe: the engine calls ports from concurrent futures.
#[derive(Debug, Default)]
pub struct Script {
    inner: Mutex<Inner>,
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers the `calls` of `op` with `fault`, `timing` instead of or after the real call.
    pub fn fail(&self, op: &str, calls: Calls, timing: Timing, fault: Fault) -> &Self {
        self.inner().rules.push(Rule { op: op.to_string(), calls, timing, fault });
        self
    }

    /// Call `n` of `op` (1-based) fails with `fault`.
    pub fn fail_nth(&self, op: &str, n: u64, fault: Fault) -> &Self {
        self.fail(op, Calls::Nth(n), Timing::Instead, fault)
    }

    /// Every call of `op` from the `n`th on fails.
    pub fn fail_from(&self, op: &str, n: u64, fault: Fault) -> &Self {
        self.fail(op, Calls::From(n), Timing::Instead, fault)
    }

    /// Calls `from..=to` of `op` fail.
    pub fn fail_range(&self, op: &str, from: u64, to: u64, fault: Fault) -> &Self {
        self.fail(op, Calls::Range(from, to), Timing::Instead, fault)
    }

    /// Call `n` of `op` is made, then its answer is replaced by `fault` (the answer was lost).
    pub fn fail_nth_after(&self, op: &str, n: u64, fault: Fault) -> &Self {
        self.fail(op, Calls::Nth(n), Timing::After, fault)
    }

    /// Every call of `op` after those made so far fails (for arming a fault from a test hook mid-run).
    pub fn fail_next_all(&self, op: &str, fault: Fault) -> &Self {
        let next = self.count(op) + 1;
        self.fail_from(op, next, fault)
    }

    /// Drops every rule: from now on every call passes (the counts and the journal stay).
    pub fn heal(&self) {
        self.inner().rules.clear();
    }

    /// Counts and records a call of `op`, and says what the fake must do with it.
    pub fn call(&self, op: &str, arg: impl Into<String>) -> Verdict {
        let mut inner = self.inner();
        let n = {
            let c = inner.counts.entry(op.to_string()).or_default();
            *c += 1;
            *c
        };
        let rule = inner.rules.iter().find(|r| r.op == op && r.calls.contains(n)).cloned();
        let seq = inner.journal.len();
        inner.journal.push(Call {
            seq,
            op: op.to_string(),
            arg: arg.into(),
            n,
            fault: rule.as_ref().map(|r| r.fault.clone()),
            at: tokio::time::Instant::now(),
        });
        match rule {
            None => Verdict::Pass,
            Some(r) if r.timing == Timing::Instead => Verdict::Fail(r.fault),
            Some(r) => Verdict::FailAfter(r.fault),
        }
    }

    /// Calls of `op` so far.
    pub fn count(&self, op: &str) -> u64 {
        self.inner().counts.get(op).copied().unwrap_or(0)
    }

    /// Every call so far, in order.
    pub fn journal(&self) -> Vec<Call> {
        self.inner().journal.clone()
    }

    /// The calls of `op`, in order.
    pub fn calls(&self, op: &str) -> Vec<Call> {
        self.inner().journal.iter().filter(|c| c.op == op).cloned().collect()
    }

    /// The calls that were answered with a fault, in order.
    pub fn failed(&self) -> Vec<Call> {
        self.inner().journal.iter().filter(|c| c.fault.is_some()).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_pick_calls_by_their_per_operation_count() {
        let s = Script::new();
        s.fail_nth("evict", 3, Fault::transport("reset")).fail_range("save", 2, 3, Fault::Conflict).fail_from(
            "renew",
            4,
            Fault::lease_lost("taken"),
        );
        let verdicts: Vec<bool> = (0..5).map(|_| s.call("evict", "shop/web") != Verdict::Pass).collect();
        assert_eq!(verdicts, [false, false, true, false, false]);
        let saves: Vec<bool> = (0..4).map(|_| s.call("save", "") != Verdict::Pass).collect();
        assert_eq!(saves, [false, true, true, false]);
        let renews: Vec<bool> = (0..6).map(|_| s.call("renew", "") != Verdict::Pass).collect();
        assert_eq!(renews, [false, false, false, true, true, true]);
        assert_eq!(s.count("evict"), 5);
        assert_eq!(s.count("delete_pool"), 0);
    }

    #[test]
    fn the_journal_orders_calls_across_operations_and_keeps_the_faults() {
        let s = Script::new();
        s.fail_nth("evict", 2, Fault::api(503, "ServiceUnavailable"));
        s.call("evict", "shop/a");
        s.call("renew", "agent");
        s.call("evict", "shop/b");
        let j = s.journal();
        assert_eq!(
            j.iter().map(|c| (c.seq, c.op.as_str(), c.n)).collect::<Vec<_>>(),
            [(0, "evict", 1), (1, "renew", 1), (2, "evict", 2)]
        );
        let failed = s.failed();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].arg, "shop/b");
        assert_eq!(failed[0].fault, Some(Fault::api(503, "ServiceUnavailable")));
        assert_eq!(s.calls("evict").len(), 2);
    }

    #[test]
    fn the_first_matching_rule_decides_and_heal_drops_them_all() {
        let s = Script::new();
        s.fail("create_pool", Calls::Nth(1), Timing::After, Fault::transport("timeout"));
        s.fail_from("create_pool", 1, Fault::Conflict);
        assert_eq!(s.call("create_pool", "g"), Verdict::FailAfter(Fault::transport("timeout")));
        assert_eq!(s.call("create_pool", "g"), Verdict::Fail(Fault::Conflict));
        s.heal();
        assert_eq!(s.call("create_pool", "g"), Verdict::Pass);
        assert_eq!(s.count("create_pool"), 3, "counts survive heal");
    }

    #[test]
    fn fail_next_all_starts_after_the_calls_made_so_far() {
        let s = Script::new();
        s.call("renew", "a");
        s.call("renew", "a");
        s.fail_next_all("renew", Fault::lease_lost("gone"));
        assert!(matches!(s.call("renew", "a"), Verdict::Fail(Fault::LeaseLost { .. })));
        assert_eq!(s.failed()[0].n, 3);
    }
}
