//! Label and field selectors: the string syntax of `?labelSelector=` / `?fieldSelector=`, and
//! `metav1.LabelSelector` as PDBs and workloads carry it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::Eq(v), Some(x)) => v == x,
            (Op::Eq(_), None) => false,
            (Op::NotEq(v), Some(x)) => v != x,
            (Op::NotEq(_), None) => true,
            (Op::In(vs), Some(x)) => vs.iter().any(|v| v == x),
            (Op::In(_), None) => false,
            (Op::NotIn(vs), Some(x)) => !vs.iter().any(|v| v == x),
            (Op::NotIn(_), None) => true,
            (Op::Exists, v) => v.is_some(),
            (Op::DoesNotExist, v) => v.is_none(),
        }
    }
}

/// A conjunction of requirements. `Nothing` matches no object (a null PDB selector in policy/v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Nothing,
    All(Vec<Requirement>),
}

impl Default for Selector {
    fn default() -> Self {
        Selector::All(Vec::new())
    }
}

impl Selector {
    pub fn everything() -> Self {
        Selector::All(Vec::new())
    }

    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::All(r) if r.is_empty())
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::All(reqs) => {
                reqs.iter().all(|r| r.matches(labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
            }
        }
    }

    /// Matches against a field accessor (field selectors).
    pub fn matches_fields(&self, field: impl Fn(&str) -> Option<String>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::All(reqs) => reqs.iter().all(|r| r.matches(field(&r.key).as_deref())),
        }
    }

    /// `metav1.LabelSelector` semantics: `None` matches nothing, `{}` matches everything.
    pub fn from_label_selector(sel: Option<&LabelSelector>) -> Result<Self, String> {
        let Some(sel) = sel else { return Ok(Selector::Nothing) };
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Requirement { key: k.clone(), op: Op::Eq(v.clone()) });
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let op = match e.operator.as_str() {
                "In" if !values.is_empty() => Op::In(values),
                "NotIn" if !values.is_empty() => Op::NotIn(values),
                "Exists" if values.is_empty() => Op::Exists,
                "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
                "In" | "NotIn" => {
                    return Err(format!(
                        "{}: values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                        e.key
                    ));
                }
                "Exists" | "DoesNotExist" => {
                    return Err(format!(
                        "{}: values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                        e.key
                    ));
                }
                other => return Err(format!("{}: operator: Unsupported value: \"{other}\"", e.key)),
            };
            reqs.push(Requirement { key: e.key.clone(), op });
        }
        Ok(Selector::All(reqs))
    }

    /// Parses the string form of a label selector (`a=b,c!=d,e in (f,g),!h`).
    pub fn parse_labels(s: &str) -> Result<Self, ApiError> {
        parse(s, true).map_err(|m| ApiError::bad_request(format!("unable to parse requirement: {m}")))
    }

    /// Parses a field selector (`spec.nodeName=n1,status.phase!=Succeeded`): only `=`, `==`, `!=`.
    pub fn parse_fields(s: &str) -> Result<Self, ApiError> {
        parse(s, false).map_err(|m| ApiError::bad_request(format!("invalid field selector: {m}")))
    }
}

fn parse(s: &str, labels: bool) -> Result<Selector, String> {
    let mut reqs = Vec::new();
    for part in split_top_level(s) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        reqs.push(parse_requirement(part, labels)?);
    }
    Ok(Selector::All(reqs))
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_requirement(part: &str, labels: bool) -> Result<Requirement, String> {
    let bad = || format!("invalid selector requirement \"{part}\"");
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement { key: key(k, part)?, op: Op::NotEq(v.trim().to_string()) });
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Requirement { key: key(k, part)?, op: Op::Eq(v.trim().to_string()) });
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Requirement { key: key(k, part)?, op: Op::Eq(v.trim().to_string()) });
    }
    if !labels {
        return Err(bad());
    }
    if let Some(k) = part.strip_prefix('!') {
        return Ok(Requirement { key: key(k, part)?, op: Op::DoesNotExist });
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim();
        let (negate, list) = if let Some(r) = rest.strip_prefix("notin") {
            (true, r)
        } else if let Some(r) = rest.strip_prefix("in") {
            (false, r)
        } else {
            return Err(bad());
        };
        let list = list.trim();
        let inner = list.strip_prefix('(').and_then(|l| l.strip_suffix(')')).ok_or_else(bad)?;
        let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err(format!("{}: for 'in', 'notin' operators, values set can't be empty", words[0]));
        }
        let op = if negate { Op::NotIn(values) } else { Op::In(values) };
        return Ok(Requirement { key: key(words[0], part)?, op });
    }
    Ok(Requirement { key: key(part, part)?, op: Op::Exists })
}

fn key(k: &str, part: &str) -> Result<String, String> {
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) || k.contains(['(', ')', '!']) {
        return Err(format!("invalid selector requirement \"{part}\": bad key \"{k}\""));
    }
    Ok(k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_and_matches_label_selectors() {
        let s = Selector::parse_labels("app=web,tier!=db,zone in (a, b),!legacy,team").unwrap();
        assert!(s.matches(Some(&labels(&[("app", "web"), ("zone", "a"), ("team", "x")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("zone", "c"), ("team", "x")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("zone", "a"), ("team", "x"), ("legacy", "1")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("zone", "a")]))));
        assert!(Selector::parse_labels("").unwrap().is_everything());
        assert!(Selector::parse_labels("a in ()").is_err());
        assert!(Selector::parse_fields("spec.nodeName").is_err());
    }

    #[test]
    fn null_label_selector_matches_nothing_and_empty_matches_all() {
        assert_eq!(Selector::from_label_selector(None).unwrap(), Selector::Nothing);
        let empty = LabelSelector::default();
        assert!(Selector::from_label_selector(Some(&empty)).unwrap().matches(None));
    }
}
