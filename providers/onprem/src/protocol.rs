//! The exec plugin protocol, version `poolshift.io/provider/v1` (PROTOCOL.md is the reference for plugin
//! authors): the request poolshift writes on a plugin's stdin, and the reading of its answer.

use poolshift_provider_api::{AutoscalingSettings, CreateToken, ErrorKind, PoolSpec};
use serde::Serialize;
use serde_json::{Map, Value};

/// The protocol version poolshift speaks; an answer naming another one is rejected.
pub const PROTOCOL: &str = "poolshift.io/provider/v1";

/// The plugin's first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Describe,
    Versions,
    Create,
    Status,
    Delete,
    Freeze,
    Restore,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Describe => "describe",
            Verb::Versions => "versions",
            Verb::Create => "create",
            Verb::Status => "status",
            Verb::Delete => "delete",
            Verb::Freeze => "freeze",
            Verb::Restore => "restore",
        }
    }
}

/// The document on the plugin's stdin.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    pub protocol: &'static str,
    pub verb: Verb,
    /// Every verb but `versions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<&'a str>,
    /// `create` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<&'a PoolSpec>,
    /// `create` only: the idempotency token of this attempt (the same for a retry of it, another for another
    /// attempt or run), for a backend whose create takes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a CreateToken>,
    /// `restore` only: what `freeze` returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior: Option<&'a AutoscalingSettings>,
    /// The operator's free-form settings, passed through unchanged.
    pub settings: &'a Value,
}

/// An error the plugin reported in its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

/// What a plugin's stdout said.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `"result": ...` (possibly `null`).
    Result(Value),
    Error(PluginError),
}

/// Reads a plugin's stdout. `Err` says, in words, why it is not a valid v1 answer.
pub fn parse_answer(stdout: &[u8]) -> Result<Answer, String> {
    let text = std::str::from_utf8(stdout).map_err(|_| "answered bytes that are not UTF-8".to_string())?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("answered nothing on stdout".into());
    }
    let doc: Value = serde_json::from_str(trimmed)
        .map_err(|e| format!("answered something that is not a JSON document ({e}): {}", excerpt(trimmed)))?;
    let Value::Object(mut doc) = doc else {
        return Err(format!("answered JSON that is not an object: {}", excerpt(trimmed)));
    };
    match doc.get("protocol") {
        Some(Value::String(p)) if p == PROTOCOL => {}
        Some(Value::String(p)) => {
            return Err(format!(
                "answered protocol {p:?}, but poolshift speaks {PROTOCOL:?}; upgrade poolshift or use a plugin version that speaks {PROTOCOL}"
            ));
        }
        Some(other) => return Err(format!("answered a \"protocol\" that is not a string: {other}")),
        None => return Err(format!("answered without a \"protocol\" key (want {PROTOCOL:?})")),
    }
    match (doc.remove("result"), doc.remove("error")) {
        (Some(r), None) => Ok(Answer::Result(r)),
        (None, Some(e)) => parse_error(e).map(Answer::Error),
        (Some(_), Some(_)) => Err("answered both \"result\" and \"error\"".into()),
        (None, None) => Err("answered neither \"result\" nor \"error\"".into()),
    }
}

fn parse_error(e: Value) -> Result<PluginError, String> {
    let Value::Object(e) = e else {
        return Err(format!("answered an \"error\" that is not an object: {e}"));
    };
    let message = string(&e, "message")?.unwrap_or_default();
    let hint = string(&e, "hint")?.filter(|h| !h.is_empty());
    let kind = match string(&e, "kind")? {
        None => return Err(format!("answered an error without a \"kind\": {message}")),
        Some(k) => serde_json::from_value::<ErrorKind>(Value::String(k.clone())).map_err(|_| {
            format!(
                "answered an error of unknown kind {k:?} (kinds: not_found, conflict, quota, capacity, permission, invalid, transient, failed): {message}"
            )
        })?,
    };
    Ok(PluginError { kind, message, hint })
}

fn string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("answered an error whose {key:?} is not a string: {other}")),
    }
}

/// At most 200 characters of `s`, for messages.
pub fn excerpt(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The last 500 characters of `s` (the end of a stderr is where the reason usually is).
pub fn excerpt_tail(s: &str) -> String {
    let s = s.trim();
    let n = s.chars().count();
    if n <= 500 {
        return s.to_string();
    }
    let start = s.char_indices().nth(n - 500).map(|(i, _)| i).unwrap_or(0);
    format!("…{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_errors() {
        let a = parse_answer(br#"{"protocol": "poolshift.io/provider/v1", "result": null}"#).unwrap();
        assert_eq!(a, Answer::Result(Value::Null));
        let a = parse_answer(
            br#" {"protocol": "poolshift.io/provider/v1", "error": {"kind": "quota", "message": "no IPs", "hint": "ask"}}
"#,
        )
        .unwrap();
        assert_eq!(
            a,
            Answer::Error(PluginError { kind: ErrorKind::Quota, message: "no IPs".into(), hint: Some("ask".into()) })
        );
    }

    #[test]
    fn invalid_answers_say_why() {
        let e = |s: &str| parse_answer(s.as_bytes()).unwrap_err();
        assert_eq!(e("  "), "answered nothing on stdout");
        assert!(e("hello").starts_with("answered something that is not a JSON document"), "{}", e("hello"));
        assert!(e("[1]").contains("not an object"));
        assert!(e(r#"{"result": 1}"#).contains("without a \"protocol\""));
        let v2 = e(r#"{"protocol": "poolshift.io/provider/v2", "result": 1}"#);
        assert!(v2.contains("\"poolshift.io/provider/v2\"") && v2.contains("poolshift speaks"), "{v2}");
        assert!(e(r#"{"protocol": "poolshift.io/provider/v1"}"#).contains("neither"));
        assert!(e(r#"{"protocol": "poolshift.io/provider/v1", "result": 1, "error": {}}"#).contains("both"));
        let k = e(r#"{"protocol": "poolshift.io/provider/v1", "error": {"kind": "boom", "message": "x"}}"#);
        assert!(k.contains("unknown kind \"boom\""), "{k}");
    }
}
