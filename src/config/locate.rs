//! Where in the file a problem is. A type error carries its own position (the YAML parser's) and field path
//! (serde_path_to_error's). A semantic problem found after parsing (a missing provider field, a duplicate
//! pool) only has a field path: the file is read a second time, walking down that path, and the parser is
//! made to fail on the value found there so that it reports the value's line and column.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::ConfigError;

/// A field path such as `pools[2].batch_soak`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Step>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl FieldPath {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Step::Key(k.to_string()));
        p
    }

    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Step::Index(i));
        p
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(k) if i == 0 => f.write_str(k)?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A semantic problem at `path`, positioned at that value, or at its nearest parent present in the file
/// (a missing field is reported where it should have been written).
pub fn at(text: &str, origin: &str, path: &FieldPath, message: impl Into<String>) -> ConfigError {
    let mut steps = path.0.as_slice();
    let (line, column) = loop {
        if let Some(pos) = position(text, steps) {
            break pos;
        }
        match steps.split_last() {
            Some((_, parent)) => steps = parent,
            None => break (1, 1),
        }
    };
    ConfigError::Invalid { origin: origin.to_string(), line, column, field: path.to_string(), message: message.into() }
}

/// A parse or type error, with the parser's position and serde_path_to_error's path.
pub fn from_serde(origin: &str, e: serde_path_to_error::Error<serde_yaml_ng::Error>) -> ConfigError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let (line, column) = inner.location().map_or((1, 1), |l| (l.line(), l.column()));
    let mut message = inner.to_string();
    // The parser appends the position and may prefix its own idea of the path: both are said already.
    if let Some(m) = message.strip_suffix(&format!(" at line {line} column {column}")) {
        message = m.to_string();
    }
    if let Some((prefix, rest)) = message.split_once(": ")
        && !prefix.contains(' ')
        && path.starts_with(prefix)
    {
        message = rest.to_string();
    }
    let field = if path.is_empty() || path == "." { "(top level)".to_string() } else { path };
    ConfigError::Invalid { origin: origin.to_string(), line, column, field, message }
}

/// The message the probe fails with once it stands on the wanted value.
const HERE: &str = "poolshift-config-probe: here";

/// 1-based line and column of the value at `steps`, when the file has it.
fn position(text: &str, steps: &[Step]) -> Option<(usize, usize)> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match (Probe { rest: steps }).deserialize(de) {
        Err(e) if e.to_string().contains(HERE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// Walks down `rest`; on the last step, fails on whatever value is there.
struct Probe<'a> {
    rest: &'a [Step],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! scalar {
    ($($name:ident: $t:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $t) -> Result<(), E> {
            if self.rest.is_empty() { Err(E::custom(HERE)) } else { Ok(()) }
        })*
    };
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.rest.is_empty() { Err(E::custom(HERE)) } else { Ok(()) }
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else { return Err(de::Error::custom(HERE)) };
        let Step::Key(want) = first else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(key) = map.next_key::<serde_yaml_ng::Value>()? {
            let hit = match &key {
                serde_yaml_ng::Value::String(s) => s == want,
                other => serde_yaml_ng::to_string(other).is_ok_and(|s| s.trim() == want),
            };
            if hit {
                map.next_value_seed(Probe { rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else { return Err(de::Error::custom(HERE)) };
        let Step::Index(want) = first else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            let more = if i == *want {
                seq.next_element_seed(Probe { rest })?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
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
        "cluster:\n  name: a\npools:\n  - name: x\n    batch: 2\n  - name: y\n    allow: {bare_pods: true}\n";

    fn pos(path: &FieldPath) -> Option<(usize, usize)> {
        position(TEXT, &path.0)
    }

    #[test]
    fn finds_values_in_block_and_flow_style() {
        let r = FieldPath::root();
        assert_eq!(pos(&r.key("cluster").key("name")), Some((2, 9)));
        assert_eq!(pos(&r.key("pools").index(0).key("batch")), Some((5, 12)));
        assert_eq!(pos(&r.key("pools").index(1).key("allow").key("bare_pods")), Some((7, 24)));
        assert_eq!(pos(&r.key("pools").index(2)), None);
        assert_eq!(pos(&r.key("provider")), None);
    }

    #[test]
    fn a_missing_field_is_reported_at_its_parent() {
        let path = FieldPath::root().key("pools").index(1).key("to");
        let ConfigError::Invalid { line, column, field, .. } = at(TEXT, "c.yaml", &path, "m") else { panic!() };
        assert_eq!((line, column, field.as_str()), (6, 5, "pools[1].to"));
    }
}
