//! GKE version strings (`1.31.4-gke.1146000`): ordering, the node versions poolshift may offer (never newer
//! than the control plane), and resolving an alias the engine asks for (`1.31.4`, `1.31`) to an exact version.

use std::cmp::Ordering;

/// `1.31.4-gke.1146000` as comparable numbers; a missing patch or GKE build counts as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GkeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    pub build: u64,
}

impl GkeVersion {
    /// `None` for anything that is not `MAJOR.MINOR[.PATCH][-gke.BUILD]` (aliases like `latest` or `-`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().trim_start_matches('v');
        let (core, suffix) = match s.split_once('-') {
            Some((c, rest)) => (c, Some(rest)),
            None => (s, None),
        };
        let mut it = core.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let patch = match it.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if it.next().is_some() {
            return None;
        }
        let build = match suffix {
            None => 0,
            // `gke.1146000`; other vendor suffixes order as build 0.
            Some(rest) => rest.rsplit('.').next().and_then(|b| b.parse().ok()).unwrap_or(0),
        };
        Some(Self { major, minor, patch, build })
    }
}

/// Orders two version strings; unparseable ones sort first.
pub fn compare(a: &str, b: &str) -> Ordering {
    GkeVersion::parse(a).cmp(&GkeVersion::parse(b))
}

/// Whether `actual` (what GKE reports for a pool) satisfies `requested` (exact, or an alias such as `1.31.4`
/// or `1.31` that GKE resolves to the newest build of that patch or minor).
pub fn matches(requested: &str, actual: &str) -> bool {
    let r = requested.trim().trim_start_matches('v');
    let a = actual.trim().trim_start_matches('v');
    a == r || a.strip_prefix(r).is_some_and(|rest| rest.starts_with('-') || rest.starts_with('.'))
}

/// The node versions GKE lists that are not newer than the control plane, newest first.
pub fn offered(valid_node_versions: &[String], control_plane: &str) -> Vec<String> {
    let cp = GkeVersion::parse(control_plane);
    let mut out: Vec<String> = valid_node_versions
        .iter()
        .filter(|v| match (GkeVersion::parse(v), cp) {
            (Some(v), Some(cp)) => v <= cp,
            // An unreadable control plane version offers nothing rather than something too new.
            _ => false,
        })
        .cloned()
        .collect();
    out.sort_by(|a, b| compare(b, a));
    out.dedup();
    out
}

/// The exact version to put in a CreateNodePool request: `requested` itself when offered, else the newest
/// offered version it is an alias of. `None` when nothing offered matches.
pub fn resolve(requested: &str, offered: &[String]) -> Option<String> {
    let r = requested.trim().trim_start_matches('v');
    if let Some(exact) = offered.iter().find(|v| v.trim_start_matches('v') == r) {
        return Some(exact.clone());
    }
    offered.iter().filter(|v| matches(r, v)).max_by(|a, b| compare(a, b)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_and_orders_gke_builds() {
        let v = GkeVersion::parse("1.31.4-gke.1146000").unwrap();
        assert_eq!((v.major, v.minor, v.patch, v.build), (1, 31, 4, 1146000));
        assert_eq!(GkeVersion::parse("1.30").unwrap().patch, 0);
        assert!(GkeVersion::parse("latest").is_none());
        assert_eq!(compare("1.31.4-gke.200", "1.31.4-gke.1000"), Ordering::Less);
        assert_eq!(compare("1.31.10-gke.1", "1.31.9-gke.900"), Ordering::Greater);
    }

    #[test]
    fn never_offers_a_node_version_newer_than_the_control_plane() {
        let valid = s(&["1.32.1-gke.100", "1.31.4-gke.2000000", "1.31.4-gke.1146000", "1.30.8-gke.10", "junk"]);
        assert_eq!(offered(&valid, "1.31.4-gke.1146000"), s(&["1.31.4-gke.1146000", "1.30.8-gke.10"]));
        assert!(offered(&valid, "garbage").is_empty());
    }

    #[test]
    fn resolves_aliases_to_the_newest_matching_build() {
        let offered = s(&["1.31.4-gke.1146000", "1.31.4-gke.900", "1.31.10-gke.5", "1.30.8-gke.10"]);
        assert_eq!(resolve("1.31.4", &offered).as_deref(), Some("1.31.4-gke.1146000"));
        assert_eq!(resolve("1.31.4-gke.900", &offered).as_deref(), Some("1.31.4-gke.900"));
        assert_eq!(resolve("1.31", &offered).as_deref(), Some("1.31.10-gke.5"));
        assert_eq!(resolve("1.29.1", &offered), None);
        assert!(matches("1.31.4", "1.31.4-gke.1146000"));
        assert!(!matches("1.31.4", "1.31.40-gke.1"));
        assert!(!matches("1.31.4", "1.30.8-gke.10"));
    }
}
