//! How poolshift's versions map to EKS's.
//!
//! poolshift speaks kubelet versions `X.Y.Z`. EKS node groups have a Kubernetes `version` (`X.Y`, the minor)
//! and an AMI `releaseVersion`; for the Amazon Linux AMIs the release is `<kubelet X.Y.Z>-<build date>`
//! (`1.31.4-20250123`). So:
//! - `X.Y` asks for the minor only: `version = X.Y`, EKS picks its latest AMI release for it;
//! - `X.Y.Z` asks for a kubelet patch: `version = X.Y` and `releaseVersion` = the newest known release whose
//!   kubelet is `X.Y.Z` (known: the recommended releases EKS publishes in SSM, and the releases the cluster's
//!   node groups run);
//! - `X.Y.Z-<suffix>` is a release version given verbatim: `version = X.Y`, `releaseVersion` = it.

/// `1.31` from `1.31.4`, `1.31`, `v1.31.4-20250123`.
pub fn minor_of(version: &str) -> Option<String> {
    let core = version.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut it = core.split('.');
    let major: u32 = it.next()?.parse().ok()?;
    let minor: u32 = it.next()?.parse().ok()?;
    Some(format!("{major}.{minor}"))
}

/// The kubelet `X.Y.Z` of an Amazon Linux release version `X.Y.Z-YYYYMMDD`, if it is one.
pub fn kubelet_of_release(release: &str) -> Option<String> {
    let (core, _) = release.split_once('-')?;
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) {
        Some(core.to_string())
    } else {
        None
    }
}

/// What a target version asks EKS for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EksTarget {
    /// `X.Y`: the minor, latest AMI release.
    Minor(String),
    /// `X.Y.Z`: a kubelet patch, to map to a release version.
    Patch { minor: String, kubelet: String },
    /// A release version given verbatim.
    Release { minor: String, release: String },
}

pub fn parse_target(version: &str) -> Option<EksTarget> {
    let v = version.trim().trim_start_matches('v');
    let minor = minor_of(v)?;
    if v.contains('-') {
        return Some(EksTarget::Release { minor, release: v.to_string() });
    }
    match v.split('.').count() {
        2 => Some(EksTarget::Minor(minor)),
        3 => Some(EksTarget::Patch { minor, kubelet: v.to_string() }),
        _ => None,
    }
}

/// The newest release of kubelet `kubelet` among `releases` (release versions compare by their date suffix).
pub fn newest_release_for<'a>(kubelet: &str, releases: impl IntoIterator<Item = &'a String>) -> Option<String> {
    releases.into_iter().filter(|r| kubelet_of_release(r).as_deref() == Some(kubelet)).max().cloned()
}

/// The SSM parameter holding the recommended AMI release of `minor` for an EKS AMI type; `None` for AMI
/// types whose release is not a kubelet version (Bottlerocket, Windows) or that EKS does not build (CUSTOM).
pub fn ssm_release_parameter(ami_type: &str, minor: &str) -> Option<String> {
    let family = match ami_type {
        "AL2_x86_64" => "amazon-linux-2",
        "AL2_x86_64_GPU" => "amazon-linux-2-gpu",
        "AL2_ARM_64" => "amazon-linux-2-arm64",
        "AL2023_x86_64_STANDARD" => "amazon-linux-2023/x86_64/standard",
        "AL2023_ARM_64_STANDARD" => "amazon-linux-2023/arm64/standard",
        "AL2023_x86_64_NVIDIA" => "amazon-linux-2023/x86_64/nvidia",
        "AL2023_ARM_64_NVIDIA" => "amazon-linux-2023/arm64/nvidia",
        "AL2023_x86_64_NEURON" => "amazon-linux-2023/x86_64/neuron",
        _ => return None,
    };
    Some(format!("/aws/service/eks/optimized-ami/{minor}/{family}/recommended/release_version"))
}

/// The minors EKS lets node groups run on a control plane at `cp_minor`: it and up to 3 below.
pub fn allowed_minors(cp_minor: &str) -> Vec<String> {
    let Some((major, minor)) = cp_minor.split_once('.') else { return Vec::new() };
    let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) else { return Vec::new() };
    (minor.saturating_sub(3)..=minor).map(|m| format!("{major}.{m}")).collect()
}
