//! The plan id: a content hash of what a plan executes, so that a reviewer's approval names exactly one plan
//! and the checkpoint, `status` and the summary say which plan ran.
//!
//! Hashed: everything `upgrade` acts on or checks (cluster, pool, versions, green spec, policy, batches with
//! every pod's disposition, budgets, findings). Not hashed: the id itself, when the plan was made (two plans of
//! the same cluster state are the same plan), the report-only review, and `force_allowed` (a permission given
//! at run time with `--force`, not part of what was reviewed). A content hash identifies; it does not
//! authenticate: whoever can edit the file can recompute it.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::plan::{Batch, Finding, PlannedPdb, Target, UpgradePlan};
use super::policy::Policy;
use super::version::Version;
use poolshift_provider_api::{PoolDescription, PoolSpec};

/// Hex digits of the SHA-256 kept in the id: 64 bits, plenty to tell plans apart.
const ID_HEX_DIGITS: usize = 16;

#[derive(Serialize)]
struct Hashed<'a> {
    schema: u32,
    cluster: &'a str,
    pool: &'a str,
    control_plane: &'a Version,
    target: &'a Target,
    blue: &'a PoolDescription,
    green: &'a PoolSpec,
    policy: Policy,
    blue_nodes: &'a [String],
    batches: &'a [Batch],
    pdbs: &'a [PlannedPdb],
    findings: &'a [Finding],
}

/// The id of `plan` as it is now (whatever its `plan_id` field says).
pub fn compute(plan: &UpgradePlan) -> String {
    let policy = Policy { force_allowed: false, ..plan.policy.clone() };
    let hashed = Hashed {
        schema: plan.schema,
        cluster: &plan.cluster,
        pool: &plan.pool,
        control_plane: &plan.control_plane,
        target: &plan.target,
        blue: &plan.blue,
        green: &plan.green,
        policy,
        blue_nodes: &plan.blue_nodes,
        batches: &plan.batches,
        pdbs: &plan.pdbs,
        findings: &plan.findings,
    };
    let mut hasher = Sha256::new();
    // Writing into a hasher cannot fail, and these types always serialise (no maps with non-string keys).
    if let Err(e) = serde_json::to_writer(&mut hasher, &hashed) {
        tracing::error!(error = %e, "serialising a plan for its id failed");
    }
    let digest = hasher.finalize();
    let mut id = String::with_capacity(ID_HEX_DIGITS);
    for b in digest.iter().take(ID_HEX_DIGITS / 2) {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// Sets `plan_id` (and `planned_at`) on a freshly built plan.
pub fn stamp(plan: &mut UpgradePlan, planned_at: &str) {
    plan.planned_at = planned_at.to_string();
    plan.plan_id = compute(plan);
}

/// Does the plan's recorded id match its content?
pub fn verify(plan: &UpgradePlan) -> Result<(), String> {
    let actual = compute(plan);
    if plan.plan_id == actual { Ok(()) } else { Err(actual) }
}
