//! Value types of scenario files and of the `/sim/v1` API: durations (`90s`, `2m`, `500ms`, `1m30s`),
//! resource quantities (`500m`, `2Gi`) and PDB values (`1` or `"50%"`), each checked when parsed so that a
//! bad value is reported with its file, line and field.

use std::fmt;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as a number and a unit (`ns`, `us`, `ms`, `s`, `m`, `h`), possibly repeated (`1m30s`);
/// `0` alone is zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn secs(s: u64) -> Self {
        Dur(Duration::from_secs(s))
    }

    pub const fn millis(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "0" {
            return Ok(Dur(Duration::ZERO));
        }
        parse_units(t).map(Dur).ok_or_else(|| {
            format!(
                "invalid duration \"{s}\": expected a number followed by a unit (ms, s, m, h), e.g. \"90s\", \"2m\", \"500ms\""
            )
        })
    }
}

/// The duration grammar of Go's `time.ParseDuration` without a sign, which Kubernetes tools use: numbers
/// (fractions allowed) each followed by a unit `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`, possibly repeated
/// (`1m30s`, `1.5h`). `None` for anything else, a bare number included. The one parser of this grammar in
/// the project: scenario files, pod annotations and poolshift's own configuration use it.
pub fn parse_units(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        nanos += value * per_unit;
    }
    (nanos.is_finite() && nanos <= u64::MAX as f64).then(|| Duration::from_nanos(nanos.round() as u64))
}

impl fmt::Display for Dur {
    /// Whole seconds as `90s`, whole milliseconds as `1500ms`, anything finer in `ns`: forms every duration
    /// parser (the kubelet's annotation reader included) understands.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}ns", d.as_nanos())
        }
    }
}

impl From<Dur> for Duration {
    fn from(d: Dur) -> Self {
        d.0
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"90s\", \"2m\" or \"500ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                Dur::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                if v == 0 {
                    Ok(Dur::default())
                } else {
                    Err(E::custom(format!("invalid duration {v}: a duration needs a unit, e.g. \"{v}s\"")))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format!("invalid duration {v}: durations cannot be negative"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

const DECIMAL_SUFFIXES: &[(&str, f64)] =
    &[("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18)];
const BINARY_SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("Ei", 1_152_921_504_606_846_976.0),
];

/// A Kubernetes resource quantity (`500m`, `2`, `1.5Gi`, `128974848`, `1e3`), kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quantity(String);

impl Quantity {
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::value_of(s).map(|_| Quantity(s.to_string()))
    }

    /// The quantity as written (for `resources.requests`, `allocatable`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value in base units (cores, bytes).
    pub fn value(&self) -> f64 {
        Self::value_of(&self.0).unwrap_or(0.0)
    }

    /// The value in thousandths (millicores), rounded up as the scheduler does.
    pub fn millis(&self) -> u64 {
        (self.value() * 1000.0).ceil().max(0.0) as u64
    }

    fn value_of(s: &str) -> Result<f64, String> {
        let bad = || {
            format!(
                "invalid quantity \"{s}\": expected a number with an optional suffix (m, k, M, G, T, Ki, Mi, Gi, Ti), e.g. \"500m\" or \"2Gi\""
            )
        };
        let num_len = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        if num_len == 0 {
            return Err(bad());
        }
        let number: f64 = s[..num_len].parse().map_err(|_| bad())?;
        let suffix = &s[num_len..];
        let factor = if suffix.is_empty() {
            1.0
        } else if let Some((_, f)) = BINARY_SUFFIXES.iter().chain(DECIMAL_SUFFIXES).find(|(n, _)| *n == suffix) {
            *f
        } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
            let e: i32 = exp.parse().map_err(|_| bad())?;
            10f64.powi(e)
        } else {
            return Err(bad());
        };
        Ok(number * factor)
    }

    pub fn to_k8s(&self) -> k8s_openapi::apimachinery::pkg::api::resource::Quantity {
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(self.0.clone())
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as \"500m\" or \"2Gi\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A PDB's `minAvailable` / `maxUnavailable`: a count or a percentage string (`"50%"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(i32),
    Percent(u32),
}

impl IntOrPercent {
    pub fn to_k8s(&self) -> IntOrString {
        match self {
            IntOrPercent::Int(i) => IntOrString::Int(*i),
            IntOrPercent::Percent(p) => IntOrString::String(format!("{p}%")),
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Int(i) => write!(f, "{i}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for IntOrPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrPercent::Int(i) => s.serialize_i32(*i),
            IntOrPercent::Percent(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrPercent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a percentage such as \"50%\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrPercent, E> {
                i32::try_from(v).map(IntOrPercent::Int).map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrPercent, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format!("{v} is negative: must be greater than or equal to 0"))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrPercent, E> {
                let pct = v.strip_suffix('%').and_then(|n| n.parse::<u32>().ok());
                match pct {
                    Some(p) if p <= 100 => Ok(IntOrPercent::Percent(p)),
                    Some(_) => Err(E::custom(format!("invalid value \"{v}\": must be between 0% and 100%"))),
                    None => Err(E::custom(format!(
                        "invalid value \"{v}\": a percentage must be a number followed by '%', e.g. \"50%\""
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("90s").unwrap(), Dur::secs(90));
        assert_eq!(Dur::parse("2m").unwrap(), Dur::secs(120));
        assert_eq!(Dur::parse("1m30s").unwrap(), Dur::secs(90));
        assert_eq!(Dur::parse("500ms").unwrap(), Dur::millis(500));
        assert_eq!(Dur::parse("1.5s").unwrap(), Dur::millis(1500));
        assert_eq!(Dur::parse("0").unwrap(), Dur::default());
        for bad in ["", "5", "5x", "s", "1m30", "-1s"] {
            assert!(Dur::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Dur::secs(120).to_string(), "120s");
        assert_eq!(Dur::millis(1500).to_string(), "1500ms");
    }

    #[test]
    fn quantities() {
        assert_eq!(Quantity::parse("500m").unwrap().millis(), 500);
        assert_eq!(Quantity::parse("2").unwrap().millis(), 2000);
        assert_eq!(Quantity::parse("1Gi").unwrap().value(), 1_073_741_824.0);
        assert_eq!(Quantity::parse("1e3").unwrap().value(), 1000.0);
        for bad in ["", "12Zi", "Gi", "1.2.3", "-1"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }
}
