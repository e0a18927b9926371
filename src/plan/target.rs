//! Target version resolution: `latest-patch`, `next-minor` (with a maturity rule) or an explicit version,
//! checked against what the provider offers and the version-skew policy. An explicit version may name a
//! provider release of it (`1.31.4-20250123`, an EKS AMI release): the kubelet version is checked, and the
//! release goes to the green pool's spec as written.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::plan::Target;
use crate::model::version::{SkewError, Version, VersionError, check_skew};

/// Only move to minor N once N.<maturity> exists (operators wait for the first patches).
pub const DEFAULT_MATURITY: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TargetPolicy {
    LatestPatch,
    NextMinor { maturity: u32 },
    Exact(Version),
}

impl FromStr for TargetPolicy {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "latest-patch" => Ok(TargetPolicy::LatestPatch),
            "next-minor" => Ok(TargetPolicy::NextMinor { maturity: DEFAULT_MATURITY }),
            // A release suffix is kept (`1.31.4-20250123`); otherwise as lenient as any version (`1.31`).
            other => Version::parse_target(other).or_else(|_| other.parse()).map(TargetPolicy::Exact),
        }
    }
}

impl TryFrom<String> for TargetPolicy {
    type Error = VersionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TargetPolicy> for String {
    fn from(t: TargetPolicy) -> String {
        t.to_string()
    }
}

impl fmt::Display for TargetPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetPolicy::LatestPatch => f.write_str("latest-patch"),
            TargetPolicy::NextMinor { .. } => f.write_str("next-minor"),
            TargetPolicy::Exact(v) => write!(f, "{v}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("pool is already at {current}, the newest version {policy} allows: nothing to do")]
    UpToDate { current: Version, policy: String },
    #[error("no {minor} release is mature yet (policy next-minor waits for {minor}.{maturity}); offered: {offered}")]
    NotMature { minor: String, maturity: u32, offered: String },
    #[error("version {wanted} is not offered by the provider; offered node versions: {offered}")]
    NotOffered { wanted: Version, offered: String },
    #[error("target {target} is older than the pool's current version {current}: poolshift does not downgrade")]
    Downgrade { target: Version, current: Version },
    #[error(transparent)]
    Skew(#[from] SkewError),
}

fn list(vs: &[Version]) -> String {
    if vs.is_empty() { "(none)".into() } else { vs.iter().map(Version::to_string).collect::<Vec<_>>().join(", ") }
}

/// Picks the target for a pool at `current` on a control plane at `control_plane`.
pub fn resolve(
    policy: &TargetPolicy,
    current: Version,
    control_plane: Version,
    offered: &[Version],
) -> Result<Target, TargetError> {
    let mut offered: Vec<Version> = offered.to_vec();
    offered.sort();
    offered.dedup();
    let (version, reason) = match policy {
        TargetPolicy::LatestPatch => {
            let newest = offered.iter().filter(|v| v.same_minor(&current)).max().copied();
            match newest {
                Some(v) if v > current => (v, format!("newest patch of {}.{} offered", current.major, current.minor)),
                _ => return Err(TargetError::UpToDate { current, policy: policy.to_string() }),
            }
        }
        TargetPolicy::NextMinor { maturity } => {
            let next = Version::new(current.major, current.minor + 1, 0);
            let in_minor: Vec<Version> = offered.iter().filter(|v| v.same_minor(&next)).copied().collect();
            match in_minor.iter().max() {
                Some(v) if v.patch >= *maturity => (
                    *v,
                    format!(
                        "newest patch of the next minor {}.{} (mature: .{} or later exists)",
                        next.major, next.minor, maturity
                    ),
                ),
                _ => {
                    return Err(TargetError::NotMature {
                        minor: format!("{}.{}", next.major, next.minor),
                        maturity: *maturity,
                        offered: list(&offered),
                    });
                }
            }
        }
        TargetPolicy::Exact(v) => {
            // Offered, older, newer: by kubelet version (a release names a build of one).
            if !offered.is_empty() && !offered.contains(v) {
                return Err(TargetError::NotOffered { wanted: *v, offered: list(&offered) });
            }
            if *v < current {
                return Err(TargetError::Downgrade { target: *v, current });
            }
            match v.release() {
                // Another build of blue's kubelet (a new AMI) is a move too.
                Some(r) => (*v, format!("explicit release {r} of kubelet {} requested", v.kubelet())),
                None if *v == current => return Err(TargetError::UpToDate { current, policy: policy.to_string() }),
                None => (*v, "explicit version requested".to_string()),
            }
        }
    };
    check_skew(&version, &control_plane)?;
    Ok(Target { version, policy: policy.to_string(), reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn offered() -> Vec<Version> {
        ["1.29.9", "1.30.2", "1.30.8", "1.31.0", "1.31.1", "1.31.4", "1.32.1"].iter().map(|s| v(s)).collect()
    }

    #[test]
    fn latest_patch_and_up_to_date() {
        let t = resolve(&TargetPolicy::LatestPatch, v("1.30.2"), v("1.31.4"), &offered()).unwrap();
        assert_eq!(t.version, v("1.30.8"));
        let e = resolve(&TargetPolicy::LatestPatch, v("1.30.8"), v("1.31.4"), &offered()).unwrap_err();
        assert!(matches!(e, TargetError::UpToDate { .. }));
    }

    #[test]
    fn next_minor_waits_for_maturity_and_respects_skew() {
        let t = resolve(&"next-minor".parse().unwrap(), v("1.30.8"), v("1.31.4"), &offered()).unwrap();
        assert_eq!(t.version, v("1.31.4"));
        // 1.32 has only .1: not mature.
        let e = resolve(&"next-minor".parse().unwrap(), v("1.31.4"), v("1.32.1"), &offered()).unwrap_err();
        assert!(matches!(e, TargetError::NotMature { .. }), "{e}");
        // Explicit 1.32.1 on a 1.31 control plane: kubelet newer than the apiserver.
        let e = resolve(&TargetPolicy::Exact(v("1.32.1")), v("1.31.4"), v("1.31.4"), &offered()).unwrap_err();
        assert!(matches!(e, TargetError::Skew(SkewError::NewerThanControlPlane { .. })), "{e}");
        let e = resolve(&TargetPolicy::Exact(v("1.30.5")), v("1.30.2"), v("1.31.4"), &offered()).unwrap_err();
        assert!(matches!(e, TargetError::NotOffered { .. }));
    }

    #[test]
    fn an_exact_release_is_kept_and_checked_by_its_kubelet() {
        let policy: TargetPolicy = "1.31.4-20250123".parse().unwrap();
        assert_eq!(policy.to_string(), "1.31.4-20250123");
        let t = resolve(&policy, v("1.30.8"), v("1.31.4"), &offered()).unwrap();
        assert_eq!(t.version.to_string(), "1.31.4-20250123", "the release reaches the plan");
        assert_eq!(t.version.release(), Some("20250123"));
        assert_eq!(t.policy, "1.31.4-20250123");
        // A new build of blue's own kubelet is a move (a new AMI), not "up to date".
        let t = resolve(&policy, v("1.31.4"), v("1.31.4"), &offered()).unwrap();
        assert_eq!(t.reason, "explicit release 20250123 of kubelet 1.31.4 requested");
        // Its kubelet must be offered, not older than blue's, within the skew.
        let e = resolve(&"1.31.2-20250101".parse().unwrap(), v("1.30.8"), v("1.31.4"), &offered()).unwrap_err();
        assert!(matches!(e, TargetError::NotOffered { .. }), "{e}");
        let e = resolve(&"1.29.9-20250101".parse().unwrap(), v("1.30.8"), v("1.31.4"), &offered()).unwrap_err();
        assert!(matches!(e, TargetError::Downgrade { .. }), "{e}");
        let e = resolve(&"1.32.1-20250101".parse().unwrap(), v("1.31.4"), v("1.31.4"), &offered()).unwrap_err();
        assert!(matches!(e, TargetError::Skew(_)), "{e}");
        // The exact version alone stays as it was.
        let e = resolve(&TargetPolicy::Exact(v("1.31.4")), v("1.31.4"), v("1.31.4"), &offered()).unwrap_err();
        assert!(matches!(e, TargetError::UpToDate { .. }), "{e}");
    }
}
