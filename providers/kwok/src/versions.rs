//! Versions offered: kwok runs whatever kubelet version a node object claims, so the offer is the kubelet skew
//! policy around the control plane (or the list the settings give).

use poolshift_provider_api::OfferedVersions;

/// Highest patch generated for each minor.
pub(crate) const MAX_PATCH: u32 = 20;
/// Minors before the control plane's that kubelets may run (the skew policy since 1.25).
pub(crate) const MINORS_BEHIND: u32 = 3;

/// `major.minor.patch` of the API server's `/version`: from `gitVersion` (`v1.34.2`, `v1.34.2+k3s1`), else
/// from `major` and `minor` (`"1"`, `"34+"`) with patch 0.
pub(crate) fn control_plane(git_version: &str, major: &str, minor: &str) -> Option<(u32, u32, u32)> {
    let digits = |s: &str| -> Option<u32> {
        let d: String = s.chars().take_while(char::is_ascii_digit).collect();
        d.parse().ok()
    };
    let core = git_version.trim().trim_start_matches('v').split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if let [ma, mi, pa] = parts.as_slice()
        && let (Ok(ma), Ok(mi), Ok(pa)) = (ma.parse(), mi.parse(), pa.parse())
    {
        return Some((ma, mi, pa));
    }
    Some((digits(major)?, digits(minor)?, 0))
}

/// The offer: the settings' list when it has versions, else every patch `0..=MAX_PATCH` of the `MINORS_BEHIND`
/// minors before the control plane's, and of its own minor up to its own patch (a kubelet is never newer than
/// the API server).
pub(crate) fn offered((major, minor, patch): (u32, u32, u32), listed: &[String]) -> OfferedVersions {
    let node_versions = if listed.is_empty() {
        (minor.saturating_sub(MINORS_BEHIND)..=minor)
            .flat_map(|m| {
                let last = if m == minor { patch } else { MAX_PATCH };
                (0..=last).map(move |p| format!("{major}.{m}.{p}"))
            })
            .collect()
    } else {
        listed.iter().map(|v| v.trim().trim_start_matches('v').to_string()).collect()
    };
    OfferedVersions { control_plane: format!("{major}.{minor}.{patch}"), node_versions }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_plane_versions_are_read_with_vendor_suffixes() {
        assert_eq!(control_plane("v1.34.2", "1", "34"), Some((1, 34, 2)));
        assert_eq!(control_plane("v1.33.5+k3s1", "1", "33"), Some((1, 33, 5)));
        assert_eq!(control_plane("v1.31.4-eks-2a1b", "1", "31+"), Some((1, 31, 4)));
        assert_eq!(control_plane("", "1", "30+"), Some((1, 30, 0)));
        assert_eq!(control_plane("weird", "", ""), None);
    }

    #[test]
    fn generated_offer_is_four_minors_of_twenty_one_patches() {
        let o = offered((1, 34, 2), &[]);
        assert_eq!(o.control_plane, "1.34.2");
        assert_eq!(o.node_versions.len(), 3 * 21 + 3);
        assert_eq!(o.node_versions.first().map(String::as_str), Some("1.31.0"));
        assert_eq!(o.node_versions.last().map(String::as_str), Some("1.34.2"), "never newer than the API server");
        assert!(o.node_versions.contains(&"1.32.7".to_string()));
        assert!(!o.node_versions.iter().any(|v| v.starts_with("1.30.") || v.starts_with("1.35.")));
        // Near minor 0 the range stops at 0.
        let low = offered((1, 1, 0), &[]);
        assert_eq!(low.node_versions.len(), 21 + 1);
        assert_eq!(low.node_versions[0], "1.0.0");
    }

    #[test]
    fn a_listed_offer_is_used_as_given() {
        let o = offered((1, 34, 2), &["1.33.1".into(), "v1.34.0".into()]);
        assert_eq!(o.node_versions, ["1.33.1", "1.34.0"]);
        assert_eq!(o.control_plane, "1.34.2");
    }
}
