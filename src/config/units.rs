//! The config file's value types, each checked as it is parsed so that a bad value is reported with its
//! line, column and field: durations (`90s`, `5m`, `1h30m`), batch sizes (`3` or `"20%"`) and targets
//! (`latest-patch`, `next-minor`, `1.31.4`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::model::policy::BatchSize;
use crate::model::version::Version;

const DURATION_HINT: &str = "expected a number and a unit such as 90s, 5m, 1h";

/// Parses `90s`, `5m`, `1h`, `500ms`, `1h30m`, `1.5h` (Go's duration grammar, as kubesim reads it); `0` alone
/// is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    kubesim::scenario::parse_units(t).ok_or_else(|| format!("invalid duration \"{s}\": {DURATION_HINT}"))
}

/// A duration in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration ({DURATION_HINT})")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                if v == 0 {
                    return Ok(Dur(Duration::ZERO));
                }
                Err(E::custom(format!("invalid duration {v}: a duration needs a unit, such as {v}s or {v}m")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format!("invalid duration {v}: a duration cannot be negative"))),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!("invalid duration {v}: {DURATION_HINT}")))
            }
        }
        d.deserialize_any(V)
    }
}

const BATCH_HINT: &str = "expected a node count such as 2 or a percentage of the blue nodes such as \"20%\"";

/// Parses `"20%"` (1 to 100) or a node count (at least 1).
pub fn parse_batch(s: &str) -> Result<BatchSize, String> {
    let t = s.trim();
    if let Some(p) = t.strip_suffix('%') {
        return match p.trim().parse::<u32>() {
            Ok(n @ 1..=100) => Ok(BatchSize::Percent(n)),
            Ok(_) => Err(format!("invalid batch \"{s}\": a percentage must be between 1% and 100%")),
            Err(_) => Err(format!("invalid batch \"{s}\": {BATCH_HINT}")),
        };
    }
    match t.parse::<u32>() {
        Ok(0) => Err("invalid batch 0: a batch has at least 1 node".to_string()),
        Ok(n) => Ok(BatchSize::Nodes(n)),
        Err(_) => Err(format!("invalid batch \"{s}\": {BATCH_HINT}")),
    }
}

/// A batch size in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch(pub BatchSize);

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Batch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a batch size ({BATCH_HINT})")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Batch, E> {
                parse_batch(v).map(Batch).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Batch, E> {
                parse_batch(&v.to_string()).map(Batch).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Batch, E> {
                Err(E::custom(format!("invalid batch {v}: {BATCH_HINT}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Batch, E> {
                Err(E::custom(format!("invalid batch {v}: {BATCH_HINT}")))
            }
        }
        d.deserialize_any(V)
    }
}

const TARGET_HINT: &str = "expected latest-patch, next-minor or a version X.Y.Z such as 1.31.4";

/// What `to:` (and `--to`) name: the version is resolved at plan time against what the provider offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    LatestPatch,
    NextMinor,
    Exact(Version),
}

/// Parses `latest-patch`, `next-minor`, an exact `X.Y.Z` (a leading `v` is allowed) or a provider release
/// of one, `X.Y.Z-RELEASE` (an EKS AMI release version such as `1.31.4-20250123`; only the eks provider takes
/// one, see [`super::ProviderConfig::takes_release_versions`]).
pub fn parse_target(s: &str) -> Result<TargetSpec, String> {
    match s.trim() {
        "latest-patch" => return Ok(TargetSpec::LatestPatch),
        "next-minor" => return Ok(TargetSpec::NextMinor),
        _ => {}
    }
    Version::parse_target(s).map(TargetSpec::Exact).map_err(|_| format!("invalid target \"{s}\": {TARGET_HINT}"))
}

impl<'de> Deserialize<'de> for TargetSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TargetSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a target ({TARGET_HINT})")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TargetSpec, E> {
                parse_target(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TargetSpec, E> {
                Err(E::custom(format!("invalid target {v}: {TARGET_HINT}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TargetSpec, E> {
                Err(E::custom(format!("invalid target {v}: {TARGET_HINT}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TargetSpec, E> {
                Err(E::custom(format!("invalid target {v}: {TARGET_HINT}")))
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
        let ok = [("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1.5m", 90.0)];
        for (text, secs) in ok {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs_f64(secs)), "{text}");
        }
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "5 minutes", "m", "1m30", "-1s", "1d"] {
            assert_eq!(parse_duration(bad), Err(format!("invalid duration \"{bad}\": {DURATION_HINT}")), "{bad}");
        }
    }

    #[test]
    fn batches() {
        assert_eq!(parse_batch("20%"), Ok(BatchSize::Percent(20)));
        assert_eq!(parse_batch("3"), Ok(BatchSize::Nodes(3)));
        assert!(parse_batch("0").is_err());
        assert!(parse_batch("0%").unwrap_err().contains("between 1% and 100%"));
        assert!(parse_batch("150%").is_err());
        assert!(parse_batch("a few").unwrap_err().contains("a node count such as 2"));
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("latest-patch"), Ok(TargetSpec::LatestPatch));
        assert_eq!(parse_target("next-minor"), Ok(TargetSpec::NextMinor));
        assert_eq!(parse_target("v1.31.4"), Ok(TargetSpec::Exact(Version::new(1, 31, 4))));
        let Ok(TargetSpec::Exact(release)) = parse_target("1.31.4-20250123") else { panic!("a release version") };
        assert_eq!((release.to_string(), release.release()), ("1.31.4-20250123".to_string(), Some("20250123")));
        for bad in ["1.31", "1.31.x", "latest", "1.2.3.4", "", "1.31-20250123", "1.31.4-", "1.31.4-a/b"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
