//! What an AMI tells about the kubelet it boots, and rewriting the pool label in launch template user data.

/// Image tag (and ASG tag) poolshift reads first for the kubelet version: `poolshift.io/kubernetes-version`.
pub const VERSION_TAG: &str = "poolshift.io/kubernetes-version";

/// The kubelet version an image boots: its `poolshift.io/kubernetes-version` tag, else the `k8s: X.Y.Z`
/// that EKS-optimized AMI descriptions carry, else the `-X.Y-` minor of an EKS AMI name.
pub fn kubelet_of_image(tag: Option<&str>, description: Option<&str>, name: Option<&str>) -> Option<String> {
    if let Some(t) = tag.map(str::trim).filter(|t| !t.is_empty()) {
        return Some(t.trim_start_matches('v').to_string());
    }
    if let Some(d) = description
        && let Some(i) = d.find("k8s: ")
    {
        let v: String = d[i + 5..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        if v.split('.').count() >= 2 && !v.ends_with('.') {
            return Some(v);
        }
    }
    let name = name?;
    if !name.starts_with("amazon-eks") {
        return None;
    }
    name.split('-')
        .find(|p| {
            let parts: Vec<&str> = p.split('.').collect();
            parts.len() == 2 && parts.iter().all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

fn is_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Replaces the node label `label` = `from` with `to` in bootstrap user data, in both its flag form
/// (`--node-labels=...,label=from,...`) and its YAML form (`label: from`). Returns `None` when the label
/// with that value does not occur.
pub fn rewrite_label(user_data: &str, label: &str, from: &str, to: &str) -> Option<String> {
    let mut out = String::with_capacity(user_data.len());
    let mut found = false;
    let mut rest = user_data;
    let patterns = [format!("{label}={from}"), format!("{label}: {from}"), format!("{label}: \"{from}\"")];
    'scan: while !rest.is_empty() {
        for (i, p) in patterns.iter().enumerate() {
            if let Some(after) = rest.strip_prefix(p.as_str())
                && after.chars().next().is_none_or(|c| !is_value_char(c))
            {
                out.push_str(&match i {
                    0 => format!("{label}={to}"),
                    1 => format!("{label}: {to}"),
                    _ => format!("{label}: \"{to}\""),
                });
                rest = after;
                found = true;
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    found.then_some(out)
}
