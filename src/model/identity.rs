//! Typed identities of the objects the engine reasons about. Each prints as Kubernetes tools print it
//! (`shop/web-0`, `Deployment/shop/web`) and is serialized as that string, so plans and checkpoints read as
//! before; code compares and looks up by the typed fields, never by splitting a string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not the identity it should be (only when reading a plan or checkpoint file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?}: expected {expected}")]
pub struct IdentityError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

/// A namespaced object by namespace and name (a pod, a PDB).
macro_rules! namespaced {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name {
            pub namespace: String,
            pub name: String,
        }

        impl $name {
            pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
                Self { namespace: namespace.into(), name: name.into() }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}/{}", self.namespace, self.name)
            }
        }

        impl FromStr for $name {
            type Err = IdentityError;
            fn from_str(s: &str) -> Result<Self, IdentityError> {
                match s.split_once('/') {
                    Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                        Ok(Self::new(ns, name))
                    }
                    _ => Err(IdentityError { what: $what, value: s.to_string(), expected: "namespace/name" }),
                }
            }
        }

        as_string!($name);
    };
}

/// Serialized as its `Display` string, read back through `FromStr`.
macro_rules! as_string {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

namespaced!(
    /// A pod by namespace and name (with its UID it is a [`crate::ports::PodRef`]).
    PodKey,
    "pod"
);
namespaced!(
    /// A PodDisruptionBudget by namespace and name.
    PdbKey,
    "PodDisruptionBudget"
);

/// A pod's workload as the pod names it, within the pod's namespace: its controller's kind and name, or
/// for a ReplicaSet owned by a Deployment, the Deployment (`Deployment/web`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadRef {
    pub kind: String,
    pub name: String,
}

impl WorkloadRef {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Self { kind: kind.into(), name: name.into() }
    }

    /// This workload in namespace `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> WorkloadKey {
        WorkloadKey { kind: self.kind.clone(), namespace: namespace.to_string(), name: self.name.clone() }
    }
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl FromStr for WorkloadRef {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, IdentityError> {
        match s.split_once('/') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Self::new(kind, name))
            }
            _ => Err(IdentityError { what: "workload", value: s.to_string(), expected: "Kind/name" }),
        }
    }
}

as_string!(WorkloadRef);

/// A workload in the cluster: kind, namespace and name (`Deployment/shop/web`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadKey {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl WorkloadKey {
    pub fn new(kind: impl Into<String>, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { kind: kind.into(), namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for WorkloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

impl FromStr for WorkloadKey {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, IdentityError> {
        let mut parts = s.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(k), Some(ns), Some(n)) if !k.is_empty() && !ns.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok(Self::new(k, ns, n))
            }
            _ => Err(IdentityError { what: "workload", value: s.to_string(), expected: "Kind/namespace/name" }),
        }
    }
}

as_string!(WorkloadKey);

/// What a blocker is about: a pod, or a workload whose replacements did not come up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    Pod(PodKey),
    Workload(WorkloadKey),
}

impl Subject {
    pub fn pod(&self) -> Option<&PodKey> {
        match self {
            Subject::Pod(p) => Some(p),
            Subject::Workload(_) => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Pod(p) => p.fmt(f),
            Subject::Workload(w) => w.fmt(f),
        }
    }
}

impl FromStr for Subject {
    type Err = IdentityError;
    /// `namespace/name` is a pod, `Kind/namespace/name` a workload.
    fn from_str(s: &str) -> Result<Self, IdentityError> {
        match s.matches('/').count() {
            1 => s.parse().map(Subject::Pod),
            2 => s.parse().map(Subject::Workload),
            _ => Err(IdentityError {
                what: "blocker subject",
                value: s.to_string(),
                expected: "namespace/name or Kind/namespace/name",
            }),
        }
    }
}

as_string!(Subject);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_print_parse_and_serialize_as_kubernetes_names() {
        let pod = PodKey::new("shop", "web-0");
        assert_eq!(pod.to_string(), "shop/web-0");
        assert_eq!("shop/web-0".parse::<PodKey>(), Ok(pod.clone()));
        assert_eq!(serde_json::to_string(&pod).expect("json"), "\"shop/web-0\"");
        let w = WorkloadRef::new("Deployment", "web");
        assert_eq!(w.in_namespace("shop").to_string(), "Deployment/shop/web");
        assert_eq!(serde_json::from_str::<WorkloadRef>("\"Deployment/web\"").expect("json"), w);
        assert_eq!("Deployment/shop/web".parse::<Subject>(), Ok(Subject::Workload(w.in_namespace("shop"))));
        assert_eq!("shop/web-0".parse::<Subject>(), Ok(Subject::Pod(pod)));
    }

    #[test]
    fn malformed_identities_are_refused_with_what_was_expected() {
        for (bad, want) in [("web-0", "namespace/name"), ("/web-0", "namespace/name"), ("a/b/c", "namespace/name")] {
            let e = bad.parse::<PodKey>().expect_err(bad);
            assert!(e.to_string().contains(want), "{e}");
        }
        assert!("Deployment".parse::<WorkloadRef>().is_err());
        assert!("Deployment/shop/".parse::<WorkloadKey>().is_err());
        assert!(serde_json::from_str::<Subject>("\"a/b/c/d\"").is_err());
    }
}
