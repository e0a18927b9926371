//! Helpers shared by the per-kind printers: reading JSON fields and formatting them as kubectl shows them.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

pub const NONE: &str = "<none>";
pub const UNKNOWN: &str = "<unknown>";

/// The string at a JSON pointer (`/status/phase`), or "".
pub fn text<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at a JSON pointer, or 0.
pub fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at a JSON pointer, or an empty slice.
pub fn list<'a>(o: &'a Value, pointer: &str) -> &'a [Value] {
    o.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// `s`, or `<none>` when empty.
pub fn or_none(s: &str) -> String {
    if s.is_empty() { NONE.to_string() } else { s.to_string() }
}

pub fn name(o: &Value) -> String {
    text(o, "/metadata/name").to_string()
}

/// The age column: time since creation, `<unknown>` without a creation timestamp.
pub fn age(o: &Value, now: Timestamp) -> String {
    since(text(o, "/metadata/creationTimestamp"), now)
}

/// Time since an RFC 3339 timestamp, `<unknown>` when absent or unparsable.
pub fn since(ts: &str, now: Timestamp) -> String {
    match ts.parse::<Timestamp>() {
        Ok(t) => human_duration(crate::clock::since(now, t)),
        Err(_) => UNKNOWN.to_string(),
    }
}

/// kubectl's short duration format: `45s`, `3m12s`, `25m`, `4h30m`, `20h`, `3d4h`, `30d`, `2y45d`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 120 {
        return format!("{secs}s");
    }
    let mins = secs / 60;
    if mins < 10 {
        return match secs % 60 {
            0 => format!("{mins}m"),
            s => format!("{mins}m{s}s"),
        };
    }
    if mins < 180 {
        return format!("{mins}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return match mins % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{years}y")
}

/// `k=v,k2=v2` sorted by key, `<none>` when empty (labels.FormatLabels).
pub fn format_labels(map: Option<&Value>) -> String {
    let Some(obj) = map.and_then(Value::as_object) else {
        return NONE.to_string();
    };
    let mut pairs: Vec<(&String, &str)> = obj.iter().map(|(k, v)| (k, v.as_str().unwrap_or(""))).collect();
    pairs.sort();
    let parts: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if parts.is_empty() { NONE.to_string() } else { parts.join(",") }
}

/// A label selector as text (`app=web,tier in (a,b),!legacy`), requirements sorted by key; `<none>` when it
/// selects everything or is absent.
pub fn format_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return NONE.to_string();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in sel.get("matchExpressions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let key = text(e, "/key");
        let values: BTreeSet<&str> = list(e, "/values").iter().filter_map(Value::as_str).collect();
        let values = values.into_iter().collect::<Vec<_>>().join(",");
        let req = match text(e, "/operator") {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other} ({values})"),
        };
        reqs.push((key.to_string(), req));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    let s = reqs.into_iter().map(|(_, r)| r).collect::<Vec<_>>().join(",");
    or_none(&s)
}

/// Names and images of a pod template's containers, comma-joined.
pub fn containers_and_images(o: &Value) -> (String, String) {
    let cs = list(o, "/spec/template/spec/containers");
    let names: Vec<&str> = cs.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// An IntOrString field as printed (`2`, `50%`), or `N/A` when unset.
pub fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "N/A".to_string(),
    }
}
