//! Kubernetes versions: lenient parsing (`v1.30.4-eks-abc`, `1.31`), ordering, skew rules, and the provider
//! releases a target may name (`1.31.4-20250123`, an EKS AMI release of kubelet 1.31.4).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest release a version carries (kept inline, so that versions stay `Copy`; 24 holds an EKS AMI
/// release date `20250123` and a GKE build `gke.1256000` with room, and keeps a version at 40 bytes).
pub const RELEASE_MAX: usize = 24;

/// A provider's build of a kubelet version, named after it: `20250123` in EKS's AMI release version
/// `1.31.4-20250123`. 1 to [`RELEASE_MAX`] characters of `[0-9A-Za-z.-]`, starting with a letter or digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Release {
    len: u8,
    bytes: [u8; RELEASE_MAX],
}

impl Release {
    pub fn new(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= RELEASE_MAX
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
        if !ok {
            return None;
        }
        let mut bytes = [0u8; RELEASE_MAX];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(Self { len: u8::try_from(s.len()).ok()?, bytes })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kubelet version, and for a target the provider release that names it (if any).
///
/// Equality, order and hashing are the kubelet version's: `1.31.4-20250123` is kubelet 1.31.4, equal to the
/// `1.31.4` a node reports. `Display` (and serde) write the release too, so a target keeps it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// Only a target names one; versions read from nodes and providers ([`FromStr`]) have none.
    pub release: Option<Release>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Kubernetes version {input:?}: expected MAJOR.MINOR[.PATCH] such as 1.31.4")]
pub struct VersionError {
    pub input: String,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch, release: None }
    }

    /// Minor versions between `self` and `newer` (`1.31` vs `1.28` is 3); negative when `self` is newer.
    pub fn minors_behind(&self, newer: &Version) -> i64 {
        (i64::from(newer.major) - i64::from(self.major)) * 100 + i64::from(newer.minor) - i64::from(self.minor)
    }

    pub fn same_minor(&self, other: &Version) -> bool {
        self.major == other.major && self.minor == other.minor
    }

    /// The provider release this version names (`20250123` of `1.31.4-20250123`).
    pub fn release(&self) -> Option<&str> {
        self.release.as_ref().map(Release::as_str)
    }

    /// The kubelet version alone.
    pub fn kubelet(&self) -> Version {
        Version::new(self.major, self.minor, self.patch)
    }

    /// A target as written: `X.Y.Z` (a leading `v` allowed), or a provider release of it `X.Y.Z-RELEASE`
    /// (`1.31.4-20250123`), which keeps its release. Anything else, `X.Y` included, is an error.
    pub fn parse_target(s: &str) -> Result<Self, VersionError> {
        let err = || VersionError { input: s.to_string() };
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let (core, release) = match t.split_once('-') {
            Some((core, r)) => (core, Some(Release::new(r).ok_or_else(err)?)),
            None => (t, None),
        };
        let parts: Vec<u32> = core.split('.').map(|p| p.parse::<u32>().map_err(|_| err())).collect::<Result<_, _>>()?;
        match parts[..] {
            [major, minor, patch] => Ok(Self { major, minor, patch, release }),
            _ => Err(err()),
        }
    }

    fn key(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl FromStr for Version {
    type Err = VersionError;

    /// Accepts `1.31.4`, `v1.31.4`, `1.31` (patch 0) and vendor suffixes (`v1.30.4-eks-2a1b`, `1.30.4-gke.100`),
    /// which are dropped: this reads the kubelet version nodes and providers report.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError { input: s.to_string() };
        let t = s.trim().trim_start_matches('v');
        let core = t.split(['-', '+']).next().unwrap_or("");
        let mut it = core.split('.');
        let num = |p: Option<&str>| p.and_then(|x| x.parse::<u32>().ok());
        let major = num(it.next()).ok_or_else(err)?;
        let minor = num(it.next()).ok_or_else(err)?;
        let patch = match it.next() {
            Some(p) => num(Some(p)).ok_or_else(err)?,
            None => 0,
        };
        if it.next().is_some() {
            return Err(err());
        }
        Ok(Self::new(major, minor, patch))
    }
}

/// Serde reads back what `Display` wrote, the release included; other text is read leniently.
impl TryFrom<String> for Version {
    type Error = VersionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Version::parse_target(&s).or_else(|_| s.parse())
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        match &self.release {
            Some(r) => write!(f, "-{r}"),
            None => Ok(()),
        }
    }
}

/// Why a kubelet version may not run against a control plane (Kubernetes version-skew policy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SkewError {
    #[error("kubelet {kubelet} would be newer than the control plane {control_plane}: upgrade the control plane first")]
    NewerThanControlPlane { kubelet: Version, control_plane: Version },
    #[error(
        "kubelet {kubelet} would be {behind} minor versions behind the control plane {control_plane} (at most {max})"
    )]
    TooOld { kubelet: Version, control_plane: Version, behind: i64, max: i64 },
}

/// How many minor versions a kubelet may lag the API server: 3 (2 before kubelet 1.25).
pub fn max_minors_behind(kubelet: &Version) -> i64 {
    if kubelet.major == 1 && kubelet.minor < 25 { 2 } else { 3 }
}

/// kubelet must not be newer than the apiserver, and at most 3 minors older (2 before kubelet 1.25).
pub fn check_skew(kubelet: &Version, control_plane: &Version) -> Result<(), SkewError> {
    let behind = kubelet.minors_behind(control_plane);
    if behind < 0 {
        return Err(SkewError::NewerThanControlPlane { kubelet: *kubelet, control_plane: *control_plane });
    }
    let max = max_minors_behind(kubelet);
    if behind > max {
        return Err(SkewError::TooOld { kubelet: *kubelet, control_plane: *control_plane, behind, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn parses_vendor_versions() {
        assert_eq!(v("v1.30.4-eks-2a1b3c"), Version::new(1, 30, 4));
        assert_eq!(v("1.30.4-gke.1348000"), Version::new(1, 30, 4));
        assert_eq!(v("1.31"), Version::new(1, 31, 0));
        assert!("1".parse::<Version>().is_err());
        assert!("one.two".parse::<Version>().is_err());
        assert!(v("1.30.10") > v("1.30.9"));
    }

    #[test]
    fn targets_keep_a_provider_release() {
        let t = Version::parse_target("v1.31.4-20250123").unwrap();
        assert_eq!((t.kubelet(), t.release()), (Version::new(1, 31, 4), Some("20250123")));
        assert_eq!(t.to_string(), "1.31.4-20250123");
        assert_eq!(Version::parse_target("1.31.4").unwrap().release(), None);
        for bad in [
            "1.31",
            "1.31.4-",
            "1.31.4-2025/01",
            "1.31.4--x",
            "1.x.4-20250123",
            &format!("1.31.4-{}", "9".repeat(RELEASE_MAX + 1)),
        ] {
            assert!(Version::parse_target(bad).is_err(), "{bad}");
        }
        // Read from a node or a provider, a vendor suffix is not a release.
        assert_eq!(v("1.31.4-20250123").release(), None);
        // A release names a build of its kubelet version: equal to it, ordered by it.
        assert_eq!(t, v("1.31.4"));
        assert!(t < v("1.31.5") && t > v("1.31.3"));
        // Serde keeps the release (the checkpoint's target), and reads lenient text as before.
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"1.31.4-20250123\"");
        let back: Version = serde_json::from_str(&json).unwrap();
        assert_eq!(back.release(), Some("20250123"));
        let old: Version = serde_json::from_str("\"1.31\"").unwrap();
        assert_eq!(old.to_string(), "1.31.0");
    }

    #[test]
    fn skew_policy_matches_semantics_scenario_38() {
        let cp = v("1.30.2");
        assert!(matches!(check_skew(&v("1.31.0"), &cp), Err(SkewError::NewerThanControlPlane { .. })));
        assert!(matches!(check_skew(&v("1.26.5"), &cp), Err(SkewError::TooOld { behind: 4, .. })));
        for ok in ["1.27.0", "1.28.3", "1.29.9", "1.30.0", "1.30.9"] {
            assert!(check_skew(&v(ok), &cp).is_ok(), "{ok}");
        }
        assert!(check_skew(&v("1.21.0"), &v("1.24.0")).is_err(), "kubelets before 1.25 may be only 2 minors behind");
    }
}
