//! Timeouts in settings: a string with units (`"90s"`, `"5m"`, `"1h30m"`, `"500ms"`) or a plain number of
//! seconds (`300`). Zero is rejected: a call that may never take any time cannot succeed.

use std::fmt;
use std::time::Duration;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Parses `"1h30m"`, `"90s"`, `"500ms"`, `"2m"`; units `ms`, `s`, `m`, `h`; a bare number is seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return positive(Duration::from_secs(secs), text);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{text:?} is not a duration (want e.g. 90s, 5m, 1h30m, 500ms or seconds)"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "" => return Err(format!("{text:?}: a number without a unit inside a duration (use ms, s, m or h)")),
            other => return Err(format!("{text:?}: unknown unit {other:?} (use ms, s, m or h)")),
        };
        total = total.saturating_add(unit);
        rest = &rest[unit_len..];
    }
    positive(total, text)
}

fn positive(d: Duration, text: &str) -> Result<Duration, String> {
    if d.is_zero() { Err(format!("{text:?}: a timeout must be longer than zero")) } else { Ok(d) }
}

/// Serde `deserialize_with` for a duration given as a string with units or a number of seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration such as \"5m\", \"90s\", \"1h30m\" or a number of seconds")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            positive(Duration::from_secs(v), &v.to_string()).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            let secs = u64::try_from(v).map_err(|_| E::custom(format!("{v}: a timeout cannot be negative")))?;
            self.visit_u64(secs)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_plain_seconds() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("120"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("0s").unwrap_err().contains("longer than zero"));
        assert!(parse("5 minutes").unwrap_err().contains("unknown unit"));
        assert!(parse("m5").unwrap_err().contains("not a duration"));
        assert!(parse("1m30").unwrap_err().contains("without a unit"));
    }

    #[test]
    fn deserializes_strings_and_numbers() {
        #[derive(serde::Deserialize)]
        struct S {
            #[serde(deserialize_with = "deserialize")]
            t: Duration,
        }
        let s: S = serde_json::from_str(r#"{"t": "2m"}"#).unwrap();
        assert_eq!(s.t, Duration::from_secs(120));
        let s: S = serde_json::from_str(r#"{"t": 45}"#).unwrap();
        assert_eq!(s.t, Duration::from_secs(45));
        let e = serde_json::from_str::<S>(r#"{"t": -1}"#).err().unwrap().to_string();
        assert!(e.contains("negative"), "{e}");
    }
}
