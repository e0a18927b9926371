//! What every format shows, derived once from the plan: the headline counts, green's settings against
//! blue's, pods grouped by owner with their dispositions, and value formatting.

use std::collections::BTreeMap;

use poolshift_provider_api::{CapacityType, PoolSize, Taint};

use crate::model::plan::{Batch, Disposition, Finding, PlannedPod, Severity, SkipReason, UpgradePlan};
use crate::model::snapshot::Resources;

/// Pod names listed per owner and disposition before "+N more" (`-o json` lists every pod).
pub const NAMES_SHOWN: usize = 6;

pub struct Headline {
    pub blockers: usize,
    pub risks: usize,
    pub to_move: usize,
    pub blocked_pods: usize,
    pub exit_code: u8,
}

pub fn headline(plan: &UpgradePlan) -> Headline {
    let count = |s: Severity| plan.findings.iter().filter(|f| f.severity == s).count();
    let blocked_pods = plan.blocked().count();
    Headline {
        blockers: count(Severity::Blocker),
        risks: count(Severity::Risk),
        to_move: plan.to_evict(),
        blocked_pods,
        exit_code: if blocked_pods > 0 { crate::exit::Exit::PlanBlockers.code() } else { 0 },
    }
}

pub fn findings(plan: &UpgradePlan, severity: Severity) -> impl Iterator<Item = &Finding> {
    plan.findings.iter().filter(move |f| f.severity == severity)
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `"3 nodes, 25%"`-style batch rule.
pub fn batch_rule(plan: &UpgradePlan) -> String {
    match plan.policy.batch {
        crate::model::policy::BatchSize::Nodes(n) => plural(n as usize, "node", "nodes"),
        crate::model::policy::BatchSize::Percent(p) => format!("{p}% of blue"),
    }
}

/// One row of the green/blue comparison.
pub struct DiffRow {
    pub setting: &'static str,
    pub blue: String,
    pub green: String,
}

impl DiffRow {
    pub fn changed(&self) -> bool {
        self.blue != self.green
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() { "-".into() } else { v.join(", ") }
}

fn map(m: &BTreeMap<String, String>) -> String {
    if m.is_empty() { "-".into() } else { m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ") }
}

fn taints(t: &[Taint]) -> String {
    if t.is_empty() {
        return "-".into();
    }
    t.iter()
        .map(|t| match &t.value {
            Some(v) => format!("{}={v}:{}", t.key, t.effect),
            None => format!("{}:{}", t.key, t.effect),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn size(s: &PoolSize) -> String {
    format!("{} (min {}, max {})", s.desired, s.min, s.max)
}

fn capacity_type(c: CapacityType) -> String {
    match c {
        CapacityType::OnDemand => "on-demand",
        CapacityType::Spot => "spot",
        CapacityType::Preemptible => "preemptible",
    }
    .into()
}

/// Green's settings next to blue's.
pub fn green_diff(plan: &UpgradePlan) -> Vec<DiffRow> {
    let (b, g) = (&plan.blue, &plan.green);
    let extra = |m: &BTreeMap<String, String>| map(m);
    vec![
        DiffRow { setting: "name", blue: b.name.clone(), green: g.name.clone() },
        DiffRow { setting: "version", blue: b.version.clone(), green: g.version.clone() },
        DiffRow { setting: "instance types", blue: list(&b.instance_types), green: list(&g.instance_types) },
        DiffRow { setting: "zones", blue: list(&b.zones), green: list(&g.zones) },
        DiffRow {
            setting: "capacity type",
            blue: capacity_type(b.capacity_type),
            green: capacity_type(g.capacity_type),
        },
        DiffRow { setting: "labels", blue: map(&b.labels), green: map(&g.labels) },
        DiffRow { setting: "taints", blue: taints(&b.taints), green: taints(&g.taints) },
        DiffRow { setting: "size", blue: size(&b.size), green: size(&g.size) },
        DiffRow {
            setting: "disk",
            blue: b.disk_gb.map_or("-".into(), |d| format!("{d} GB")),
            green: g.disk_gb.map_or("-".into(), |d| format!("{d} GB")),
        },
        DiffRow { setting: "provider settings", blue: extra(&b.extra), green: extra(&g.extra) },
    ]
}

/// The short word for a disposition, and its detail (the reason).
pub fn disposition(d: &Disposition) -> (&'static str, String) {
    match d {
        Disposition::Evict => ("evict", String::new()),
        Disposition::Skip(SkipReason::DaemonSet) => ("skip", "DaemonSet pod, stays with its node".into()),
        Disposition::Skip(SkipReason::Mirror) => ("skip", "static (mirror) pod".into()),
        Disposition::Skip(SkipReason::Finished) => ("skip", "finished".into()),
        Disposition::Blocked(r) => ("BLOCKED", r.to_string()),
        Disposition::WaitForCompletion => ("wait", "Job pod: waited for until it finishes".into()),
    }
}

/// Pods of one owner in one batch that share a disposition.
pub struct PodGroup<'a> {
    /// `Deployment shop/web`, `bare pod shop/x`.
    pub owner: String,
    pub action: &'static str,
    pub detail: String,
    pub pods: Vec<&'a PlannedPod>,
}

impl PodGroup<'_> {
    /// Pod names, at most `NAMES_SHOWN` of them and a count of the rest.
    pub fn names(&self, all: bool) -> String {
        let shown = if all { self.pods.len() } else { NAMES_SHOWN };
        let mut s = self.pods.iter().take(shown).map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
        if self.pods.len() > shown {
            s.push_str(&format!(" +{} more", self.pods.len() - shown));
        }
        s
    }
}

fn owner(p: &PlannedPod) -> String {
    match &p.workload {
        Some(w) => format!("{} {}/{}", w.kind, p.namespace, w.name),
        None => format!("bare pod {}/{}", p.namespace, p.name),
    }
}

/// A batch's pods grouped by owner and disposition: blocked first, then waits, evictions, skips.
pub fn groups(batch: &Batch) -> Vec<PodGroup<'_>> {
    let rank = |a: &str| match a {
        "BLOCKED" => 0,
        "wait" => 1,
        "evict" => 2,
        _ => 3,
    };
    let mut by: BTreeMap<(u8, String, String), PodGroup<'_>> = BTreeMap::new();
    for p in &batch.pods {
        let (action, detail) = disposition(&p.disposition);
        let o = owner(p);
        by.entry((rank(action), o.clone(), detail.clone()))
            .or_insert_with(|| PodGroup { owner: o, action, detail, pods: Vec::new() })
            .pods
            .push(p);
    }
    by.into_values().collect()
}

pub fn count(batch: &Batch, action: &str) -> usize {
    batch.pods.iter().filter(|p| disposition(&p.disposition).0 == action).count()
}

pub fn cpu(m: u64) -> String {
    if m.is_multiple_of(1000) { format!("{}", m / 1000) } else { format!("{m}m") }
}

/// Memory as `512Mi` below a gibibyte, else `16.0Gi`.
pub fn gib(bytes: u64) -> String {
    if bytes < 1 << 30 {
        format!("{}Mi", bytes.div_ceil(1 << 20))
    } else {
        format!("{:.1}Gi", bytes as f64 / (1u64 << 30) as f64)
    }
}

/// `4 CPU, 16.0Gi, 110 pods`.
pub fn resources(r: &Resources) -> String {
    format!("{} CPU, {}, {}", cpu(r.cpu_millis), gib(r.memory_bytes), plural(r.pods as usize, "pod", "pods"))
}

/// Versions with runs of consecutive patches folded: `1.29.0-1.29.12, 1.30.0-1.30.4, 1.31.2`.
pub fn versions(vs: &[crate::model::version::Version]) -> String {
    let mut runs: Vec<(crate::model::version::Version, crate::model::version::Version)> = Vec::new();
    for v in vs {
        match runs.last_mut() {
            Some((_, last)) if last.same_minor(v) && last.patch + 1 == v.patch => *last = *v,
            _ => runs.push((*v, *v)),
        }
    }
    if runs.is_empty() {
        return "(not reported)".into();
    }
    runs.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect::<Vec<_>>().join(", ")
}

/// Seconds as `4m05s`, `1h02m`, `42s`.
pub fn seconds(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub fn zone_name(z: &str) -> &str {
    if z.is_empty() { "(no zone)" } else { z }
}

/// The rehearsal's phases and batches in time order: (what, start, end).
pub fn timeline_steps(r: &crate::model::review::Rehearsal) -> Vec<(String, f64, f64)> {
    let mut steps: Vec<(String, f64, f64)> = r.phases.iter().map(|s| (s.what.clone(), s.start, s.end)).collect();
    for b in &r.batches {
        steps.push((
            format!("batch {} ({}, {})", b.batch, plural(b.nodes, "node", "nodes"), plural(b.pods, "pod", "pods")),
            b.start,
            b.end,
        ));
    }
    steps.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)));
    steps
}

/// Refused dry-run evictions sharing an answer, a budget and a message.
pub struct RefusedGroup<'a> {
    pub answer: &'a str,
    pub pdb: Option<&'a str>,
    pub message: &'a str,
    pub pods: Vec<&'a str>,
}

pub fn refused_groups(p: &crate::model::review::Preflight) -> Vec<RefusedGroup<'_>> {
    let mut by: BTreeMap<(&str, Option<&str>, &str), Vec<&str>> = BTreeMap::new();
    for a in &p.refused {
        by.entry((a.answer.as_str(), a.pdb.as_deref(), a.message.as_str())).or_default().push(a.pod.as_str());
    }
    by.into_iter().map(|((answer, pdb, message), pods)| RefusedGroup { answer, pdb, message, pods }).collect()
}

/// At most `shown` names, then "+N more".
pub fn some(names: &[&str], shown: usize) -> String {
    let mut s = names.iter().take(shown).copied().collect::<Vec<_>>().join(", ");
    if names.len() > shown {
        s.push_str(&format!(" +{} more", names.len() - shown));
    }
    s
}

/// `1.30.8 on 10 nodes, 1.30.7 on 1 node`.
pub fn kubelets(v: &BTreeMap<String, usize>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.iter().map(|(k, n)| format!("{k} on {}", plural(*n, "node", "nodes"))).collect::<Vec<_>>().join(", ")
}
