//! Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which `kubectl get` asks for.

use jiff::Timestamp;
use serde_json::{Value, json};

pub fn wants_table(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

/// A `meta.k8s.io/v1` Table of `items` (JSON objects of kind `kind`).
pub fn render(kind: &str, items: &[Value], rv: u64, cont: Option<&str>, now: Timestamp) -> Value {
    let _ = kind;
    let columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}),
        json!({"name": "Age", "type": "string", "description": "Age", "priority": 0}),
    ];
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
            let age = age(o, now);
            json!({"cells": [name, age], "object": partial(o)})
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns, "rows": rows})
}

/// `PartialObjectMetadata` of an object, as rows carry by default (`includeObject=Metadata`).
fn partial(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"].clone()})
}

fn age(o: &Value, now: Timestamp) -> String {
    let Some(ts) = o["metadata"]["creationTimestamp"].as_str().and_then(|s| s.parse::<Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    human_duration(crate::clock::since(now, ts))
}

/// kubectl's short duration format: `45s`, `3m12s`, `5h`, `2d3h`.
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10800 => format!("{}m", s / 60),
        10800..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
