//! Turning problems into `file:line:column: field: message` errors: the position of a deserialisation error
//! comes with it; the position of a semantic problem found later (a missing pool, a duplicate name) is found
//! by walking the YAML again down to the offending field.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::ScenarioError;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A field path such as `workloads[3].pool`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn key(mut self, k: &str) -> Self {
        self.0.push(Seg::Key(k.to_string()));
        self
    }

    pub fn index(mut self, i: usize) -> Self {
        self.0.push(Seg::Index(i));
        self
    }

    /// Appends a relative dotted path (`zones[1]`, `autoscaling.max`).
    pub fn join(mut self, rel: &str) -> Self {
        for part in rel.split('.').filter(|p| !p.is_empty()) {
            let (name, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                self.0.push(Seg::Key(name.to_string()));
            }
            while let Some(end) = rest.find(']') {
                if let Ok(i) = rest[1..end].parse() {
                    self.0.push(Seg::Index(i));
                }
                rest = &rest[end + 1..];
            }
        }
        self
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// An error about the field at `path` of the YAML `text`, positioned at that field (or its closest
/// existing parent, when the field was left out).
pub fn invalid_at(text: &str, origin: &str, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
    let mut segs = path.0.as_slice();
    let (line, column) = loop {
        if let Some(pos) = position_of(text, segs) {
            break pos;
        }
        match segs.split_last() {
            Some((_, parent)) => segs = parent,
            None => break (1, 1),
        }
    };
    ScenarioError::Invalid {
        origin: origin.to_string(),
        line,
        column,
        field: path.to_string(),
        message: message.into(),
    }
}

/// A deserialisation error, with serde_path_to_error's field path and the YAML parser's position.
pub fn from_de_error(origin: &str, e: serde_path_to_error::Error<serde_yaml_ng::Error>) -> ScenarioError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let (line, column) = inner.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
    let mut message = inner.to_string();
    let suffix = format!(" at line {line} column {column}");
    if let Some(m) = message.strip_suffix(&suffix) {
        message = m.to_string();
    }
    // The YAML parser prefixes its own path (which may stop at the parent mapping): drop it.
    if let Some((prefix, rest)) = message.split_once(": ")
        && !prefix.contains(char::is_whitespace)
        && path.starts_with(prefix)
    {
        message = rest.to_string();
    }
    let field = if path == "." || path.is_empty() { "(top level)".to_string() } else { path };
    ScenarioError::Invalid { origin: origin.to_string(), line, column, field, message }
}

const FOUND: &str = "kubesim: probe found the field";

/// 1-based line and column of the value at `segs`, if it is in the text.
fn position_of(text: &str, segs: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match (Probe { target: segs }).deserialize(de) {
        Ok(()) => None,
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        Err(_) => None,
    }
}

struct Probe<'a> {
    target: &'a [Seg],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.target.is_empty() { d.deserialize_any(Found) } else { d.deserialize_any(Walk { target: self.target }) }
    }
}

/// Fails on whatever value it is given, so the parser stamps the error with that value's position.
struct Found;

impl<'de> Visitor<'de> for Found {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}

/// Walks down to the target, skipping everything else.
struct Walk<'a> {
    target: &'a [Seg],
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(want), rest)) = self.target.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(key) = map.next_key::<serde_yaml_ng::Value>()? {
            let matches = match &key {
                serde_yaml_ng::Value::String(s) => s == want,
                serde_yaml_ng::Value::Number(n) => n.to_string() == *want,
                serde_yaml_ng::Value::Bool(b) => b.to_string() == *want,
                _ => false,
            };
            if matches {
                map.next_value_seed(Probe { target: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(want), rest)) = self.target.split_first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            if i == *want {
                if seq.next_element_seed(Probe { target: rest })?.is_none() {
                    return Ok(());
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "name: x\npools:\n  - name: a\n    zones: [z1, z2]\nworkloads:\n  - kind: Pod\n    name: p\n    pool: b\n";

    #[test]
    fn finds_nested_fields() {
        assert_eq!(position_of(TEXT, &FieldPath::default().key("workloads").index(0).key("pool").0), Some((8, 11)));
        assert_eq!(
            position_of(TEXT, &FieldPath::default().key("pools").index(0).key("zones").index(1).0),
            Some((4, 17))
        );
        assert_eq!(position_of(TEXT, &FieldPath::default().key("workloads").index(3).0), None);
    }

    #[test]
    fn falls_back_to_the_parent() {
        let p = FieldPath::default().key("pools").index(0).key("size");
        let ScenarioError::Invalid { line, column, field, .. } = invalid_at(TEXT, "t.yaml", &p, "m") else { panic!() };
        assert_eq!((line, column, field.as_str()), (3, 5, "pools[0].size"));
    }

    #[test]
    fn joins_relative_paths() {
        let p = FieldPath::default().key("pools").index(2).join("zones[1]").join("a.b");
        assert_eq!(p.to_string(), "pools[2].zones[1].a.b");
    }
}
