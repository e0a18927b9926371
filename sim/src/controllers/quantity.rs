//! Kubernetes resource quantities (`100m`, `1.5`, `2Gi`, `512Mi`, `1e3`, `1k`) and Go-style durations
//! (`500ms`, `5s`, `2m`, `1h30m`) as pod annotations and specs carry them.

use std::time::Duration;

/// A parsed quantity: `mantissa * 10^exp10 * 1024^bin`, exact (no floating point), so that `0.1` cores is
/// exactly 100 millicores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
    bin: u32,
}

/// Digits kept from the mantissa; more would not change any resource arithmetic and could overflow.
const MAX_DIGITS: usize = 30;

impl Quantity {
    /// Parses the apiserver's quantity syntax: a signed decimal number, then an optional binary suffix
    /// (`Ki`..`Ei`), decimal suffix (`n u m k M G T P E`) or decimal exponent (`e3`, `E-2`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let bytes = s.as_bytes();
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let (mut mantissa, mut exp10, mut digits, mut seen_dot, mut any) = (0i128, 0i32, 0usize, false, false);
        while let Some(&c) = bytes.get(i) {
            match c {
                b'0'..=b'9' => {
                    any = true;
                    if digits < MAX_DIGITS {
                        mantissa = mantissa * 10 + i128::from(c - b'0');
                        if mantissa != 0 {
                            digits += 1;
                        }
                        if seen_dot {
                            exp10 -= 1;
                        }
                    } else if !seen_dot {
                        exp10 += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => break,
            }
            i += 1;
        }
        if !any {
            return None;
        }
        let (bin, extra) = match &s[i..] {
            "" => (0, 0),
            "Ki" => (1, 0),
            "Mi" => (2, 0),
            "Gi" => (3, 0),
            "Ti" => (4, 0),
            "Pi" => (5, 0),
            "Ei" => (6, 0),
            "n" => (0, -9),
            "u" => (0, -6),
            "m" => (0, -3),
            "k" => (0, 3),
            "M" => (0, 6),
            "G" => (0, 9),
            "T" => (0, 12),
            "P" => (0, 15),
            "E" => (0, 18),
            rest => {
                let exp = rest.strip_prefix(['e', 'E'])?;
                if exp.is_empty() || !exp.trim_start_matches(['+', '-']).bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (0, exp.parse::<i32>().ok()?)
            }
        };
        exp10 = exp10.checked_add(extra)?;
        if negative {
            mantissa = -mantissa;
        }
        Some(Self { mantissa, exp10, bin })
    }

    /// `ceil(value * 10^scale)`, saturating at the `i64` range.
    pub fn scaled_ceil(&self, scale: i32) -> i64 {
        let saturate = |neg: bool| if neg { i64::MIN } else { i64::MAX };
        let neg = self.mantissa < 0;
        let Some(mut v) = 1024i128.checked_pow(self.bin).and_then(|m| self.mantissa.checked_mul(m)) else {
            return saturate(neg);
        };
        let e = self.exp10.saturating_add(scale);
        if e >= 0 {
            match u32::try_from(e).ok().and_then(|e| 10i128.checked_pow(e)).and_then(|p| v.checked_mul(p)) {
                Some(x) => v = x,
                None if v == 0 => return 0,
                None => return saturate(neg),
            }
        } else {
            match u32::try_from(-e).ok().and_then(|e| 10i128.checked_pow(e)) {
                Some(p) => v = v.div_euclid(p) + i128::from(v.rem_euclid(p) != 0),
                // Dividing by more than 10^38: the value is below one unit.
                None => return i64::from(v > 0),
            }
        }
        i64::try_from(v).unwrap_or_else(|_| saturate(neg))
    }

    /// The value in thousandths, rounded up (CPU millicores).
    pub fn millis(&self) -> i64 {
        self.scaled_ceil(3)
    }

    /// The value in whole units, rounded up (bytes, pod counts).
    pub fn value(&self) -> i64 {
        self.scaled_ceil(0)
    }
}

/// CPU in millicores; 0 when malformed.
pub fn cpu_millis(q: &str) -> i64 {
    Quantity::parse(q).map_or(0, |q| q.millis())
}

/// Memory (or any count) in whole units; 0 when malformed.
pub fn units(q: &str) -> i64 {
    Quantity::parse(q).map_or(0, |q| q.value())
}

/// Parses a Go duration (`300ms`, `1.5s`, `2m`, `1h30m`); a bare number is seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).ok(),
        Err(_) => crate::scenario::parse_units(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_the_apiserver() {
        assert_eq!(cpu_millis("100m"), 100);
        assert_eq!(cpu_millis("1.5"), 1500);
        assert_eq!(cpu_millis("0.1"), 100);
        assert_eq!(cpu_millis("2"), 2000);
        assert_eq!(cpu_millis("1e3"), 1_000_000);
        assert_eq!(cpu_millis("1k"), 1_000_000);
        assert_eq!(cpu_millis("250u"), 1, "sub-milli rounds up");
        assert_eq!(units("2Gi"), 2 * 1024 * 1024 * 1024);
        assert_eq!(units("512Mi"), 512 * 1024 * 1024);
        assert_eq!(units("1.5Gi"), 1536 * 1024 * 1024);
        assert_eq!(units("1e3"), 1000);
        assert_eq!(units("1E3"), 1000);
        assert_eq!(units("1E"), 1_000_000_000_000_000_000);
        assert_eq!(units("128974848"), 128_974_848);
        assert_eq!(units("129e6"), 129_000_000);
        assert_eq!(units("123Mi"), 123 * 1024 * 1024);
        assert_eq!(units("110"), 110);
        assert_eq!(units("1Ki"), 1024);
        assert_eq!(units("500m"), 1, "half a byte rounds up");
        assert_eq!(units("-1"), -1);
        assert_eq!(units("1Ei"), 1 << 60);
        for bad in ["", "abc", "1x", "Gi", "1e", "1.2.3", "--1"] {
            assert_eq!(Quantity::parse(bad), None, "{bad}");
        }
        assert_eq!(cpu_millis("garbage"), 0);
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("-1s"), None);
    }
}
