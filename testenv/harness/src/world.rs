//! One scenario, two worlds: loads a kubesim scenario file into the real control plane.
//!
//! Pools become kwok nodes through the kwok provider (its pool record and nodes, so poolshift can describe
//! them), with the pool's labels, taints, zones, allocatable and kubelet version. Namespaces, workloads and
//! PDBs are the same objects kubesim creates (`kubesim::scenario::build`), plus the kwok annotations that
//! carry the pod delays ([`crate::stages`]). The termination delay is capped by the grace period, as a
//! kubelet kills a container that outlives it.
//!
//! What the real world cannot express is an error naming it: faults, generated clusters, placement of pods on
//! named nodes, and (unless [`LoadOptions::rebase_versions`]) a control plane version other than the real
//! one's. What it reproduces only approximately is listed in [`World::notes`], never dropped silently.
//!
//! With a scope prefix, every namespace, pool (and so node) gets the prefix, and every pod a node selector
//! on the world's label, so several tests share one control plane without touching each other's pods.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, PodTemplateSpec};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{ListParams, PostParams};
use kube::{Api, Resource};
use kubesim::scenario::build::{self, WorkloadObjects};
use kubesim::scenario::{Dur, Scenario, Workload};
use poolshift_provider_api::{AutoscalingSettings, CapacityType, CreateToken, PoolSize, PoolSpec, Provider};
use poolshift_provider_kwok::{EXTRA_CPU, EXTRA_MEMORY, EXTRA_PODS, KwokProvider, KwokSettings};
use serde::de::DeserializeOwned;

use crate::TestenvError;
use crate::stages::{POD_DELETE_DELAY, POD_READY_DELAY, POD_START_DELAY};

/// The label every node of a loaded world carries, and every pod of it selects.
pub const WORLD_LABEL: &str = "testenv.poolshift.io/world";
/// Kubernetes' default terminationGracePeriodSeconds.
const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// How long a loaded world may take to settle (pods Running and Ready).
const SETTLE_LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Prefix of namespaces, pools and nodes (a test's [`crate::Scope`] prefix).
    pub prefix: Option<String>,
    /// Shift every version by the minor distance between the scenario's control plane and the real one
    /// (`1.31.4` -> `1.36.3` makes a `1.30.8` pool `1.35.8`), instead of refusing the difference.
    pub rebase_versions: bool,
}

/// A loaded scenario: the names it got in the real cluster.
#[derive(Debug, Clone)]
pub struct World {
    /// The scenario as loaded: names prefixed, versions rebased.
    pub scenario: Scenario,
    pub label_value: String,
    pub namespaces: Vec<String>,
    pub pools: Vec<String>,
    /// Approximations: what the real world does its own way.
    pub notes: Vec<String>,
    /// How long loading and settling took.
    pub settled_in: Duration,
}

fn err(s: &Scenario, message: impl Into<String>) -> TestenvError {
    TestenvError::Scenario {
        scenario: if s.origin.is_empty() { s.name.clone() } else { s.origin.clone() },
        message: message.into(),
    }
}

fn kube_err(operation: impl Into<String>) -> impl FnOnce(kube::Error) -> TestenvError {
    let operation = operation.into();
    move |source| TestenvError::Kube { operation, source }
}

fn parse_version(v: &str) -> Option<(u32, u32, String)> {
    let v = v.trim_start_matches('v');
    let mut it = v.splitn(3, '.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor, it.next().unwrap_or("0").to_string()))
}

/// The scenario as the real world will hold it, or the first thing it cannot express.
pub fn translate(
    s: &Scenario,
    server_version: &str,
    opts: &LoadOptions,
) -> Result<(Scenario, Vec<String>), TestenvError> {
    if s.faults != Default::default() {
        return Err(err(s, "faults: the real control plane has no fault injection (use kubesim for fault scenarios)"));
    }
    if s.generate.is_some() {
        return Err(err(
            s,
            "generate: generated clusters are placed directly in kubesim's store; the real loader cannot express them",
        ));
    }
    for (i, w) in s.workloads.iter().enumerate() {
        if !w.nodes.is_empty() {
            return Err(err(
                s,
                format!(
                    "workloads[{i}].nodes: placing pods on named nodes is not expressible through the real scheduler"
                ),
            ));
        }
    }
    let mut out = s.clone();
    let mut notes = vec![
        format!("timings.pdb_sync ({}): the real disruption controller syncs budgets on its own", s.timings.pdb_sync),
        format!(
            "timings.pool_provision ({}) and pool_delete ({}): kwok nodes appear and go at once; node_ready ({}) is the kwok node-initialize delay",
            s.timings.pool_provision, s.timings.pool_delete, s.timings.node_ready
        ),
    ];
    let (smaj, smin, _) = parse_version(&s.cluster.version)
        .ok_or_else(|| err(s, format!("cluster.version {:?} is not X.Y.Z", s.cluster.version)))?;
    let (rmaj, rmin, rpatch) = parse_version(server_version)
        .ok_or_else(|| err(s, format!("the API server reports version {server_version:?}")))?;
    if (smaj, smin) != (rmaj, rmin) || !server_version.trim_start_matches('v').starts_with(&s.cluster.version) {
        if !opts.rebase_versions {
            return Err(err(
                s,
                format!(
                    "cluster.version {} is not the real control plane's {server_version}: load with rebase_versions to shift every version by the difference",
                    s.cluster.version
                ),
            ));
        }
        let shift = i64::from(rmin) - i64::from(smin);
        out.cluster.version = format!("{rmaj}.{rmin}.{rpatch}");
        for (i, p) in out.pools.iter_mut().enumerate() {
            let (maj, min, patch) = parse_version(&p.version)
                .ok_or_else(|| err(s, format!("pools[{i}].version {:?} is not X.Y.Z", p.version)))?;
            let shifted = i64::from(min) + shift;
            if maj != smaj || shifted < 0 {
                return Err(err(s, format!("pools[{i}].version {} cannot be shifted by {shift} minors", p.version)));
            }
            p.version = format!("{maj}.{shifted}.{patch}");
        }
        notes.push(format!(
            "versions shifted by {shift} minor(s): control plane {} -> {}",
            s.cluster.version, out.cluster.version
        ));
    }
    if let Some(prefix) = &opts.prefix {
        let pre = |n: &str| format!("{prefix}-{n}");
        for p in &mut out.pools {
            p.name = pre(&p.name);
        }
        for w in &mut out.workloads {
            w.namespace = pre(&w.namespace);
            if let Some(pool) = &mut w.pool {
                *pool = pre(pool);
            }
        }
        for p in &mut out.pdbs {
            p.namespace = pre(&p.namespace);
        }
    }
    Ok((out, notes))
}

/// The pod template with the kwok delays and the world's node selector.
fn adapt(t: &mut PodTemplateSpec, w: &Workload, s: &Scenario, world: &str) {
    let timings = &s.timings;
    let meta = t.metadata.get_or_insert_with(Default::default);
    let ann = meta.annotations.get_or_insert_with(BTreeMap::new);
    let grace = w.termination_grace.map_or(DEFAULT_GRACE, |g| g.0);
    let termination = w.termination_delay.unwrap_or(timings.pod_termination).0.min(grace);
    ann.insert(POD_START_DELAY.into(), w.start_delay.unwrap_or(timings.pod_start).to_string());
    ann.insert(POD_READY_DELAY.into(), w.ready_delay.unwrap_or(timings.pod_ready).to_string());
    ann.insert(POD_DELETE_DELAY.into(), Dur(termination).to_string());
    if let Some(spec) = t.spec.as_mut() {
        spec.node_selector.get_or_insert_with(BTreeMap::new).insert(WORLD_LABEL.into(), world.into());
    }
}

fn as_template(p: &Pod) -> PodTemplateSpec {
    PodTemplateSpec { metadata: Some(p.metadata.clone()), spec: p.spec.clone() }
}

async fn create<K>(client: &kube::Client, ns: &str, obj: &K, what: &str) -> Result<(), TestenvError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    // A namespace's default ServiceAccount appears a moment after the namespace; pods are refused until then.
    let start = Instant::now();
    loop {
        match api.create(&PostParams::default(), obj).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => return Ok(()),
            Err(kube::Error::Api(e))
                if e.message.contains("serviceaccount") && start.elapsed() < Duration::from_secs(30) =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(kube_err(format!("create {what}"))(e)),
        }
    }
}

/// Loads `scenario` into the cluster and waits until its nodes are Ready and its pods Running and Ready.
pub async fn load(client: &kube::Client, scenario: &Scenario, opts: &LoadOptions) -> Result<World, TestenvError> {
    let began = Instant::now();
    let version = client.apiserver_version().await.map_err(kube_err("GET /version"))?;
    let (s, notes) = translate(scenario, &version.git_version, opts)?;
    let label_value = opts.prefix.clone().unwrap_or_else(|| s.name.clone());

    let provider = KwokProvider::new(client.clone(), KwokSettings::default());
    for (i, p) in s.pools.iter().enumerate() {
        let mut labels = p.labels.clone();
        labels.insert(WORLD_LABEL.into(), label_value.clone());
        let mut extra = BTreeMap::new();
        extra.insert(EXTRA_CPU.to_string(), p.allocatable.cpu.as_str().to_string());
        extra.insert(EXTRA_MEMORY.to_string(), p.allocatable.memory.as_str().to_string());
        extra.insert(EXTRA_PODS.to_string(), p.allocatable.pods.to_string());
        let spec = PoolSpec {
            name: p.name.clone(),
            source: String::new(),
            version: p.version.clone(),
            instance_types: vec![p.instance_type.clone()],
            zones: p.zones.clone(),
            capacity_type: match p.capacity_type {
                kubesim::cloud::CapacityType::OnDemand => CapacityType::OnDemand,
                kubesim::cloud::CapacityType::Spot => CapacityType::Spot,
            },
            labels,
            taints: p
                .taints
                .iter()
                .map(|t| poolshift_provider_api::Taint {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    effect: t.effect.as_str().to_string(),
                })
                .collect(),
            size: PoolSize { min: p.size, max: p.size, desired: p.size },
            disk_gb: None,
            extra,
        };
        provider
            .create_pool(&spec, &CreateToken::new("testenv", 1))
            .await
            .map_err(|e| err(&s, format!("pools[{i}] ({}): {e}", p.name)))?;
        let a = &p.autoscaling;
        let settings = AutoscalingSettings {
            enabled: a.enabled,
            size: PoolSize { min: a.min, max: a.max, desired: p.size },
            extra: BTreeMap::new(),
        };
        provider
            .restore_autoscaling(&p.name, &settings)
            .await
            .map_err(|e| err(&s, format!("pools[{i}] ({}) autoscaling: {e}", p.name)))?;
    }

    let mut namespaces: Vec<String> =
        s.workloads.iter().map(|w| w.namespace.clone()).chain(s.pdbs.iter().map(|p| p.namespace.clone())).collect();
    namespaces.sort();
    namespaces.dedup();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    for ns in &namespaces {
        let obj = build::namespace(ns).map_err(|e| err(&s, e))?;
        match ns_api.create(&PostParams::default(), &obj).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(kube_err(format!("create namespace {ns}"))(e)),
        }
    }
    for (i, w) in s.workloads.iter().enumerate() {
        let what = format!("workloads[{i}] ({:?} {}/{})", w.kind, w.namespace, w.name);
        let objects = build::workload(w, &s.timings).map_err(|e| err(&s, format!("{what}: {e}")))?;
        let fix = |t: &mut PodTemplateSpec| adapt(t, w, &s, &label_value);
        match objects {
            WorkloadObjects::Deployment(mut d) => {
                fix(&mut d.spec.template);
                create(client, &w.namespace, &*d, &what).await?;
            }
            WorkloadObjects::StatefulSet(mut d) => {
                fix(&mut d.spec.template);
                create(client, &w.namespace, &*d, &what).await?;
            }
            WorkloadObjects::DaemonSet(mut d) => {
                fix(&mut d.spec.template);
                create(client, &w.namespace, &*d, &what).await?;
            }
            WorkloadObjects::Pods(pods) => {
                for mut p in pods {
                    let mut t = as_template(&p);
                    fix(&mut t);
                    p.metadata = t.metadata.unwrap_or_default();
                    p.spec = t.spec;
                    create(client, &w.namespace, &p, &what).await?;
                }
            }
        }
        if let Some(pdb) = build::workload_pdb(w).map_err(|e| err(&s, format!("{what}: {e}")))? {
            create(client, &w.namespace, &pdb, &format!("{what} PDB")).await?;
        }
    }
    for (i, p) in s.pdbs.iter().enumerate() {
        let pdb = build::pdb(p).map_err(|e| err(&s, format!("pdbs[{i}]: {e}")))?;
        create(client, &p.namespace, &pdb, &format!("pdbs[{i}] ({}/{})", p.namespace, p.name)).await?;
    }
    let mut world =
        World { scenario: s, label_value, namespaces, pools: Vec::new(), notes, settled_in: Duration::ZERO };
    world.pools = world.scenario.pools.iter().map(|p| p.name.clone()).collect();
    world.wait_settled(client, SETTLE_LIMIT).await?;
    world.settled_in = began.elapsed();
    Ok(world)
}

async fn list<K>(client: &kube::Client, ns: &str) -> Result<Vec<K>, TestenvError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    Ok(api.list(&ListParams::default()).await.map_err(kube_err(format!("list in {ns}")))?.items)
}

impl World {
    /// What is not yet as the scenario wants it: nodes not Ready, workloads short of ready replicas, bare
    /// pods not Ready, PDBs whose status is not synced. Empty when settled.
    pub async fn unsettled(&self, client: &kube::Client) -> Result<Vec<String>, TestenvError> {
        let mut out = Vec::new();
        let nodes: Api<Node> = Api::all(client.clone());
        let lp = ListParams::default().labels(&format!("{WORLD_LABEL}={}", self.label_value));
        let nodes = nodes.list(&lp).await.map_err(kube_err("list nodes"))?.items;
        for n in &nodes {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if !ready && n.spec.as_ref().and_then(|s| s.unschedulable) != Some(true) {
                out.push(format!("node {} not Ready", n.metadata.name.clone().unwrap_or_default()));
            }
        }
        for ns in &self.namespaces {
            for d in list::<Deployment>(client, ns).await? {
                let want = d.spec.replicas.unwrap_or(1);
                let st = d.status.unwrap_or_default();
                if st.ready_replicas.unwrap_or(0) != want
                    || st.replicas.unwrap_or(0) != want
                    || st.updated_replicas.unwrap_or(0) != want
                {
                    out.push(format!(
                        "deployment {ns}/{} ready {}/{want}",
                        d.metadata.name.unwrap_or_default(),
                        st.ready_replicas.unwrap_or(0)
                    ));
                }
            }
            for d in list::<StatefulSet>(client, ns).await? {
                let want = d.spec.replicas.unwrap_or(1);
                let ready = d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
                if ready != want {
                    out.push(format!("statefulset {ns}/{} ready {ready}/{want}", d.metadata.name.unwrap_or_default()));
                }
            }
            for d in list::<DaemonSet>(client, ns).await? {
                let st = d.status.unwrap_or_default();
                if st.number_ready != st.desired_number_scheduled || st.desired_number_scheduled == 0 {
                    out.push(format!(
                        "daemonset {ns}/{} ready {}/{}",
                        d.metadata.name.unwrap_or_default(),
                        st.number_ready,
                        st.desired_number_scheduled
                    ));
                }
            }
            for p in list::<Pod>(client, ns).await? {
                if p.metadata.owner_references.as_ref().is_none_or(Vec::is_empty) && !crate::watch::healthy(&p) {
                    out.push(format!("pod {ns}/{} not Ready", p.metadata.name.unwrap_or_default()));
                }
            }
            for b in list::<PodDisruptionBudget>(client, ns).await? {
                let synced = b.status.as_ref().and_then(|s| s.observed_generation) == b.metadata.generation;
                if !synced {
                    out.push(format!("pdb {ns}/{} not synced", b.metadata.name.unwrap_or_default()));
                }
            }
        }
        Ok(out)
    }

    /// Waits until [`World::unsettled`] is empty.
    pub async fn wait_settled(&self, client: &kube::Client, limit: Duration) -> Result<(), TestenvError> {
        let start = Instant::now();
        loop {
            let left = self.unsettled(client).await?;
            if left.is_empty() {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(err(
                    &self.scenario,
                    format!("not settled after {} s: {}", limit.as_secs(), left.join("; ")),
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "name: t\ncluster: {{version: 1.31.4}}\npools:\n  - {{name: blue, version: 1.30.8, size: 2}}\nworkloads:\n  - {{kind: Deployment, name: web, namespace: shop, replicas: 2, pool: blue}}\n{extra}"
        );
        Scenario::parse(&text, "t.yaml").expect("scenario")
    }

    #[test]
    fn versions_are_refused_or_rebased_and_names_prefixed() {
        let s = scenario("");
        let e = translate(&s, "v1.36.3", &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("cluster.version 1.31.4 is not the real control plane's v1.36.3"), "{e}");
        let opts = LoadOptions { prefix: Some("t1".into()), rebase_versions: true };
        let (out, notes) = translate(&s, "v1.36.3", &opts).expect("rebased");
        assert_eq!(out.cluster.version, "1.36.3");
        assert_eq!(out.pools[0].version, "1.35.8");
        assert_eq!(out.pools[0].name, "t1-blue");
        assert_eq!(out.workloads[0].namespace, "t1-shop");
        assert_eq!(out.workloads[0].pool.as_deref(), Some("t1-blue"));
        assert!(notes.iter().any(|n| n.contains("shifted by 5 minor")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("pdb_sync")), "approximations are listed: {notes:?}");
    }

    #[test]
    fn what_the_real_world_cannot_express_is_an_error_naming_it() {
        let opts = LoadOptions { prefix: None, rebase_versions: true };
        let faults = scenario("faults: {nodes_never_ready: [blue]}\n");
        let e = translate(&faults, "v1.36.3", &opts).unwrap_err().to_string();
        assert!(e.starts_with("scenario t.yaml: faults:"), "{e}");
        let generated = scenario("generate: {nodes_per_pool: 2}\n");
        let e = translate(&generated, "v1.36.3", &opts).unwrap_err().to_string();
        assert!(e.contains("generate:"), "{e}");
        let mut placed = scenario("");
        placed.workloads[0].nodes = vec!["blue-a-0".into()];
        let e = translate(&placed, "v1.36.3", &opts).unwrap_err().to_string();
        assert!(e.contains("workloads[0].nodes"), "{e}");
    }
}
