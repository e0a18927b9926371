//! Parses request paths and query strings the way the apiserver lays them out.

use std::collections::HashMap;

use crate::store::kinds::resources;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`
    Resources {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
    Health,
    /// `/sim/...`: the simulator's own API (pools, faults, recorder).
    Sim(Vec<String>),
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub fn parse_path(path: &str) -> Route {
    let parts: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(percent_decode).collect();
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", v] => Route::Resources { group: String::new(), version: v.to_string() },
        ["api", v, rest @ ..] => resource("", v, rest),
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::Resources { group: g.to_string(), version: v.to_string() },
        ["apis", g, v, rest @ ..] => resource(g, v, rest),
        ["sim", rest @ ..] => Route::Sim(rest.iter().map(|s| s.to_string()).collect()),
        _ => Route::NotFound,
    }
}

fn is_namespaced_plural(group: &str, plural: &str) -> bool {
    resources().iter().any(|r| r.group == group && r.plural == plural && r.namespaced)
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let mk = |namespace: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            namespace: namespace.map(str::to_string),
            plural: plural.to_string(),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    };
    match rest {
        ["namespaces", ns, plural, tail @ ..] if is_namespaced_plural(group, plural) => match tail {
            [] => mk(Some(ns), plural, None, None),
            [name] => mk(Some(ns), plural, Some(name), None),
            [name, sub] => mk(Some(ns), plural, Some(name), Some(sub)),
            _ => Route::NotFound,
        },
        [plural] => mk(None, plural, None, None),
        [plural, name] => mk(None, plural, Some(name), None),
        [plural, name, sub] => mk(None, plural, Some(name), Some(sub)),
        _ => Route::NotFound,
    }
}

/// Decodes `%XX` escapes and `+` (query strings).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters, decoded.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")));
        }
        Self(map)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_namespaced_cluster_and_subresources() {
        let r = parse_path("/api/v1/namespaces/shop/pods/web-1/eviction");
        let Route::Resource(p) = r else { panic!("not a resource: {r:?}") };
        assert_eq!(
            (p.namespace.as_deref(), p.plural.as_str(), p.name.as_deref(), p.subresource.as_deref()),
            (Some("shop"), "pods", Some("web-1"), Some("eviction"))
        );
        let Route::Resource(p) = parse_path("/api/v1/namespaces/shop") else { panic!() };
        assert_eq!((p.plural.as_str(), p.name.as_deref(), p.namespace), ("namespaces", Some("shop"), None));
        let Route::Resource(p) = parse_path("/api/v1/namespaces/shop/status") else { panic!() };
        assert_eq!(
            (p.plural.as_str(), p.name.as_deref(), p.subresource.as_deref()),
            ("namespaces", Some("shop"), Some("status"))
        );
        let Route::Resource(p) = parse_path("/apis/policy/v1/poddisruptionbudgets") else { panic!() };
        assert_eq!((p.group.as_str(), p.plural.as_str(), p.namespace), ("policy", "poddisruptionbudgets", None));
        assert_eq!(parse_path("/apis/apps"), Route::Group("apps".into()));
    }

    #[test]
    fn decodes_query() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+%28a%29&watch=1&dryRun=All"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert!(q.dry_run());
    }
}
