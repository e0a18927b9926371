//! Checks a parsed scenario beyond its types: references, duplicates, ranges. The first problem found is
//! returned with its field path, which the caller turns into a positioned error.

use std::collections::BTreeMap;

use super::locate::FieldPath;
use super::schema::{PdbSpec, Scenario, TolerationOperator, Workload, WorkloadKind, WorkloadPdb};
use crate::cloud::is_dns_label;

pub type Problem = (FieldPath, String);

fn at(path: FieldPath, msg: impl Into<String>) -> Result<(), Problem> {
    Err((path, msg.into()))
}

fn root() -> FieldPath {
    FieldPath::default()
}

pub fn check(s: &Scenario) -> Result<(), Problem> {
    if s.name.is_empty() {
        return at(root().key("name"), "must not be empty");
    }
    if !valid_version(&s.cluster.version) {
        return at(
            root().key("cluster").key("version"),
            format!("invalid version \"{}\": expected MAJOR.MINOR.PATCH, e.g. 1.31.4", s.cluster.version),
        );
    }
    let mut pools: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in s.pools.iter().enumerate() {
        let path = root().key("pools").index(i);
        if let Err((field, msg)) = p.validate() {
            return at(path.join(&field), msg);
        }
        if let Some(first) = pools.insert(p.name.as_str(), i) {
            return at(path.key("name"), format!("duplicate pool name \"{}\" (also pools[{first}])", p.name));
        }
    }
    let mut names: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut pdb_names: BTreeMap<(&str, &str), String> = BTreeMap::new();
    for (i, w) in s.workloads.iter().enumerate() {
        let path = root().key("workloads").index(i);
        workload(w, &path, &pools)?;
        if let Some(first) = names.insert((w.namespace.as_str(), w.name.as_str()), i) {
            return at(
                path.key("name"),
                format!("duplicate workload {}/{} (also workloads[{first}])", w.namespace, w.name),
            );
        }
        if w.pdb.is_some() {
            pdb_names.insert((w.namespace.as_str(), w.name.as_str()), format!("the PDB of workloads[{i}]"));
        }
    }
    for (i, p) in s.pdbs.iter().enumerate() {
        let path = root().key("pdbs").index(i);
        pdb(p, &path)?;
        if let Some(first) = pdb_names.insert((p.namespace.as_str(), p.name.as_str()), format!("pdbs[{i}]")) {
            return at(
                path.key("name"),
                format!("duplicate PodDisruptionBudget {}/{} (also {first})", p.namespace, p.name),
            );
        }
    }
    if let Err((field, msg)) = s.faults.validate() {
        return at(root().key("faults").join(&field), msg);
    }
    if let Some(g) = &s.generate {
        let path = root().key("generate");
        if g.pools == 0 || g.nodes_per_pool == 0 {
            return at(path.key(if g.pools == 0 { "pools" } else { "nodes_per_pool" }), "must be at least 1");
        }
        if g.namespaces == 0 {
            return at(path.key("namespaces"), "must be at least 1");
        }
        if !valid_version(&g.version) {
            return at(path.key("version"), format!("invalid version \"{}\": expected MAJOR.MINOR.PATCH", g.version));
        }
        if !is_dns_label(&g.pool_prefix) || g.pool_prefix.len() > 30 {
            return at(path.key("pool_prefix"), "must be a lowercase DNS label of at most 30 characters");
        }
        for i in 0..g.pools {
            let name = format!("{}-{i}", g.pool_prefix);
            if pools.contains_key(name.as_str()) {
                return at(path.key("pool_prefix"), format!("generated pool \"{name}\" clashes with a pool in pools"));
            }
        }
        let nodes = u64::from(g.pools) * u64::from(g.nodes_per_pool);
        let pods = u64::from(g.deployments) * u64::from(g.pods_per_deployment);
        let slots = nodes * u64::from(g.allocatable.pods);
        let cpu = g.requests.cpu.as_ref().map_or(0, |q| q.millis());
        let cpu_fit = g.allocatable.cpu.millis().checked_div(cpu).map_or(u64::MAX, |per_node| nodes * per_node);
        if pods > slots.min(cpu_fit) {
            return at(
                path.key("deployments"),
                format!("{pods} pods do not fit on {nodes} nodes ({} pod slots)", slots.min(cpu_fit)),
            );
        }
    }
    Ok(())
}

pub fn valid_version(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn workload(w: &Workload, path: &FieldPath, pools: &BTreeMap<&str, usize>) -> Result<(), Problem> {
    if !is_dns_label(&w.name) || w.name.len() > 50 {
        return at(
            path.clone().key("name"),
            format!("invalid name \"{}\": must be a lowercase DNS label of at most 50 characters", w.name),
        );
    }
    if !is_dns_label(&w.namespace) {
        return at(path.clone().key("namespace"), format!("invalid namespace \"{}\"", w.namespace));
    }
    match (w.kind, w.replicas) {
        (WorkloadKind::DaemonSet, Some(_)) => {
            return at(path.clone().key("replicas"), "a DaemonSet runs one pod per matching node: remove replicas");
        }
        (_, Some(r)) if r < 0 => return at(path.clone().key("replicas"), format!("{r} must not be negative")),
        _ => {}
    }
    if let Some(pool) = &w.pool
        && !pools.contains_key(pool.as_str())
    {
        return at(path.clone().key("pool"), format!("pool \"{pool}\" is not defined in pools"));
    }
    if let Some(p) = &w.pdb {
        budget(p, &path.clone().key("pdb"), true)?;
    }
    if let Some(ts) = &w.topology_spread {
        for (key, skew) in [("zone", ts.zone), ("hostname", ts.hostname)] {
            if let Some(s) = skew
                && s < 1
            {
                return at(path.clone().key("topology_spread").key(key), "maxSkew must be at least 1");
            }
        }
    }
    for (i, t) in w.tolerations.iter().enumerate() {
        let tp = path.clone().key("tolerations").index(i);
        match t.operator.unwrap_or(TolerationOperator::Equal) {
            TolerationOperator::Exists if t.value.is_some() => {
                return at(tp.key("value"), "must be empty when operator is Exists");
            }
            TolerationOperator::Equal if t.key.as_deref().is_none_or(str::is_empty) => {
                return at(tp.key("key"), "required when operator is Equal");
            }
            _ => {}
        }
    }
    if w.kind == WorkloadKind::DaemonSet && !w.nodes.is_empty() {
        return at(path.clone().key("nodes"), "a DaemonSet places its own pods: remove nodes");
    }
    if w.labels.contains_key("app") {
        return at(path.clone().key("labels").key("app"), "the app label is set to the workload name");
    }
    Ok(())
}

fn budget(p: &WorkloadPdb, path: &FieldPath, required: bool) -> Result<(), Problem> {
    match (&p.min_available, &p.max_unavailable) {
        (Some(_), Some(_)) => at(path.clone(), "min_available and max_unavailable cannot be both set"),
        (None, None) if required => at(path.clone(), "set min_available or max_unavailable"),
        _ => Ok(()),
    }
}

fn pdb(p: &PdbSpec, path: &FieldPath) -> Result<(), Problem> {
    if !is_dns_label(&p.name) {
        return at(path.clone().key("name"), format!("invalid name \"{}\"", p.name));
    }
    if !is_dns_label(&p.namespace) {
        return at(path.clone().key("namespace"), format!("invalid namespace \"{}\"", p.namespace));
    }
    let as_workload = WorkloadPdb {
        min_available: p.min_available.clone(),
        max_unavailable: p.max_unavailable.clone(),
        unhealthy_pod_eviction_policy: p.unhealthy_pod_eviction_policy,
    };
    budget(&as_workload, path, false)
}
