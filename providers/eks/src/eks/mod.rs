//! `eks`: EKS managed node groups through the EKS API.
//!
//! - describe: DescribeNodegroup of blue; the clone-relevant settings that [`PoolDescription`] has no field
//!   for travel in `extra` (keys in [`extra_keys`]), so the checkpointed [`PoolSpec`] holds all of them.
//! - versions: the control plane is DescribeCluster's `version`; node versions are the AMI release versions
//!   (`1.31.4-20250123`, which poolshift reads as kubelet 1.31.4) that can be discovered for the control plane
//!   minor and the 3 below it (EKS's skew rule): the recommended release of each of those minors for every
//!   Amazon Linux AMI type used in the cluster, from the SSM parameters EKS publishes, and the releases the
//!   cluster's node groups run. See [`crate::versions`] for the mapping back to `version`/`releaseVersion`.
//! - create: CreateNodegroup cloned from the spec, idempotent by name (and by `clientRequestToken`).
//! - freeze/restore: UpdateNodegroupConfig of `scalingConfig` (min = max = desired, then the recorded values).
//!   The sizes from before the first freeze are also recorded in the node group's `poolshift.io/frozen` tag
//!   (TagResource), so freezing a frozen group (a new run after one aborted with blue frozen) returns them, not
//!   the frozen ones; restore removes the tag (UntagResource).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{ConfigLoader, SdkConfig};
use aws_sdk_eks::types::{
    CapacityTypes, LaunchTemplateSpecification, Nodegroup, NodegroupScalingConfig, NodegroupStatus,
    NodegroupUpdateConfig, RemoteAccessConfig, Taint as EksTaint,
};
use backon::{ExponentialBuilder, Retryable};
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSize,
    PoolSpec, PoolState, PoolStatus, Provider, ProviderError,
};
use tracing::{debug, warn};

use crate::errors::{CallContext, code, sdk_error};
use crate::settings::EksSettings;
use crate::versions::{
    EksTarget, allowed_minors, kubelet_of_release, minor_of, newest_release_for, parse_target, ssm_release_parameter,
};
use crate::{aws, token_for};

mod shape;
use shape::*;

const KIND: &str = "eks";
/// The label EKS puts on every node of a managed node group.
pub const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// Keys of [`PoolDescription::extra`] / [`PoolSpec::extra`] for the settings cloned verbatim.
pub mod extra_keys {
    /// Comma-separated subnet ids.
    pub const SUBNETS: &str = "subnets";
    pub const NODE_ROLE: &str = "node_role";
    pub const AMI_TYPE: &str = "ami_type";
    /// EKS's capacity type verbatim (`ON_DEMAND`, `SPOT`, `CAPACITY_BLOCK`).
    pub const CAPACITY_TYPE: &str = "capacity_type";
    pub const LAUNCH_TEMPLATE_ID: &str = "launch_template_id";
    pub const LAUNCH_TEMPLATE_NAME: &str = "launch_template_name";
    pub const LAUNCH_TEMPLATE_VERSION: &str = "launch_template_version";
    pub const SSH_KEY: &str = "remote_access_ssh_key";
    /// Comma-separated security group ids.
    pub const SSH_SECURITY_GROUPS: &str = "remote_access_security_groups";
    pub const MAX_UNAVAILABLE: &str = "max_unavailable";
    pub const MAX_UNAVAILABLE_PERCENTAGE: &str = "max_unavailable_percentage";
    /// Blue's Kubernetes minor and AMI release (informational).
    pub const KUBERNETES_VERSION: &str = "kubernetes_version";
    pub const RELEASE_VERSION: &str = "release_version";
    /// Prefix of node group tags: `tag:<key>`.
    pub const TAG_PREFIX: &str = "tag:";
}
use extra_keys as x;

/// Tags poolshift adds to the node groups it creates.
pub(crate) const SOURCE_TAG: &str = "poolshift.io/source";
pub(crate) const VERSION_TAG: &str = "poolshift.io/version";
/// Tag recording a frozen group's sizes from before the freeze (`min=2 max=9 desired=5`).
pub const FROZEN_TAG: &str = "poolshift.io/frozen";

#[derive(Clone)]
pub struct EksProvider {
    cluster: String,
    eks: aws_sdk_eks::Client,
    ssm: aws_sdk_ssm::Client,
    ec2: aws_sdk_ec2::Client,
    /// Bounds the wait for an in-progress node group update before a scaling change (ResourceInUse).
    busy_retries: usize,
    /// Endpoint and attempts, for error messages.
    aws: CallContext,
}

impl EksProvider {
    /// A provider for `settings.cluster`, with credentials from the default AWS chain.
    pub async fn new(settings: EksSettings) -> Result<Self, ProviderError> {
        Self::with_loader(settings, aws::default_loader()).await
    }

    /// As [`EksProvider::new`], starting from a caller's loader (credentials, retry and timeout settings);
    /// the settings' region, profile and endpoint are applied on top.
    pub async fn with_loader(settings: EksSettings, loader: ConfigLoader) -> Result<Self, ProviderError> {
        aws::require_cluster(KIND, &settings.cluster)?;
        let conf =
            aws::load(KIND, loader, &settings.region, settings.profile.as_deref(), settings.endpoint_url.as_deref())
                .await?;
        Ok(Self::from_sdk_config(&conf, &settings.cluster))
    }

    pub fn from_sdk_config(conf: &SdkConfig, cluster: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
            eks: aws_sdk_eks::Client::new(conf),
            ssm: aws_sdk_ssm::Client::new(conf),
            ec2: aws_sdk_ec2::Client::new(conf),
            busy_retries: 8,
            aws: CallContext::new(KIND, conf),
        }
    }

    fn err(&self, op: &str, kind: ErrorKind, msg: impl Into<String>) -> ProviderError {
        ProviderError::new(KIND, op, kind, msg)
    }

    /// DescribeNodegroup; `None` when the node group does not exist (a missing cluster is an error).
    async fn nodegroup(&self, op: &str, name: &str) -> Result<Option<Nodegroup>, ProviderError> {
        let res = self.eks.describe_nodegroup().cluster_name(&self.cluster).nodegroup_name(name).send().await;
        match res {
            Ok(out) => Ok(out.nodegroup),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => {
                let msg = aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&e).unwrap_or("");
                if is_cluster_missing(msg) {
                    Err(self.err(op, ErrorKind::NotFound, format!("EKS cluster {}: {msg}", self.cluster)).with_hint(
                        "check provider.cluster and provider.region in the cluster config, and the credentials' account",
                    ))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(sdk_error(&self.aws, op, &e)),
        }
    }

    async fn require_nodegroup(&self, op: &str, name: &str) -> Result<Nodegroup, ProviderError> {
        self.nodegroup(op, name).await?.ok_or_else(|| {
            self.err(op, ErrorKind::NotFound, format!("node group {name} not found in cluster {}", self.cluster))
                .with_hint("check the pool name: it is the EKS managed node group's name")
        })
    }

    /// Availability zones of subnets (best effort: zones are informational, subnets are what is cloned).
    async fn zones_of(&self, subnets: &[String]) -> Vec<String> {
        if subnets.is_empty() {
            return Vec::new();
        }
        match self.ec2.describe_subnets().set_subnet_ids(Some(subnets.to_vec())).send().await {
            Ok(out) => {
                let zones: BTreeSet<String> =
                    out.subnets().iter().filter_map(|s| s.availability_zone().map(str::to_string)).collect();
                zones.into_iter().collect()
            }
            Err(e) => {
                warn!(error = %sdk_error(&self.aws, "describe", &e), "cannot resolve the zones of the node group's subnets");
                Vec::new()
            }
        }
    }

    async fn cluster_minor(&self, op: &str) -> Result<String, ProviderError> {
        let out =
            self.eks.describe_cluster().name(&self.cluster).send().await.map_err(|e| sdk_error(&self.aws, op, &e))?;
        out.cluster()
            .and_then(|c| c.version())
            .map(str::to_string)
            .ok_or_else(|| self.err(op, ErrorKind::Failed, format!("cluster {} has no version", self.cluster)))
    }

    async fn nodegroup_names(&self, op: &str) -> Result<Vec<String>, ProviderError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .eks
                .list_nodegroups()
                .cluster_name(&self.cluster)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error(&self.aws, op, &e))?;
            names.extend(out.nodegroups().iter().cloned());
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(names)
    }

    /// Release versions known for the allowed minors: SSM's recommended ones for `ami_types`, and those of
    /// the cluster's node groups (`(release, ami type)` pairs, from one ListNodegroups walk).
    async fn known_releases(
        &self,
        op: &str,
        minors: &[String],
        only_ami_type: Option<&str>,
    ) -> Result<BTreeSet<String>, ProviderError> {
        let mut releases = BTreeSet::new();
        let mut ami_types = BTreeSet::new();
        if let Some(t) = only_ami_type {
            ami_types.insert(t.to_string());
        }
        for name in self.nodegroup_names(op).await? {
            let Some(ng) = self.nodegroup(op, &name).await? else { continue };
            let ami = ng.ami_type().map(|a| a.as_str().to_string()).unwrap_or_default();
            if only_ami_type.is_some_and(|t| t != ami) {
                continue;
            }
            if let (Some(r), Some(v)) = (ng.release_version(), ng.version())
                && minors.iter().any(|m| m == v)
                && kubelet_of_release(r).is_some()
                && ssm_release_parameter(&ami, v).is_some()
            {
                releases.insert(r.to_string());
            }
            if only_ami_type.is_none() {
                ami_types.insert(ami);
            }
        }
        'types: for ami in &ami_types {
            for minor in minors {
                let Some(param) = ssm_release_parameter(ami, minor) else { continue };
                match self.ssm.get_parameter().name(&param).send().await {
                    Ok(out) => {
                        if let Some(v) = out.parameter().and_then(|p| p.value()) {
                            releases.insert(v.trim().to_string());
                        }
                    }
                    Err(e) if code(&e) == Some("ParameterNotFound") => debug!(param, "no such SSM parameter"),
                    Err(e) => {
                        let e = sdk_error(&self.aws, op, &e);
                        if e.kind == ErrorKind::Transient {
                            return Err(e);
                        }
                        // Without ssm:GetParameter the node groups' own releases are all that is known.
                        warn!(error = %e, "cannot read EKS AMI release versions from SSM");
                        break 'types;
                    }
                }
            }
        }
        Ok(releases)
    }

    /// EKS's `version` and `releaseVersion` for a target, see [`crate::versions`].
    async fn resolve_target(
        &self,
        spec: &PoolSpec,
        target: &EksTarget,
    ) -> Result<(String, Option<String>), ProviderError> {
        let target = target.clone();
        let ami_type = spec.extra.get(x::AMI_TYPE).map(String::as_str).unwrap_or("");
        match target {
            EksTarget::Minor(minor) => Ok((minor, None)),
            EksTarget::Release { minor, release } => Ok((minor, Some(release))),
            EksTarget::Patch { minor, kubelet } => {
                if ami_type == "CUSTOM" {
                    return Err(self
                        .err(
                            "create",
                            ErrorKind::Invalid,
                            format!("node group {} boots a custom AMI from its launch template", spec.source),
                        )
                        .with_hint("EKS cannot change a custom AMI's version: use the asg provider's image mapping"));
                }
                if ssm_release_parameter(ami_type, &minor).is_none() {
                    // Bottlerocket / Windows releases are not kubelet versions: the minor is all EKS takes.
                    return Ok((minor, None));
                }
                let releases = self.known_releases("create", std::slice::from_ref(&minor), Some(ami_type)).await?;
                match newest_release_for(&kubelet, &releases) {
                    Some(r) => Ok((minor, Some(r))),
                    None => Err(self
                        .err(
                            "create",
                            ErrorKind::Invalid,
                            format!(
                                "no {ami_type} AMI release with kubelet {kubelet} is known; known releases of {minor}: {}",
                                releases.iter().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        )
                        .with_hint("target an offered version, or give the release version (X.Y.Z-YYYYMMDD)")),
                }
            }
        }
    }

    fn arn_of<'a>(&self, op: &str, pool: &str, ng: &'a Nodegroup) -> Result<&'a str, ProviderError> {
        ng.nodegroup_arn().ok_or_else(|| {
            self.err(
                op,
                ErrorKind::Failed,
                format!("DescribeNodegroup of {pool} answered without the node group's ARN"),
            )
        })
    }

    /// Records `prior` in the node group's [`FROZEN_TAG`].
    async fn tag_frozen(&self, pool: &str, ng: &Nodegroup, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        let arn = self.arn_of("freeze", pool, ng)?;
        self.eks
            .tag_resource()
            .resource_arn(arn)
            .tags(FROZEN_TAG, encode_frozen(prior.size))
            .send()
            .await
            .map_err(|e| sdk_error(&self.aws, "freeze", &e))?;
        Ok(())
    }

    /// UpdateNodegroupConfig of the scaling config, waiting out an update in progress (ResourceInUse).
    async fn set_scaling(&self, op: &str, pool: &str, size: PoolSize) -> Result<(), ProviderError> {
        let scaling = NodegroupScalingConfig::builder()
            .min_size(to_i32(size.min))
            .max_size(to_i32(size.max))
            .desired_size(to_i32(size.desired))
            .build();
        let call = || async {
            self.eks
                .update_nodegroup_config()
                .cluster_name(&self.cluster)
                .nodegroup_name(pool)
                .scaling_config(scaling.clone())
                .send()
                .await
        };
        call.retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_secs(2))
                .with_max_delay(Duration::from_secs(30))
                .with_max_times(self.busy_retries)
                .with_jitter(),
        )
        .when(|e| code(e) == Some("ResourceInUseException"))
        .await
        .map_err(|e| sdk_error(&self.aws, op, &e))?;
        Ok(())
    }
}

#[async_trait]
impl Provider for EksProvider {
    fn kind(&self) -> &str {
        KIND
    }

    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        let ng = self.require_nodegroup("describe", pool).await?;
        let zones = self.zones_of(ng.subnets()).await;
        Ok(describe(&ng, pool, zones))
    }

    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        let cp = self.cluster_minor("versions").await?;
        let minors = allowed_minors(&cp);
        let releases = self.known_releases("versions", &minors, None).await?;
        let node_versions: Vec<String> =
            releases.into_iter().filter(|r| minor_of(r).is_some_and(|m| minors.contains(&m))).collect();
        Ok(OfferedVersions { control_plane: cp, node_versions })
    }

    async fn create_pool(&self, spec: &PoolSpec, token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        let target = parse_target(&spec.version).ok_or_else(|| {
            self.err("create", ErrorKind::Invalid, format!("invalid version {:?}", spec.version))
                .with_hint("use X.Y, X.Y.Z or an EKS AMI release version such as 1.31.4-20250123")
        })?;
        // An existing group of that name is ours if it runs what the target asks for.
        let conflict = |ng: &Nodegroup| -> Option<ProviderError> {
            let minor = ng.version().unwrap_or_default();
            let release = ng.release_version().unwrap_or_default();
            let same = match &target {
                EksTarget::Minor(m) => minor == m,
                EksTarget::Patch { minor: m, kubelet } => {
                    minor == m && kubelet_of_release(release).as_deref() == Some(kubelet.as_str())
                }
                EksTarget::Release { minor: m, release: r } => minor == m && release == r,
            };
            (!same).then(|| {
                self.err(
                    "create",
                    ErrorKind::Conflict,
                    format!(
                        "node group {} already exists at version {minor} (release {release}), not {}",
                        spec.name, spec.version
                    ),
                )
                .with_hint("delete that node group or target its version")
            })
        };
        if let Some(ng) = self.nodegroup("create", &spec.name).await? {
            return match conflict(&ng) {
                Some(e) => Err(e),
                None => Ok(status_of(&spec.name, &ng)),
            };
        }
        let (version, release) = self.resolve_target(spec, &target).await?;

        let subnets = split(spec.extra.get(x::SUBNETS));
        let Some(node_role) = spec.extra.get(x::NODE_ROLE) else {
            return Err(self
                .err("create", ErrorKind::Invalid, format!("the spec of {} has no node role", spec.name))
                .with_hint("derive the spec from a described EKS node group"));
        };
        if subnets.is_empty() {
            return Err(self
                .err("create", ErrorKind::Invalid, format!("the spec of {} has no subnets", spec.name))
                .with_hint("derive the spec from a described EKS node group"));
        }
        let mut tags: HashMap<String, String> = spec
            .extra
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(x::TAG_PREFIX).map(|k| (k.to_string(), v.clone())))
            .collect();
        tags.insert(SOURCE_TAG.into(), spec.source.clone());
        tags.insert(VERSION_TAG.into(), spec.version.clone());
        let labels: HashMap<String, String> = spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let taints: Vec<EksTaint> = spec
            .taints
            .iter()
            .map(|t| {
                EksTaint::builder().key(&t.key).set_value(t.value.clone()).effect(effect_to_eks(&t.effect)).build()
            })
            .collect();
        let capacity = match (spec.capacity_type, spec.extra.get(x::CAPACITY_TYPE).map(String::as_str)) {
            (CapacityType::Spot, _) => CapacityTypes::Spot,
            (_, Some("CAPACITY_BLOCK")) => CapacityTypes::CapacityBlock,
            _ => CapacityTypes::OnDemand,
        };
        let scaling = NodegroupScalingConfig::builder()
            .min_size(to_i32(spec.size.min))
            .max_size(to_i32(spec.size.max))
            .desired_size(to_i32(spec.size.desired))
            .build();
        let mut req = self
            .eks
            .create_nodegroup()
            .cluster_name(&self.cluster)
            .nodegroup_name(&spec.name)
            .client_request_token(token_for(&self.cluster, &spec.name, token))
            .node_role(node_role)
            .set_subnets(Some(subnets))
            .scaling_config(scaling)
            .capacity_type(capacity)
            .version(&version)
            .set_release_version(release.clone())
            .set_labels(Some(labels))
            .set_taints((!taints.is_empty()).then_some(taints))
            .set_tags(Some(tags));
        if !spec.instance_types.is_empty() {
            req = req.set_instance_types(Some(spec.instance_types.clone()));
        }
        if let Some(a) = spec.extra.get(x::AMI_TYPE) {
            req = req.ami_type(a.as_str().into());
        }
        let lt_id = spec.extra.get(x::LAUNCH_TEMPLATE_ID);
        let lt_name = spec.extra.get(x::LAUNCH_TEMPLATE_NAME);
        if lt_id.is_some() || lt_name.is_some() {
            // EKS takes the template's id or its name, not both.
            let lt = LaunchTemplateSpecification::builder()
                .set_id(lt_id.cloned())
                .set_name(if lt_id.is_some() { None } else { lt_name.cloned() })
                .set_version(spec.extra.get(x::LAUNCH_TEMPLATE_VERSION).cloned())
                .build();
            req = req.launch_template(lt);
        } else {
            if let Some(d) = spec.disk_gb {
                req = req.disk_size(to_i32(d));
            }
            if let Some(key) = spec.extra.get(x::SSH_KEY) {
                let sgs = split(spec.extra.get(x::SSH_SECURITY_GROUPS));
                req = req.remote_access(
                    RemoteAccessConfig::builder()
                        .ec2_ssh_key(key)
                        .set_source_security_groups((!sgs.is_empty()).then_some(sgs))
                        .build(),
                );
            }
        }
        let max_unavailable = spec.extra.get(x::MAX_UNAVAILABLE).and_then(|v| v.parse::<i32>().ok());
        let max_pct = spec.extra.get(x::MAX_UNAVAILABLE_PERCENTAGE).and_then(|v| v.parse::<i32>().ok());
        if max_unavailable.is_some() || max_pct.is_some() {
            req = req.update_config(
                NodegroupUpdateConfig::builder()
                    .set_max_unavailable(max_unavailable)
                    .set_max_unavailable_percentage(max_pct)
                    .build(),
            );
        }
        match req.send().await {
            Ok(out) => match out.nodegroup() {
                Some(ng) => Ok(status_of(&spec.name, ng)),
                None => Ok(PoolStatus {
                    name: spec.name.clone(),
                    version: spec.version.clone(),
                    state: PoolState::Creating,
                    nodes: 0,
                    message: None,
                }),
            },
            // Created concurrently (or by a request whose answer was lost): same checks as above.
            Err(e) if code(&e) == Some("ResourceInUseException") => {
                let ng = self.require_nodegroup("create", &spec.name).await?;
                match conflict(&ng) {
                    Some(e) => Err(e),
                    None => Ok(status_of(&spec.name, &ng)),
                }
            }
            Err(e) => Err(sdk_error(&self.aws, "create", &e)),
        }
    }

    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        Ok(self.nodegroup("status", pool).await?.map(|ng| status_of(pool, &ng)))
    }

    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let res = self.eks.delete_nodegroup().cluster_name(&self.cluster).nodegroup_name(pool).send().await;
        match res {
            Ok(out) => Ok(Some(match out.nodegroup() {
                Some(ng) => status_of(pool, ng),
                None => PoolStatus {
                    name: pool.to_string(),
                    version: String::new(),
                    state: PoolState::Deleting,
                    nodes: 0,
                    message: None,
                },
            })),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => {
                // Gone already, unless the cluster itself is missing (which `nodegroup` reports).
                self.nodegroup("delete", pool).await.map(|ng| ng.map(|ng| status_of(pool, &ng)))
            }
            // Already deleting, or an update is in progress: report where it is; the engine polls.
            Err(e) if code(&e) == Some("ResourceInUseException") => {
                match self.nodegroup("delete", pool).await? {
                    Some(ng) if ng.status() == Some(&NodegroupStatus::Deleting) => Ok(Some(status_of(pool, &ng))),
                    Some(_) => Err(sdk_error(&self.aws, "delete", &e)
                        .with_hint("an update of the node group is in progress; retried")),
                    None => Ok(None),
                }
                .map_err(|mut err| {
                    err.kind = ErrorKind::Transient;
                    err
                })
            }
            Err(e) => Err(sdk_error(&self.aws, "delete", &e)),
        }
    }

    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        let ng = self.require_nodegroup("freeze", pool).await?;
        // Frozen already by an earlier run (aborted, or crashed): its tag holds the sizes from before.
        let d = size_of(&ng).desired;
        // EKS wants max >= 1: an empty group is pinned at 0..1 with nothing desired.
        let pinned = PoolSize { min: d, max: d.max(1), desired: d };
        let prior = match ng.tags().and_then(|t| t.get(FROZEN_TAG)).and_then(|v| decode_frozen(v)) {
            Some(original) => original,
            None => {
                let prior = autoscaling_of(&ng);
                // Recorded before anything changes, so that no freeze is left without its record (a group the
                // freeze does not change needs none: its sizes are the original ones).
                if pinned != prior.size {
                    self.tag_frozen(pool, &ng, &prior).await?;
                }
                prior
            }
        };
        if pinned != size_of(&ng) {
            self.set_scaling("freeze", pool, pinned).await?;
        }
        Ok(prior)
    }

    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        let ng = self.require_nodegroup("restore", pool).await?;
        if size_of(&ng) != prior.size {
            self.set_scaling("restore", pool, prior.size).await?;
        }
        if ng.tags().is_some_and(|t| t.contains_key(FROZEN_TAG)) {
            let arn = self.arn_of("restore", pool, &ng)?;
            self.eks
                .untag_resource()
                .resource_arn(arn)
                .tag_keys(FROZEN_TAG)
                .send()
                .await
                .map_err(|e| sdk_error(&self.aws, "restore", &e))?;
        }
        Ok(())
    }

    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        NodeMatcher { label: NODEGROUP_LABEL.to_string(), value: pool.to_string() }
    }
}
