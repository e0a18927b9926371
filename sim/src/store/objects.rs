//! Create, update and delete with the apiserver's generic semantics: names and generateName, UIDs,
//! resourceVersion compare-and-swap, generation, status subresource, graceful deletion, finalizers,
//! preconditions and dry-run.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::kinds::{Kind, key_of};
use super::{EventType, State};
use crate::error::ApiError;

/// Which part of an object an update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: status changes are ignored when the kind has a status subresource.
    Main,
    /// The `/status` subresource: only status changes are kept.
    Status,
}

/// What DELETE (or an eviction) asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOpts {
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    /// `Orphan`, `Background`, `Foreground`.
    pub propagation: Option<String>,
    pub dry_run: bool,
}

/// Result of a DELETE.
#[derive(Debug, Clone)]
pub enum Deleted<K> {
    /// The object is gone.
    Gone(Arc<K>),
    /// Deletion started (grace period or finalizers): the object still exists with a deletionTimestamp.
    Terminating(Arc<K>),
}

impl<K> Deleted<K> {
    pub fn object(&self) -> &Arc<K> {
        match self {
            Deleted::Gone(o) | Deleted::Terminating(o) => o,
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl State {
    /// POST: creates `obj` in `ns` (ignored for cluster-scoped kinds).
    pub fn create<K: Kind>(&mut self, mut obj: K, ns: Option<&str>, dry_run: bool) -> Result<Arc<K>, ApiError> {
        let now = self.now;
        if K::NAMESPACED {
            let body_ns = obj.metadata().namespace.clone().filter(|n| !n.is_empty());
            let ns = match (ns, body_ns) {
                (Some(url), Some(body)) if url != body => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                (Some(url), _) => url.to_string(),
                (None, Some(body)) => body,
                (None, None) => "default".to_string(),
            };
            match self.namespaces.get("", &ns) {
                None => return Err(ApiError::not_found("", "namespaces", &ns)),
                Some(n) if n.metadata.deletion_timestamp.is_some() => {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        crate::error::qualified(K::GROUP, K::URL_PATH_SEGMENT),
                        obj.metadata().name.clone().unwrap_or_default()
                    ))
                    .with_details(serde_json::json!({"causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]})));
                }
                Some(_) => {}
            }
            obj.metadata_mut().namespace = Some(ns);
        } else {
            obj.metadata_mut().namespace = None;
        }
        let meta = obj.metadata_mut();
        if meta.name.as_deref().is_none_or(str::is_empty) {
            match meta.generate_name.clone().filter(|g| !g.is_empty()) {
                Some(prefix) => {
                    let suffix = self.random_suffix();
                    obj.metadata_mut().name = Some(format!("{prefix}{suffix}"));
                }
                None => {
                    return Err(ApiError::invalid(
                        K::GROUP,
                        K::KIND,
                        "",
                        &[("metadata.name", "Required value: name or generateName is required".into())],
                    ));
                }
            }
        }
        let name = obj.metadata().name.clone().unwrap_or_default();
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                K::GROUP,
                K::KIND,
                &name,
                &[(
                    "metadata.name",
                    format!(
                        "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                    ),
                )],
            ));
        }
        let problems = obj.validate();
        if !problems.is_empty() {
            return Err(ApiError::invalid(K::GROUP, K::KIND, &name, &problems));
        }
        let (ns_key, _) = key_of(&obj);
        if K::table(self).get(&ns_key, &name).is_some() {
            return Err(ApiError::already_exists(K::GROUP, K::URL_PATH_SEGMENT, &name));
        }
        let uid = self.next_uid();
        let generation = obj.spec_json().map(|_| 1);
        let meta = obj.metadata_mut();
        meta.uid = Some(uid);
        meta.creation_timestamp = Some(Time(now));
        meta.deletion_timestamp = None;
        meta.deletion_grace_period_seconds = None;
        meta.resource_version = None;
        meta.generation = generation;
        obj.default_on_create(self);
        if dry_run {
            return Ok(Arc::new(obj));
        }
        Ok(self.put(obj, EventType::Added))
    }

    /// PUT: replaces the stored object (main resource or status), with resourceVersion compare-and-swap.
    pub fn update<K: Kind>(&mut self, mut obj: K, part: Part, dry_run: bool) -> Result<Arc<K>, ApiError> {
        let (ns, name) = key_of(&obj);
        let Some(old) = K::table(self).get(&ns, &name).cloned() else {
            return Err(ApiError::not_found(K::GROUP, K::URL_PATH_SEGMENT, &name));
        };
        let om = old.metadata();
        if let Some(rv) = obj.metadata().resource_version.as_deref().filter(|r| !r.is_empty())
            && Some(rv) != om.resource_version.as_deref()
        {
            return Err(ApiError::conflict(K::GROUP, K::URL_PATH_SEGMENT, &name));
        }
        if let Some(uid) = obj.metadata().uid.as_deref().filter(|u| !u.is_empty())
            && Some(uid) != om.uid.as_deref()
        {
            return Err(ApiError::conflict_msg(
                K::GROUP,
                K::URL_PATH_SEGMENT,
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    om.uid.clone().unwrap_or_default()
                ),
            ));
        }
        let problems = obj.validate();
        if !problems.is_empty() {
            return Err(ApiError::invalid(K::GROUP, K::KIND, &name, &problems));
        }
        if part == Part::Status {
            let mut next = (*old).clone();
            next.take_status(&obj);
            obj = next;
        } else if K::HAS_STATUS {
            obj.take_status(&old);
        }
        let meta = obj.metadata_mut();
        meta.uid = om.uid.clone();
        meta.creation_timestamp = om.creation_timestamp.clone();
        meta.deletion_timestamp = om.deletion_timestamp.clone();
        meta.deletion_grace_period_seconds = om.deletion_grace_period_seconds;
        meta.namespace = om.namespace.clone();
        meta.generation = om.generation;
        if part == Part::Main && obj.spec_json() != old.spec_json() {
            obj.metadata_mut().generation = Some(om.generation.unwrap_or(0) + 1);
        }
        if dry_run {
            let mut o = obj;
            o.metadata_mut().resource_version = om.resource_version.clone();
            return Ok(Arc::new(o));
        }
        let finalizers_done = obj.metadata().finalizers.as_ref().is_none_or(Vec::is_empty);
        if om.deletion_timestamp.is_some() && finalizers_done && old.deletion_grace(None).is_none() {
            // The last finalizer was removed from an object being deleted: it goes now.
            self.put(obj, EventType::Modified);
            return self
                .remove::<K>(&ns, &name)
                .ok_or_else(|| ApiError::not_found(K::GROUP, K::URL_PATH_SEGMENT, &name));
        }
        Ok(self.put(obj, EventType::Modified))
    }

    /// DELETE: graceful for pods, immediate otherwise, held by finalizers.
    pub fn delete<K: Kind>(&mut self, ns: &str, name: &str, opts: &DeleteOpts) -> Result<Deleted<K>, ApiError> {
        let ns = if K::NAMESPACED { ns } else { "" };
        let Some(old) = K::table(self).get(ns, name).cloned() else {
            return Err(ApiError::not_found(K::GROUP, K::URL_PATH_SEGMENT, name));
        };
        let om = old.metadata();
        if let Some(uid) = &opts.precondition_uid
            && Some(uid) != om.uid.as_ref()
        {
            return Err(ApiError::conflict_msg(
                K::GROUP,
                K::URL_PATH_SEGMENT,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    om.uid.clone().unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && Some(rv) != om.resource_version.as_ref()
        {
            return Err(ApiError::conflict_msg(
                K::GROUP,
                K::URL_PATH_SEGMENT,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    om.resource_version.clone().unwrap_or_default()
                ),
            ));
        }
        let has_finalizers = om.finalizers.as_ref().is_some_and(|f| !f.is_empty());
        let grace = old.deletion_grace(opts.grace_period_seconds);
        if opts.dry_run {
            return Ok(match grace {
                Some(g) if g > 0 => Deleted::Terminating(old),
                _ if has_finalizers => Deleted::Terminating(old),
                _ => Deleted::Gone(old),
            });
        }
        if opts.propagation.as_deref() == Some("Orphan") {
            self.orphan_dependents(om.uid.as_deref().unwrap_or_default());
        }
        match grace {
            Some(g) if g > 0 => {
                let at = crate::clock::add(self.now, std::time::Duration::from_secs(g as u64));
                // A second DELETE may only shorten the grace period.
                if let Some(existing) = &om.deletion_timestamp
                    && existing.0 <= at
                {
                    return Ok(Deleted::Terminating(old));
                }
                let mut next = (*old).clone();
                next.metadata_mut().deletion_timestamp = Some(Time(at));
                next.metadata_mut().deletion_grace_period_seconds = Some(g);
                Ok(Deleted::Terminating(self.put(next, EventType::Modified)))
            }
            _ if has_finalizers => {
                if om.deletion_timestamp.is_some() {
                    return Ok(Deleted::Terminating(old));
                }
                let mut next = (*old).clone();
                next.metadata_mut().deletion_timestamp = Some(Time(self.now));
                next.metadata_mut().deletion_grace_period_seconds = Some(0);
                Ok(Deleted::Terminating(self.put(next, EventType::Modified)))
            }
            _ => self
                .remove::<K>(ns, name)
                .map(Deleted::Gone)
                .ok_or_else(|| ApiError::not_found(K::GROUP, K::URL_PATH_SEGMENT, name)),
        }
    }

    /// `propagationPolicy: Orphan`: dependents lose their owner reference instead of being collected.
    fn orphan_dependents(&mut self, uid: &str) {
        fn strip<K: Kind>(state: &mut State, uid: &str) {
            let owned: Vec<Arc<K>> = K::table(state)
                .iter()
                .filter(|o| o.metadata().owner_references.iter().flatten().any(|r| r.uid == uid))
                .cloned()
                .collect();
            for o in owned {
                let mut next = (*o).clone();
                if let Some(refs) = next.metadata_mut().owner_references.as_mut() {
                    refs.retain(|r| r.uid != uid);
                }
                state.put(next, EventType::Modified);
            }
        }
        if uid.is_empty() {
            return;
        }
        strip::<k8s_openapi::api::apps::v1::ReplicaSet>(self, uid);
        strip::<k8s_openapi::api::core::v1::Pod>(self, uid);
    }
}
