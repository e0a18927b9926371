//! Kubernetes versions: lenient parsing (`v1.30.4-eks-abc`, `1.31`), ordering, skew rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Kubernetes version {input:?}: expected MAJOR.MINOR[.PATCH] such as 1.31.4")]
pub struct VersionError {
    pub input: String,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch }
    }

    /// Minor versions between `self` and `newer` (`1.31` vs `1.28` is 3); negative when `self` is newer.
    pub fn minors_behind(&self, newer: &Version) -> i64 {
        (i64::from(newer.major) - i64::from(self.major)) * 100 + i64::from(newer.minor) - i64::from(self.minor)
    }

    pub fn same_minor(&self, other: &Version) -> bool {
        self.major == other.major && self.minor == other.minor
    }
}

impl FromStr for Version {
    type Err = VersionError;

    /// Accepts `1.31.4`, `v1.31.4`, `1.31` (patch 0) and vendor suffixes (`v1.30.4-eks-2a1b`, `1.30.4-gke.100`).
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
        Ok(Self { major, minor, patch })
    }
}

impl TryFrom<String> for Version {
    type Error = VersionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
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
