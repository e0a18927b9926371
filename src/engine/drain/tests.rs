//! Table tests of the drain's decisions: a live view held in memory, the time given by hand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::machine::{Command, Drain, DrainEnd, Scope, UNSCHEDULABLE_GRACE};
use crate::engine::tracker::PodState;
use crate::model::identity::{PodKey, Subject, WorkloadKey};
use crate::model::policy::Policy;
use crate::model::snapshot::{NodeInfo, PdbInfo, PodInfo};
use crate::plan::tests::{pdb, pod};
use crate::ports::report::Event;
use crate::ports::{ClusterError, EvictOutcome, LiveView, Replicas};

const TICK: Duration = Duration::from_secs(5);

/// The cluster as the drain sees it, changed by each test between steps.
#[derive(Default)]
struct View {
    pods: Vec<Arc<PodInfo>>,
    pdbs: Vec<Arc<PdbInfo>>,
    /// Desired and ready replicas per workload.
    scale: BTreeMap<WorkloadKey, (i32, i32)>,
    unschedulable: BTreeMap<WorkloadKey, Vec<(PodKey, String)>>,
}

#[async_trait]
impl LiveView for View {
    fn pods_on(&self, node: &str) -> Vec<Arc<PodInfo>> {
        self.pods.iter().filter(|p| p.node.as_deref() == Some(node)).cloned().collect()
    }
    fn pods_of(&self, _: &WorkloadKey) -> Vec<Arc<PodInfo>> {
        Vec::new()
    }
    fn replicas(&self, w: &WorkloadKey) -> Replicas {
        Replicas {
            ready: self.scale.get(w).map_or(0, |s| s.1),
            unschedulable: self.unschedulable.get(w).cloned().unwrap_or_default(),
        }
    }
    fn pod(&self, key: &PodKey) -> Option<Arc<PodInfo>> {
        self.pods.iter().find(|p| p.namespace == key.namespace && p.name == key.name).cloned()
    }
    fn pdbs(&self, ns: &str) -> Vec<Arc<PdbInfo>> {
        self.pdbs.iter().filter(|p| p.namespace == ns).cloned().collect()
    }
    fn nodes(&self) -> Vec<NodeInfo> {
        Vec::new()
    }
    fn scale(&self, w: &WorkloadKey) -> Option<i32> {
        self.scale.get(w).map(|s| s.0)
    }
    async fn changed(&self) -> Result<(), ClusterError> {
        std::future::pending().await
    }
}

impl View {
    fn web(n: usize, node: &str) -> Self {
        let pods = (0..n).map(|i| Arc::new(pod("shop", &format!("web-{i}"), node, Some(("Deployment", "web")), "web")));
        Self { pods: pods.collect(), scale: [(web(), (n as i32, n as i32))].into(), ..Default::default() }
    }
    fn with_pdb(mut self, allowed: i32) -> Self {
        let n = self.pods.len() as i32;
        let mut b = pdb("shop", "web", "web", None, Some(IntOrString::Int(1)), (n, n - 1, n, allowed));
        b.resource_version = "1".into();
        self.pdbs = vec![Arc::new(b)];
        self
    }
    fn remove(&mut self, name: &str) {
        self.pods.retain(|p| p.name != name);
    }
    fn ready(&mut self, ready: i32) {
        if let Some(s) = self.scale.get_mut(&web()) {
            s.1 = ready;
        }
    }
}

fn web() -> WorkloadKey {
    WorkloadKey::new("Deployment", "shop", "web")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn policy(max_in_flight: usize) -> Policy {
    Policy { max_in_flight, drain_timeout: secs(600), ..Default::default() }
}

fn drain(nodes: &[&str], others: &[&str], policy: &Policy) -> Drain {
    let scope = Scope {
        nodes: nodes.iter().map(|s| s.to_string()).collect(),
        others: others.iter().map(|s| s.to_string()).collect(),
    };
    Drain::new(scope, policy, TICK, Default::default(), Duration::ZERO)
}

fn evicted_keys(cmds: &[Command]) -> Vec<PodKey> {
    cmds.iter().filter_map(|c| if let Command::Evict(pod) = c { Some(pod.key()) } else { None }).collect()
}

fn finish(cmds: &[Command]) -> Option<&super::DrainResult> {
    cmds.iter().find_map(|c| if let Command::Finish(r) = c { Some(r) } else { None })
}

/// The drain's end in `cmds`, which must be stuck: the stuck pods, whether at the timeout, pods moved.
fn stuck_end(cmds: &[Command]) -> (&[crate::engine::tracker::Stuck], bool, usize) {
    let Some(r) = finish(cmds) else { panic!("not finished: {cmds:?}") };
    let DrainEnd::Stuck { stuck, timed_out } = &r.end else { panic!("not stuck: {r:?}") };
    (stuck, *timed_out, r.moved)
}

fn state<'a>(d: &'a Drain, key: &PodKey) -> &'a PodState {
    &d.tracker().pods[key].state
}

#[test]
fn the_first_step_records_what_must_move_then_evicts_within_the_budget_and_the_in_flight_limit() {
    // (pods, PDB allows, in-flight limit) -> evictions sent at once.
    let cases: &[(usize, Option<i32>, usize, usize)] = &[
        (3, Some(1), 10, 1), // the PDB allows one
        (3, Some(0), 10, 0), // the PDB allows none: nothing is sent, the pods wait
        (3, Some(5), 2, 2),  // the in-flight limit
        (8, None, 10, 2),    // no PDB: at most a quarter of the workload at once (8 / 4)
        (2, None, 10, 1),    // no PDB, small workload: one at a time
    ];
    for &(n, allowed, limit, want) in cases {
        let mut v = View::web(n, "n1");
        if let Some(a) = allowed {
            v = v.with_pdb(a);
        }
        let mut d = drain(&["n1"], &[], &policy(limit));
        let cmds = d.step(&v, secs(1));
        let Some(Command::KeepLedger(l)) = cmds.first() else { panic!("the ledger first: {cmds:?}") };
        assert_eq!(l.to_move.len(), n, "every pod that must move is recorded before any eviction");
        assert_eq!(evicted_keys(&cmds).len(), want, "case {:?}", (n, allowed, limit));
        assert_eq!(d.in_flight(), want);
        // Stepping again with nothing answered sends nothing more and records nothing again.
        let again = d.step(&v, secs(1));
        assert!(evicted_keys(&again).is_empty() && !again.iter().any(|c| matches!(c, Command::KeepLedger(_))));
    }
}

#[test]
fn every_eviction_answer_is_taken_as_the_api_means_it() {
    let budget = || EvictOutcome::Budget {
        message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        retry_after: Some(secs(10)),
    };
    // (answer, state after, in-flight limit after (from 4), reported event, earliest retry)
    type Case =
        (Result<EvictOutcome, ClusterError>, fn(&PodState) -> bool, usize, Option<&'static str>, Option<Duration>);
    let cases: Vec<Case> = vec![
        (Ok(EvictOutcome::Evicted), |s| matches!(s, PodState::Evicted { .. }), 4, Some("evicted"), None),
        (Ok(EvictOutcome::Gone), |s| *s == PodState::Gone, 4, None, None),
        (Ok(EvictOutcome::NamespaceTerminating), |s| matches!(s, PodState::Evicted { .. }), 4, None, None),
        (
            Ok(budget()),
            |s| matches!(s, PodState::Waiting { last: Some(m), .. } if m.contains("disruption budget")),
            4,
            Some("waiting"),
            Some(secs(10)),
        ),
        (
            Ok(EvictOutcome::Throttled { retry_after: Some(secs(7)) }),
            |s| matches!(s, PodState::Waiting { .. }),
            2,
            None,
            Some(secs(7)),
        ),
        (
            Ok(EvictOutcome::Transient { message: "etcdserver: leader changed".into(), retry_after: Some(secs(3)) }),
            |s| matches!(s, PodState::Waiting { last: Some(m), .. } if m.contains("leader changed")),
            4,
            None,
            Some(secs(3)),
        ),
        (
            Ok(EvictOutcome::Refused { code: 500, message: "This pod has more than one PodDisruptionBudget".into() }),
            |s| matches!(s, PodState::Blocked { reason, .. } if reason.contains("(500)")),
            4,
            None,
            None,
        ),
        (
            Err(ClusterError::Transport {
                operation: "evict".into(),
                object: "shop/web-0".into(),
                message: "connection reset".into(),
            }),
            |s| matches!(s, PodState::Waiting { last: Some(m), .. } if m.contains("connection reset")),
            4,
            None,
            Some(Duration::from_millis(500)),
        ),
    ];
    for (i, (answer, want_state, want_limit, report, retry_at_least)) in cases.into_iter().enumerate() {
        let v = View::web(8, "n1").with_pdb(8);
        let mut d = drain(&["n1"], &[], &policy(4));
        let sent = evicted_keys(&d.step(&v, secs(1)));
        assert_eq!(sent.len(), 4, "case {i}: the PDB allows 8, the in-flight limit is 4");
        let key = &sent[0];
        let now = secs(2);
        let cmds = d.answered(key, answer, now);
        assert!(want_state(state(&d, key)), "case {i}: {:?}", state(&d, key));
        assert_eq!(d.limit(), want_limit, "case {i}");
        let events: Vec<&Event> =
            cmds.iter().filter_map(|c| if let Command::Report(e) = c { Some(e) } else { None }).collect();
        match report {
            Some("evicted") => assert!(matches!(events[..], [Event::PodEvicted { .. }]), "case {i}: {events:?}"),
            Some("waiting") => {
                assert!(matches!(events[..], [Event::Waiting { pdb: Some(_), .. }]), "case {i}: {events:?}")
            }
            _ => assert!(events.is_empty(), "case {i}: {events:?}"),
        }
        if let (Some(min), PodState::Waiting { not_before, .. }) = (retry_at_least, state(&d, key)) {
            assert!(*not_before >= now + min, "case {i}: retried at {not_before:?}, before {:?}", now + min);
        }
        assert_eq!(d.in_flight(), 3, "case {i}: one answer taken");
    }
}

/// Steps as the executor does: a housekeeping request is answered (`stop`) and the drain stepped again.
fn step(d: &mut Drain, v: &View, now: Duration, stop: bool) -> Vec<Command> {
    let mut all = d.step(v, now);
    while let Some(Command::Housekeep) = all.last() {
        all.pop();
        d.housekept(stop);
        all.extend(d.step(v, now));
    }
    all
}

#[test]
fn a_budget_refusal_is_reported_once_per_message_and_retried_no_sooner_than_retry_after() {
    // The cache says the budget allows one (the server disagrees: its view is newer).
    let v = View::web(1, "n1").with_pdb(1);
    let mut d = drain(&["n1"], &[], &policy(10));
    let key = evicted_keys(&step(&mut d, &v, secs(1), false)).remove(0);
    let refusal = |m: &str| Ok(EvictOutcome::Budget { message: m.into(), retry_after: Some(secs(30)) });
    assert_eq!(d.answered(&key, refusal("needs 2 healthy pods"), secs(2)).len(), 1, "reported");
    assert!(evicted_keys(&step(&mut d, &v, secs(20), false)).is_empty(), "not before Retry-After");
    assert_eq!(evicted_keys(&step(&mut d, &v, secs(33), false)), vec![key.clone()], "sent again after it");
    assert!(d.answered(&key, refusal("needs 2 healthy pods"), secs(34)).is_empty(), "the same message once");
    assert_eq!(evicted_keys(&step(&mut d, &v, secs(70), false)), vec![key.clone()]);
    assert_eq!(d.answered(&key, refusal("needs 3 healthy pods"), secs(71)).len(), 1, "a new message is reported");
}

#[test]
fn a_batch_is_done_when_its_pods_are_gone_and_their_workload_is_ready_again() {
    let mut v = View::web(2, "n1").with_pdb(2);
    let mut d = drain(&["n1"], &[], &policy(10));
    let sent = evicted_keys(&step(&mut d, &v, secs(1), false));
    assert_eq!(sent.len(), 2);
    for k in &sent {
        d.answered(k, Ok(EvictOutcome::Evicted), secs(2));
    }
    v.remove("web-0");
    v.remove("web-1");
    v.ready(0);
    let cmds = step(&mut d, &v, secs(3), false);
    let moved = cmds.iter().filter(|c| matches!(c, Command::Report(Event::PodMoved { .. }))).count();
    assert_eq!(moved, 2, "{cmds:?}");
    assert!(finish(&cmds).is_none(), "the replacements are not Ready yet");
    v.ready(1);
    assert!(finish(&step(&mut d, &v, secs(4), false)).is_none(), "one of two Ready");
    v.ready(2);
    let cmds = step(&mut d, &v, secs(5), false);
    let r = finish(&cmds).expect("done");
    assert_eq!((&r.end, r.moved, r.evicted), (&DrainEnd::Done, 2, 2));
    assert!(step(&mut d, &v, secs(6), false).is_empty(), "a finished drain does nothing");
}

#[test]
fn every_way_a_drain_ends_short_of_done() {
    // A pod the PDB never lets go: at the drain timeout, stuck with the server's message.
    let v = View::web(2, "n1").with_pdb(0);
    let mut d = drain(&["n1"], &[], &policy(10));
    assert!(evicted_keys(&step(&mut d, &v, secs(1), false)).is_empty());
    let cmds = step(&mut d, &v, secs(601), false);
    let (stuck, timed_out, _) = stuck_end(&cmds);
    assert!(timed_out);
    assert_eq!(stuck.len(), 2);
    assert!(
        stuck.iter().all(|s| s.node == "n1" && s.pdb.as_ref().is_some_and(|p| p.to_string() == "shop/web")),
        "{stuck:?}"
    );

    // A refusal that is a configuration problem blocks the pod; the others move; the drain ends stuck
    // without waiting for the timeout.
    let mut v = View::web(2, "n1").with_pdb(2);
    let mut d = drain(&["n1"], &[], &policy(10));
    let sent = evicted_keys(&step(&mut d, &v, secs(1), false));
    d.answered(
        &sent[0],
        Ok(EvictOutcome::Refused { code: 500, message: "more than one PodDisruptionBudget".into() }),
        secs(2),
    );
    d.answered(&sent[1], Ok(EvictOutcome::Evicted), secs(2));
    v.remove(&sent[1].name);
    let cmds = step(&mut d, &v, secs(3), false);
    let (stuck, timed_out, moved) = stuck_end(&cmds);
    assert!(!timed_out);
    assert_eq!((stuck.len(), moved), (1, 1), "{stuck:?}");
    assert!(stuck[0].reason.contains("refused the eviction (500)"), "{stuck:?}");

    // A replacement the scheduler cannot place for UNSCHEDULABLE_GRACE stops the batch early.
    let mut v = View::web(1, "n1");
    let mut d = drain(&["n1"], &[], &policy(10));
    let sent = evicted_keys(&step(&mut d, &v, secs(1), false));
    d.answered(&sent[0], Ok(EvictOutcome::Evicted), secs(1));
    v.remove("web-0");
    v.ready(0);
    v.unschedulable.insert(web(), vec![(PodKey::new("shop", "web-x"), "0/3 nodes are available".into())]);
    assert!(finish(&step(&mut d, &v, secs(2), false)).is_none(), "not at once");
    let cmds = step(&mut d, &v, secs(2) + UNSCHEDULABLE_GRACE, false);
    let (stuck, timed_out, _) = stuck_end(&cmds);
    assert!(!timed_out);
    assert!(stuck[0].reason.contains("0/3 nodes are available") && stuck[0].node.is_empty(), "{stuck:?}");

    // Replacements never Ready: at the timeout the workload is named.
    let mut v = View::web(1, "n1");
    let mut d = drain(&["n1"], &[], &policy(10));
    let sent = evicted_keys(&step(&mut d, &v, secs(1), false));
    d.answered(&sent[0], Ok(EvictOutcome::Evicted), secs(1));
    v.remove("web-0");
    v.ready(0);
    let cmds = step(&mut d, &v, secs(601), false);
    let (stuck, timed_out, moved) = stuck_end(&cmds);
    assert!(timed_out);
    assert_eq!((&stuck[0].pod, moved), (&Subject::Workload(web()), 1), "{stuck:?}");
}

#[test]
fn a_stop_request_sends_nothing_new_and_ends_once_the_answers_are_in() {
    let v = View::web(8, "n1").with_pdb(8);
    let mut d = drain(&["n1"], &[], &policy(2));
    let sent = evicted_keys(&step(&mut d, &v, secs(1), false));
    assert_eq!(sent.len(), 2);
    // The tick: the executor renews the lease and reads requests before anything else is sent.
    let cmds = d.step(&v, TICK + secs(1));
    assert_eq!(cmds.last(), Some(&Command::Housekeep), "{cmds:?}");
    d.housekept(true);
    d.answered(&sent[0], Ok(EvictOutcome::Evicted), TICK + secs(1));
    let cmds = d.step(&v, TICK + secs(2));
    assert!(evicted_keys(&cmds).is_empty() && finish(&cmds).is_none(), "one answer outstanding: {cmds:?}");
    d.answered(&sent[1], Ok(EvictOutcome::Evicted), TICK + secs(2));
    let cmds = d.step(&v, TICK + secs(3));
    assert_eq!(finish(&cmds).map(|r| &r.end), Some(&DrainEnd::Interrupted), "{cmds:?}");
}

#[test]
fn replacements_landing_back_on_cordoned_nodes_are_recorded_held_back_and_reported_as_blockers() {
    let mut v = View::web(4, "n1").with_pdb(4);
    let mut d = drain(&["n1"], &["n2"], &policy(1));
    let sent = evicted_keys(&step(&mut d, &v, secs(1), false));
    d.answered(&sent[0], Ok(EvictOutcome::Evicted), secs(1));
    v.remove(&sent[0].name);
    // Its replacement lands on n2, another cordoned node of blue.
    let mut back = pod("shop", "web-new", "n2", Some(("Deployment", "web")), "web");
    back.tolerates_all = true;
    v.pods.push(Arc::new(back));
    let cmds = step(&mut d, &v, TICK + secs(1), false);
    let Some(Command::KeepLedger(l)) = cmds.iter().find(|c| matches!(c, Command::KeepLedger(_))) else {
        panic!("the landed-back UID is kept: {cmds:?}")
    };
    assert!(l.landed_back.contains("uid-web-new"), "{l:?}");
    assert!(
        cmds.iter().any(
            |c| matches!(c, Command::Report(Event::Note { message }) if message.contains("tolerates every taint"))
        ),
        "{cmds:?}"
    );
    assert!(evicted_keys(&cmds).is_empty(), "the workload's other pods are held back: {cmds:?}");
    // Nothing else can move: the drain ends at once, not at the timeout.
    let (stuck, timed_out, moved) = stuck_end(&cmds);
    assert!(!timed_out);
    assert!(stuck.iter().all(|s| s.landed_back), "{stuck:?}");
    assert_eq!(stuck.len(), 4, "three held back, one landed back: {stuck:?}");
    assert_eq!(moved, 0, "the moved pod came back onto blue: not counted");
}
