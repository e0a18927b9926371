//! poolshift providers for Amazon EKS:
//! - [`EksProvider`] (`eks`): EKS managed node groups, through the EKS API;
//! - [`AsgProvider`] (`asg`): self-managed node groups, i.e. EC2 Auto Scaling groups with launch templates.
//!
//! Both take credentials from the AWS SDK's default chain (environment, shared profile, IRSA web identity,
//! EKS Pod Identity / container credentials, instance metadata); `endpoint_url` points every call at
//! another endpoint (an emulator in tests). Throttling and 5xx answers are retried by the SDK's standard
//! retry mode (jittered exponential backoff); what still fails maps to [`poolshift_provider_api::ErrorKind`]
//! with AWS's code and message and a hint.

mod asg;
mod aws;
mod eks;
pub mod errors;
pub mod images;
mod settings;
pub mod versions;

use poolshift_provider_api::CreateToken;

pub use asg::{AsgProvider, FREEZE_PROCESSES, SUSPENDED_KEY, extra_keys as asg_extra_keys};
pub use aws::{default_loader, https_client};
pub use eks::{EksProvider, FROZEN_TAG as EKS_FROZEN_TAG, NODEGROUP_LABEL, extra_keys as eks_extra_keys};
pub use settings::{AsgSettings, DEFAULT_ASG_NODE_LABEL, EksSettings};

/// The idempotency token AWS receives for creating `name` in `cluster` in the attempt `token` (EKS
/// `clientRequestToken`, EC2 `ClientToken`, at most 64 ASCII characters): a retry of the same attempt sends
/// the same token, another attempt or run another one, so AWS never answers a new creation with the
/// remembered result of an earlier one (a node group a rollback deleted since).
pub fn token_for(cluster: &str, name: &str, token: &CreateToken) -> String {
    // FNV-1a, twice with different offsets: 128 bits, stable across builds and platforms.
    let fnv = |seed: u64| {
        let mut h = seed;
        let parts = cluster.bytes().chain([0u8]).chain(name.bytes()).chain([0u8]).chain(token.as_str().bytes());
        for b in parts {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    format!("poolshift-{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x6c62_272e_07bb_0142))
}
