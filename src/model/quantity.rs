//! Kubernetes resource quantities (`100m`, `1.5`, `2Gi`, `512Mi`, `1e3`, `1k`).

/// CPU in millicores.
pub fn cpu_millis(q: &str) -> Option<u64> {
    let v = parse(q)?;
    Some((v * 1000.0).ceil() as u64)
}

/// A plain quantity (bytes, counts), rounded up.
pub fn bytes(q: &str) -> Option<u64> {
    Some(parse(q)?.ceil() as u64)
}

fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (s, mult) in SUFFIXES {
        if let Some(num) = q.strip_suffix(s) {
            return num.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(|v| v * mult);
        }
    }
    q.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis("100m"), Some(100));
        assert_eq!(cpu_millis("1.5"), Some(1500));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(bytes("512Mi"), Some(536870912));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("1k"), Some(1000));
        assert_eq!(bytes("-1"), None);
        assert_eq!(bytes("lots"), None);
    }
}
