//! One test's share of a control plane: a prefix for its namespaces, pools and nodes, so tests of one binary
//! can run side by side on one control plane. When the test panics, the control plane's logs are kept.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::ControlPlane;

pub struct Scope<'a> {
    pub cp: &'a ControlPlane,
    /// A DNS label prefix such as `pause`, unique within the test process.
    pub prefix: String,
}

impl<'a> Scope<'a> {
    /// `prefix` must be a short DNS label (it prefixes namespaces and node names); each test uses its own.
    pub fn new(cp: &'a ControlPlane, prefix: &str) -> Scope<'a> {
        static TAKEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        let ok = !prefix.is_empty()
            && prefix.len() <= 12
            && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && prefix.starts_with(|c: char| c.is_ascii_lowercase());
        assert!(ok, "scope prefix {prefix:?}: use at most 12 characters of [a-z0-9-], starting with a letter");
        let fresh = TAKEN.lock().unwrap_or_else(|p| p.into_inner()).insert(prefix.to_string());
        assert!(fresh, "scope prefix {prefix:?} is used by another test of this binary");
        Scope { cp, prefix: prefix.to_string() }
    }

    /// `<prefix>-<name>`.
    pub fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("testenv: test scope {} failed", self.prefix);
            self.cp.keep_logs();
        }
    }
}
