//! Between the provider API's types and the pool record (kubesim's `PoolSpec`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kubesim::cloud::{Autoscaling, CapacityType as SimCapacity, PoolSpec as SimSpec};
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, PoolDescription, PoolSize, PoolSpec, PoolState, PoolStatus, Taint,
};
use serde_json::{Map, Value, json};

use crate::nodes::{expected_names, is_ready, name_of};
use crate::record::Record;

/// `extra` keys: what a pool's nodes offer, carried from blue to green by `PoolSpec::derive`.
pub const EXTRA_CPU: &str = "kwok.allocatable.cpu";
pub const EXTRA_MEMORY: &str = "kwok.allocatable.memory";
pub const EXTRA_PODS: &str = "kwok.allocatable.pods";
/// `extra` key: the node-ready delay (a Go duration) the nodes are annotated with; the provider's setting
/// when a spec does not say.
pub const EXTRA_READY_DELAY: &str = "kwok.node_ready_delay";

/// The record of green pool `spec` with autoscaling `autoscaling`: kubesim's `PoolSpec` built by kubesim's
/// own deserialiser (so its defaults apply to what the spec leaves out) and checked by kubesim's rules. The
/// error is the offending field and why.
pub(crate) fn record_spec(spec: &PoolSpec, autoscaling: Autoscaling) -> Result<SimSpec, String> {
    let capacity = match spec.capacity_type {
        CapacityType::OnDemand => SimCapacity::OnDemand,
        CapacityType::Spot => SimCapacity::Spot,
        CapacityType::Preemptible => {
            return Err("capacity_type: preemptible is not a kwok pool capacity type (on_demand, spot)".into());
        }
    };
    let mut allocatable = Map::new();
    for (key, field) in [(EXTRA_CPU, "cpu"), (EXTRA_MEMORY, "memory")] {
        if let Some(v) = spec.extra.get(key) {
            allocatable.insert(field.into(), json!(v));
        }
    }
    if let Some(v) = spec.extra.get(EXTRA_PODS) {
        let pods: u32 = v
            .trim()
            .parse()
            .map_err(|_| format!("extra.{EXTRA_PODS}: invalid pod count \"{v}\": expected a number"))?;
        allocatable.insert("pods".into(), json!(pods));
    }
    let taints: Vec<Value> = spec
        .taints
        .iter()
        .map(|t| {
            let mut v = json!({"key": t.key, "effect": t.effect});
            if let Some(value) = &t.value {
                v["value"] = json!(value);
            }
            v
        })
        .collect();
    let mut v = json!({
        "name": spec.name,
        "version": spec.version,
        "size": spec.size.desired,
        "allocatable": allocatable,
        "labels": spec.labels,
        "taints": taints,
        "capacity_type": capacity,
        "autoscaling": autoscaling,
    });
    if let Some(t) = spec.instance_types.first() {
        v["instance_type"] = json!(t);
    }
    if !spec.zones.is_empty() {
        v["zones"] = json!(spec.zones);
    }
    let sim: SimSpec = serde_json::from_value(v).map_err(|e| format!("invalid pool spec: {e}"))?;
    let sim = sim.normalized();
    sim.validate().map_err(|(field, message)| format!("{field}: {message}"))?;
    Ok(sim)
}

/// The node-ready delay a spec asks for (`extra`), else `default`.
pub(crate) fn ready_delay(spec: &PoolSpec, default: Duration) -> Result<Duration, String> {
    match spec.extra.get(EXTRA_READY_DELAY) {
        None => Ok(default),
        Some(v) if v.trim() == "0" => Ok(Duration::ZERO),
        Some(v) => kubesim::scenario::parse_units(v).ok_or_else(|| {
            format!("extra.{EXTRA_READY_DELAY}: invalid duration \"{v}\": expected a Go duration such as 10s")
        }),
    }
}

fn settings(a: &Autoscaling, size: u32) -> AutoscalingSettings {
    AutoscalingSettings {
        enabled: a.enabled,
        size: PoolSize { min: a.min, max: a.max, desired: size },
        extra: BTreeMap::new(),
    }
}

/// The settings `freeze_autoscaling` returns and `restore_autoscaling` puts back: the original ones.
pub(crate) fn original_autoscaling(r: &Record) -> AutoscalingSettings {
    settings(r.frozen.as_ref().unwrap_or(&r.spec.autoscaling), r.spec.size)
}

/// A pool as `describe_pool` reports it; `ready_delay` is the provider's node-ready delay.
pub(crate) fn describe(r: &Record, ready_delay: Duration) -> PoolDescription {
    let s = &r.spec;
    let autoscaling = settings(&s.autoscaling, s.size);
    let extra = BTreeMap::from([
        (EXTRA_CPU.to_string(), s.allocatable.cpu.as_str().to_string()),
        (EXTRA_MEMORY.to_string(), s.allocatable.memory.as_str().to_string()),
        (EXTRA_PODS.to_string(), s.allocatable.pods.to_string()),
        (EXTRA_READY_DELAY.to_string(), crate::nodes::go_duration(ready_delay)),
    ]);
    PoolDescription {
        name: s.name.clone(),
        version: s.version.clone(),
        instance_types: vec![s.instance_type.clone()],
        zones: s.zones.clone(),
        capacity_type: match s.capacity_type {
            SimCapacity::OnDemand => CapacityType::OnDemand,
            SimCapacity::Spot => CapacityType::Spot,
        },
        labels: s.labels.clone(),
        taints: s
            .taints
            .iter()
            .map(|t| Taint { key: t.key.clone(), value: t.value.clone(), effect: t.effect.as_str().to_string() })
            .collect(),
        size: autoscaling.size,
        autoscaling,
        disk_gb: None,
        extra,
    }
}

/// A pool's status from its record and the node objects carrying its label: Deleting once deletion started,
/// Ready when each of its `size` nodes exists and is Ready, Creating otherwise.
pub(crate) fn status(r: &Record, nodes: &[Node]) -> PoolStatus {
    let expected = expected_names(&r.spec);
    let ready = expected.iter().filter(|n| nodes.iter().any(|node| name_of(node) == n.as_str() && is_ready(node)));
    let ready = ready.count();
    let (state, message) = if r.deleting {
        (PoolState::Deleting, format!("deleting: {} node objects left", nodes.len()))
    } else if ready == expected.len() && expected.len() == r.spec.size as usize {
        (PoolState::Ready, format!("{ready}/{} nodes Ready", r.spec.size))
    } else {
        let present = expected.iter().filter(|n| nodes.iter().any(|node| name_of(node) == n.as_str())).count();
        (PoolState::Creating, format!("{present}/{} nodes exist, {ready} Ready", r.spec.size))
    };
    PoolStatus {
        name: r.spec.name.clone(),
        version: r.spec.version.clone(),
        state,
        nodes: nodes.len() as u32,
        message: Some(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn api_spec() -> PoolSpec {
        PoolSpec {
            name: "blue-v1-31-4".into(),
            source: "blue".into(),
            version: "1.31.4".into(),
            instance_types: vec!["m5.xlarge".into(), "m5a.xlarge".into()],
            zones: vec!["zone-a".into(), "zone-b".into()],
            capacity_type: CapacityType::Spot,
            labels: BTreeMap::from([("team".to_string(), "a".to_string())]),
            taints: vec![Taint { key: "gpu".into(), value: None, effect: "NoExecute".into() }],
            size: PoolSize { min: 1, max: 5, desired: 3 },
            disk_gb: None,
            extra: BTreeMap::from([
                (EXTRA_CPU.to_string(), "2".to_string()),
                (EXTRA_PODS.to_string(), "30".to_string()),
                (EXTRA_READY_DELAY.to_string(), "1m30s".to_string()),
            ]),
        }
    }

    #[test]
    fn a_green_spec_becomes_a_kubesim_record_with_its_defaults() {
        let off = Autoscaling { enabled: false, min: 3, max: 3 };
        let s = record_spec(&api_spec(), off).unwrap();
        assert_eq!(s.name, "blue-v1-31-4");
        assert_eq!(s.size, 3);
        assert_eq!(s.instance_type, "m5.xlarge");
        assert_eq!(s.capacity_type, SimCapacity::Spot);
        assert_eq!(s.allocatable.cpu.as_str(), "2");
        assert_eq!(s.allocatable.memory.as_str(), "16Gi", "kubesim's default");
        assert_eq!(s.allocatable.pods, 30);
        assert_eq!(s.taints[0].effect.as_str(), "NoExecute");
        assert_eq!(s.autoscaling, off);
        assert_eq!(ready_delay(&api_spec(), Duration::ZERO), Ok(Duration::from_secs(90)));

        // Nothing but a name and a version: kubesim's instance type and zones.
        let mut bare = api_spec();
        bare.instance_types.clear();
        bare.zones.clear();
        bare.extra.clear();
        let s = record_spec(&bare, off).unwrap();
        assert_eq!(s.instance_type, "sim.xlarge");
        assert_eq!(s.zones, ["zone-a", "zone-b", "zone-c"]);
        assert_eq!(ready_delay(&bare, Duration::from_secs(7)), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn bad_green_specs_name_the_field() {
        let off = Autoscaling::default();
        let mut s = api_spec();
        s.capacity_type = CapacityType::Preemptible;
        assert!(record_spec(&s, off).unwrap_err().starts_with("capacity_type: preemptible"));
        let mut s = api_spec();
        s.taints[0].effect = "Sometimes".into();
        assert!(record_spec(&s, off).unwrap_err().contains("Sometimes"));
        let mut s = api_spec();
        s.extra.insert(EXTRA_PODS.into(), "many".into());
        assert_eq!(
            record_spec(&s, off).unwrap_err(),
            "extra.kwok.allocatable.pods: invalid pod count \"many\": expected a number"
        );
        let mut s = api_spec();
        s.extra.insert(EXTRA_MEMORY.into(), "lots".into());
        assert!(record_spec(&s, off).unwrap_err().contains("invalid quantity \"lots\""));
        let mut s = api_spec();
        s.version = "latest".into();
        assert!(record_spec(&s, off).unwrap_err().starts_with("version: invalid version \"latest\""));
        let mut s = api_spec();
        s.labels.insert("kubesim.io/pool".into(), "x".into());
        assert!(record_spec(&s, off).unwrap_err().starts_with("labels.kubesim.io/pool"));
        let s = api_spec();
        let e = record_spec(&s, Autoscaling { enabled: true, min: 5, max: 9 }).unwrap_err();
        assert_eq!(e, "autoscaling: size 3 is outside the autoscaling range 5..=9");
        let mut s = api_spec();
        s.extra.insert(EXTRA_READY_DELAY.into(), "soon".into());
        assert!(ready_delay(&s, Duration::ZERO).is_err());
    }

    #[test]
    fn describe_then_derive_carries_the_pool_to_green() {
        let blue = record_spec(&api_spec(), Autoscaling { enabled: true, min: 1, max: 5 }).unwrap();
        let r = Record::new("kwok-pools", blue.clone());
        let d = describe(&r, Duration::from_secs(10));
        assert_eq!(d.version, "1.31.4");
        assert_eq!(d.instance_types, ["m5.xlarge"]);
        assert_eq!(d.capacity_type, CapacityType::Spot);
        assert_eq!(d.size, PoolSize { min: 1, max: 5, desired: 3 });
        assert!(d.autoscaling.enabled);
        assert_eq!(d.extra[EXTRA_CPU], "2");
        assert_eq!(d.extra[EXTRA_MEMORY], "16Gi");
        assert_eq!(d.extra[EXTRA_PODS], "30");
        assert_eq!(d.extra[EXTRA_READY_DELAY], "10s");
        let green = PoolSpec::derive(&d, "green", "1.32.0");
        let g = record_spec(&green, blue.autoscaling).unwrap();
        assert_eq!(g.allocatable, blue.allocatable);
        assert_eq!((g.zones, g.labels, g.taints), (blue.zones, blue.labels, blue.taints));
        assert_eq!(g.version, "1.32.0");
        assert_eq!(ready_delay(&green, Duration::ZERO), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn status_follows_the_nodes() {
        let s = record_spec(&api_spec(), Autoscaling::default()).unwrap();
        let mut r = Record::new("kwok-pools", s.clone());
        let now = Timestamp::UNIX_EPOCH;
        let mut nodes: Vec<Node> =
            (0..2).map(|i| crate::nodes::node_object(&s, i, Duration::ZERO, now).unwrap()).collect();
        let st = status(&r, &nodes);
        assert_eq!((st.state.clone(), st.nodes), (PoolState::Creating, 2));
        assert_eq!(st.message.as_deref(), Some("2/3 nodes exist, 0 Ready"));
        nodes.push(crate::nodes::node_object(&s, 2, Duration::ZERO, now).unwrap());
        for n in &mut nodes {
            kubesim_ready(n);
        }
        let st = status(&r, &nodes);
        assert_eq!(st.state, PoolState::Ready);
        assert_eq!(st.version, "1.31.4");
        r.deleting = true;
        assert_eq!(status(&r, &nodes).state, PoolState::Deleting);
    }

    fn kubesim_ready(n: &mut Node) {
        let conds = n.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new);
        conds.push(serde_json::from_value(json!({"type": "Ready", "status": "True"})).unwrap());
    }
}
