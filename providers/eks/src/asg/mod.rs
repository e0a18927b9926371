//! `asg`: self-managed node groups, i.e. EC2 Auto Scaling groups whose instances join the EKS cluster.
//!
//! - blue: the ASG named like the pool, else the one tagged `<node label>=<pool>` (eksctl's groups are named
//!   `eksctl-<cluster>-nodegroup-<pool>-NodeGroup-<id>` and tagged `alpha.eksctl.io/nodegroup-name=<pool>`).
//! - create: a new launch template version (blue's version with the operator's image for the pool, and the
//!   pool label in the user data rewritten to the green name so green nodes are recognised), then a new ASG
//!   named `<green name>` with blue's subnets, tags, mixed-instances policy, sizes, health checks, target
//!   groups. Both steps are idempotent (the template version is found again by its description).
//! - version of a group: its `poolshift.io/kubernetes-version` tag (poolshift sets it on the groups it
//!   creates), else the kubelet its image boots (image tag, EKS AMI description, EKS AMI name).
//! - freeze: suspends the scaling processes in [`FREEZE_PROCESSES`] and pins min = max = desired; what was
//!   suspended before is recorded (in the returned settings and in a tag on the group, so a repeated freeze
//!   after a crash still returns the original settings); restore resumes exactly the processes that were
//!   not suspended before and puts the sizes back.
//! - delete: DeleteAutoScalingGroup with ForceDelete (the engine deletes a pool only after draining it).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_config::{ConfigLoader, SdkConfig};
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, Filter as AsgFilter, LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification,
    MixedInstancesPolicy, Tag,
};
use poolshift_provider_api::{
    AutoscalingSettings, CapacityType, CreateToken, ErrorKind, NodeMatcher, OfferedVersions, PoolDescription, PoolSize,
    PoolSpec, PoolState, PoolStatus, Provider, ProviderError,
};
use tracing::warn;

use crate::aws;
use crate::errors::{CallContext, code, sdk_error};
use crate::images::{VERSION_TAG, kubelet_of_image};
use crate::settings::{AsgSettings, DEFAULT_ASG_NODE_LABEL};
use crate::versions::{allowed_minors, minor_of};

mod shape;
mod template;
use shape::*;

const KIND: &str = "asg";
/// Scaling processes suspended by a freeze: no launches or terminations, by any trigger.
pub const FREEZE_PROCESSES: [&str; 7] = [
    "Launch",
    "Terminate",
    "AZRebalance",
    "AlarmNotification",
    "ScheduledActions",
    "ReplaceUnhealthy",
    "InstanceRefresh",
];
/// `extra` key of [`AutoscalingSettings`]: the processes suspended, sorted, comma-separated.
pub const SUSPENDED_KEY: &str = "suspended_processes";
/// Tag recording a freeze's prior settings on the group (`min,max,desired;Proc1,Proc2`).
const FROZEN_TAG: &str = "poolshift.io/frozen";
const SOURCE_TAG: &str = "poolshift.io/source";

/// `extra` keys of a described group.
pub mod extra_keys {
    /// `VPCZoneIdentifier`: comma-separated subnet ids.
    pub const SUBNETS: &str = "vpc_zone_identifier";
    pub const LAUNCH_TEMPLATE: &str = "launch_template";
    pub const LAUNCH_TEMPLATE_VERSION: &str = "launch_template_version";
    pub const IMAGE_ID: &str = "image_id";
    pub const ASG_NAME: &str = "asg_name";
    pub const MIXED_INSTANCES: &str = "mixed_instances_policy";
}
use extra_keys as x;

#[derive(Clone)]
pub struct AsgProvider {
    cluster: String,
    asg: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    eks: aws_sdk_eks::Client,
    node_label: String,
    images: BTreeMap<String, String>,
    /// Endpoint and attempts, for error messages.
    aws: CallContext,
}

impl AsgProvider {
    pub async fn new(settings: AsgSettings) -> Result<Self, ProviderError> {
        Self::with_loader(settings, aws::default_loader()).await
    }

    /// As [`AsgProvider::new`], starting from a caller's loader (credentials, retry and timeout settings).
    pub async fn with_loader(settings: AsgSettings, loader: ConfigLoader) -> Result<Self, ProviderError> {
        aws::require_cluster(KIND, &settings.cluster)?;
        let conf =
            aws::load(KIND, loader, &settings.region, settings.profile.as_deref(), settings.endpoint_url.as_deref())
                .await?;
        Ok(Self::from_sdk_config(&conf, settings))
    }

    pub fn from_sdk_config(conf: &SdkConfig, settings: AsgSettings) -> Self {
        Self {
            cluster: settings.cluster,
            asg: aws_sdk_autoscaling::Client::new(conf),
            ec2: aws_sdk_ec2::Client::new(conf),
            eks: aws_sdk_eks::Client::new(conf),
            node_label: settings.node_label.unwrap_or_else(|| DEFAULT_ASG_NODE_LABEL.to_string()),
            images: settings.images,
            aws: CallContext::new(KIND, conf),
        }
    }

    fn err(&self, op: &str, kind: ErrorKind, msg: impl Into<String>) -> ProviderError {
        ProviderError::new(KIND, op, kind, msg)
    }

    async fn by_name(&self, op: &str, name: &str) -> Result<Option<AutoScalingGroup>, ProviderError> {
        let out = self
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| sdk_error(&self.aws, op, &e))?;
        Ok(out.auto_scaling_groups().iter().find(|g| g.auto_scaling_group_name() == Some(name)).cloned())
    }

    /// The pool's group: by name, else by the node-label tag.
    async fn find(&self, op: &str, pool: &str) -> Result<Option<AutoScalingGroup>, ProviderError> {
        if let Some(g) = self.by_name(op, pool).await? {
            return Ok(Some(g));
        }
        let out = self
            .asg
            .describe_auto_scaling_groups()
            .filters(AsgFilter::builder().name(format!("tag:{}", self.node_label)).values(pool).build())
            .send()
            .await
            .map_err(|e| sdk_error(&self.aws, op, &e))?;
        match out.auto_scaling_groups() {
            [] => Ok(None),
            [g] => Ok(Some(g.clone())),
            many => Err(self
                .err(
                    op,
                    ErrorKind::Invalid,
                    format!(
                        "{} Auto Scaling groups are tagged {}={pool}: {}",
                        many.len(),
                        self.node_label,
                        many.iter().filter_map(|g| g.auto_scaling_group_name()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .with_hint("name the pool by its Auto Scaling group name instead")),
        }
    }

    async fn require(&self, op: &str, pool: &str) -> Result<AutoScalingGroup, ProviderError> {
        self.find(op, pool).await?.ok_or_else(|| {
            self.err(
                op,
                ErrorKind::NotFound,
                format!("no Auto Scaling group named {pool} or tagged {}={pool}", self.node_label),
            )
            .with_hint("check the pool name and provider.node_label")
        })
    }

    /// The kubelet version an image boots, if it can be told.
    async fn image_version(&self, op: &str, image: &str) -> Result<Option<String>, ProviderError> {
        let out = self.ec2.describe_images().image_ids(image).send().await.map_err(|e| sdk_error(&self.aws, op, &e))?;
        let Some(img) = out.images().first() else {
            return Err(self
                .err(op, ErrorKind::NotFound, format!("image {image} not found"))
                .with_hint("check provider.images: the AMI must exist in this region and be visible to the account"));
        };
        let tag = img.tags().iter().find(|t| t.key() == Some(VERSION_TAG)).and_then(|t| t.value());
        Ok(kubelet_of_image(tag, img.description(), img.name()))
    }

    /// The group's version: its tag, else its image's kubelet.
    async fn group_version(&self, op: &str, g: &AutoScalingGroup) -> Result<Option<String>, ProviderError> {
        if let Some(v) = tag(g, VERSION_TAG) {
            return Ok(Some(v.to_string()));
        }
        let t = self.template_of(op, g)?;
        let v = self.template_version(op, &t, &t.version).await?;
        match v.launch_template_data().and_then(|d| d.image_id()) {
            Some(image) => self.image_version(op, image).await,
            None => Ok(None),
        }
    }

    fn image_for(&self, spec: &PoolSpec) -> Result<String, ProviderError> {
        self.images.get(&spec.source).or_else(|| self.images.get(&spec.name)).cloned().ok_or_else(|| {
            self.err("create", ErrorKind::Invalid, format!("no image configured for pool {}", spec.source))
                .with_hint(format!("set provider.images.{} to the AMI id green nodes boot", spec.source))
        })
    }

    async fn set_sizes(&self, op: &str, name: &str, size: PoolSize) -> Result<(), ProviderError> {
        self.asg
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(to_i32(size.min))
            .max_size(to_i32(size.max))
            .desired_capacity(to_i32(size.desired))
            .send()
            .await
            .map_err(|e| sdk_error(&self.aws, op, &e))?;
        Ok(())
    }

    async fn put_tag(&self, op: &str, group: &str, key: &str, value: &str) -> Result<(), ProviderError> {
        self.asg
            .create_or_update_tags()
            .tags(
                Tag::builder()
                    .resource_id(group)
                    .resource_type("auto-scaling-group")
                    .key(key)
                    .value(value)
                    .propagate_at_launch(false)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error(&self.aws, op, &e))?;
        Ok(())
    }
}

#[async_trait]
impl Provider for AsgProvider {
    fn kind(&self) -> &str {
        KIND
    }

    async fn describe_pool(&self, pool: &str) -> Result<PoolDescription, ProviderError> {
        let g = self.require("describe", pool).await?;
        let version = self.group_version("describe", &g).await?.ok_or_else(|| {
            self.err("describe", ErrorKind::Invalid, format!("cannot tell the Kubernetes version of {pool}'s nodes"))
                .with_hint(format!(
                    "tag the Auto Scaling group (or its AMI) with {VERSION_TAG}=<kubelet version, e.g. 1.30.8>"
                ))
        })?;
        let t = self.template_of("describe", &g)?;
        let mut extra = BTreeMap::new();
        extra.insert(x::ASG_NAME.to_string(), g.auto_scaling_group_name().unwrap_or(pool).to_string());
        if let Some(v) = g.vpc_zone_identifier().filter(|v| !v.is_empty()) {
            extra.insert(x::SUBNETS.to_string(), v.to_string());
        }
        extra.insert(x::LAUNCH_TEMPLATE.to_string(), t.label());
        extra.insert(x::LAUNCH_TEMPLATE_VERSION.to_string(), t.version.clone());
        if g.mixed_instances_policy().is_some() {
            extra.insert(x::MIXED_INSTANCES.to_string(), "true".into());
        }
        let source = self.template_version("describe", &t, &t.version).await?;
        let data = source.launch_template_data();
        if let Some(img) = data.and_then(|d| d.image_id()) {
            extra.insert(x::IMAGE_ID.to_string(), img.to_string());
        }
        let mut instance_types: Vec<String> = match g.mixed_instances_policy().and_then(|m| m.launch_template()) {
            Some(lt) => lt.overrides().iter().filter_map(|o| o.instance_type().map(str::to_string)).collect(),
            None => Vec::new(),
        };
        if instance_types.is_empty()
            && let Some(it) = data.and_then(|d| d.instance_type())
        {
            instance_types.push(it.as_str().to_string());
        }
        let spot = g
            .mixed_instances_policy()
            .and_then(|m| m.instances_distribution())
            .is_some_and(|d| d.on_demand_percentage_above_base_capacity() == Some(0));
        Ok(PoolDescription {
            name: pool.to_string(),
            version,
            instance_types,
            zones: g.availability_zones().to_vec(),
            capacity_type: if spot { CapacityType::Spot } else { CapacityType::OnDemand },
            // Labels and taints of self-managed nodes live in the bootstrap user data, cloned with the template.
            labels: BTreeMap::new(),
            taints: Vec::new(),
            size: size_of(&g),
            autoscaling: autoscaling_of(&g),
            disk_gb: None,
            extra,
        })
    }

    /// The control plane's minor (DescribeCluster), and the kubelet versions of the configured images
    /// within the 3 minors below it.
    async fn versions(&self) -> Result<OfferedVersions, ProviderError> {
        let out = self
            .eks
            .describe_cluster()
            .name(&self.cluster)
            .send()
            .await
            .map_err(|e| sdk_error(&self.aws, "versions", &e))?;
        let cp = out.cluster().and_then(|c| c.version()).unwrap_or_default().to_string();
        let minors = allowed_minors(&cp);
        let mut node_versions = BTreeSet::new();
        for (pool, image) in &self.images {
            match self.image_version("versions", image).await? {
                Some(v) if minor_of(&v).is_some_and(|m| minors.contains(&m)) => {
                    node_versions.insert(v);
                }
                Some(v) => warn!(pool, image, version = v, control_plane = cp, "image outside the supported skew"),
                None => warn!(pool, image, "cannot tell the kubelet version of the image"),
            }
        }
        Ok(OfferedVersions { control_plane: cp, node_versions: node_versions.into_iter().collect() })
    }

    async fn create_pool(&self, spec: &PoolSpec, token: &CreateToken) -> Result<PoolStatus, ProviderError> {
        let op = "create";
        let conflict = |g: &AutoScalingGroup| -> Option<ProviderError> {
            let v = tag(g, VERSION_TAG).unwrap_or("?");
            (v != spec.version).then(|| {
                self.err(
                    op,
                    ErrorKind::Conflict,
                    format!("Auto Scaling group {} already exists at version {v}, not {}", spec.name, spec.version),
                )
                .with_hint("delete that group or target its version")
            })
        };
        if let Some(g) = self.by_name(op, &spec.name).await? {
            return match conflict(&g) {
                Some(e) => Err(e),
                None => Ok(status_of(&spec.name, &g)),
            };
        }
        let image = self.image_for(spec)?;
        if let Some(v) = self.image_version(op, &image).await?
            && v != spec.version
            && !(v.split('.').count() == 2 && minor_of(&spec.version).as_deref() == Some(v.as_str()))
        {
            return Err(self
                .err(op, ErrorKind::Invalid, format!("image {image} boots kubelet {v}, the target is {}", spec.version))
                .with_hint(format!("set provider.images.{} to an image of {}", spec.source, spec.version)));
        }
        let blue = self.require(op, &spec.source).await?;
        let (t, number) = self.green_template_version(&blue, &spec.source, spec, &image, token).await?;
        let lt_spec = LaunchTemplateSpecification::builder()
            .set_launch_template_id(t.id.clone())
            .set_launch_template_name(if t.id.is_some() { None } else { t.name.clone() })
            .version(number.to_string())
            .build();

        let mut tags: Vec<Tag> = blue
            .tags()
            .iter()
            .filter(|t| !matches!(t.key(), Some(FROZEN_TAG | VERSION_TAG | SOURCE_TAG)))
            .filter(|t| !t.key().is_some_and(|k| k.starts_with("aws:")))
            .map(|bt| {
                let value = if bt.key() == Some(self.node_label.as_str()) {
                    Some(spec.name.clone())
                } else {
                    bt.value().map(str::to_string)
                };
                Tag::builder()
                    .resource_id(&spec.name)
                    .resource_type("auto-scaling-group")
                    .set_key(bt.key().map(str::to_string))
                    .set_value(value)
                    .set_propagate_at_launch(bt.propagate_at_launch())
                    .build()
            })
            .collect();
        for (k, v) in [(VERSION_TAG, spec.version.as_str()), (SOURCE_TAG, spec.source.as_str())] {
            tags.push(
                Tag::builder()
                    .resource_id(&spec.name)
                    .resource_type("auto-scaling-group")
                    .key(k)
                    .value(v)
                    .propagate_at_launch(false)
                    .build(),
            );
        }

        let mut req = self
            .asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(&spec.name)
            .min_size(to_i32(spec.size.min))
            .max_size(to_i32(spec.size.max))
            .desired_capacity(to_i32(spec.size.desired))
            .set_vpc_zone_identifier(blue.vpc_zone_identifier().map(str::to_string))
            .set_tags(Some(tags))
            .set_health_check_type(blue.health_check_type().map(str::to_string))
            .set_health_check_grace_period(blue.health_check_grace_period())
            .set_default_cooldown(blue.default_cooldown())
            .set_capacity_rebalance(blue.capacity_rebalance())
            .set_new_instances_protected_from_scale_in(blue.new_instances_protected_from_scale_in())
            .set_max_instance_lifetime(blue.max_instance_lifetime())
            .set_service_linked_role_arn(blue.service_linked_role_arn().map(str::to_string));
        if blue.vpc_zone_identifier().is_none_or(str::is_empty) {
            req = req.set_availability_zones(Some(blue.availability_zones().to_vec()));
        }
        if !blue.target_group_arns().is_empty() {
            req = req.set_target_group_arns(Some(blue.target_group_arns().to_vec()));
        }
        if !blue.load_balancer_names().is_empty() {
            req = req.set_load_balancer_names(Some(blue.load_balancer_names().to_vec()));
        }
        if !blue.termination_policies().is_empty() {
            req = req.set_termination_policies(Some(blue.termination_policies().to_vec()));
        }
        match blue.mixed_instances_policy() {
            Some(mip) => {
                let old = mip.launch_template();
                let mut overrides = Vec::new();
                for o in old.map(|l| l.overrides()).unwrap_or_default() {
                    if o.launch_template_specification().is_some() {
                        return Err(self
                            .err(
                                op,
                                ErrorKind::Invalid,
                                format!(
                                    "{}'s mixed-instances overrides use their own launch templates; \
                                     created launch template {} version {number} for {}",
                                    spec.source,
                                    t.label(),
                                    spec.name
                                ),
                            )
                            .with_hint("use one launch template for the group's overrides"));
                    }
                    let mut o: LaunchTemplateOverrides = o.clone();
                    if o.image_id().is_some() {
                        o = LaunchTemplateOverrides::builder()
                            .set_instance_type(o.instance_type().map(str::to_string))
                            .set_weighted_capacity(o.weighted_capacity().map(str::to_string))
                            .set_instance_requirements(o.instance_requirements().cloned())
                            .image_id(&image)
                            .build();
                    }
                    overrides.push(o);
                }
                let lt = LaunchTemplate::builder()
                    .launch_template_specification(lt_spec)
                    .set_overrides((!overrides.is_empty()).then_some(overrides))
                    .build();
                req = req.mixed_instances_policy(
                    MixedInstancesPolicy::builder()
                        .launch_template(lt)
                        .set_instances_distribution(mip.instances_distribution().cloned())
                        .build(),
                );
            }
            None => req = req.launch_template(lt_spec),
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if code(&e) == Some("AlreadyExists") => {}
            Err(e) => {
                let mut err = sdk_error(&self.aws, op, &e);
                err.message = format!(
                    "{}; launch template {} version {number} was created for {} and is reused by a retry",
                    err.message,
                    t.label(),
                    spec.name
                );
                return Err(err);
            }
        }
        let g = self.by_name(op, &spec.name).await?.ok_or_else(|| {
            self.err(op, ErrorKind::Transient, format!("Auto Scaling group {} not visible yet", spec.name))
        })?;
        match conflict(&g) {
            Some(e) => Err(e),
            None => Ok(status_of(&spec.name, &g)),
        }
    }

    async fn pool_status(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        Ok(self.find("status", pool).await?.map(|g| status_of(pool, &g)))
    }

    async fn delete_pool(&self, pool: &str) -> Result<Option<PoolStatus>, ProviderError> {
        let Some(g) = self.find("delete", pool).await? else { return Ok(None) };
        let name = g.auto_scaling_group_name().unwrap_or(pool).to_string();
        let already = g.status().is_some_and(|s| s.to_ascii_lowercase().contains("delete"));
        if !already {
            let res =
                self.asg.delete_auto_scaling_group().auto_scaling_group_name(&name).force_delete(true).send().await;
            if let Err(e) = res {
                // Gone in between: deleted.
                let gone = code(&e) == Some("ValidationError")
                    && aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&e)
                        .is_some_and(|m| m.contains("not found"));
                if gone {
                    return Ok(None);
                }
                return Err(sdk_error(&self.aws, "delete", &e));
            }
        }
        Ok(Some(match self.find("delete", pool).await? {
            Some(g) => {
                let mut s = status_of(pool, &g);
                s.state = PoolState::Deleting;
                s
            }
            None => PoolStatus {
                name: pool.to_string(),
                version: tag(&g, VERSION_TAG).unwrap_or_default().to_string(),
                state: PoolState::Deleting,
                nodes: 0,
                message: None,
            },
        }))
    }

    async fn freeze_autoscaling(&self, pool: &str) -> Result<AutoscalingSettings, ProviderError> {
        let g = self.require("freeze", pool).await?;
        let name = g.auto_scaling_group_name().unwrap_or(pool).to_string();
        // Frozen already (an earlier call whose answer was lost, a run that was aborted or crashed with blue
        // frozen): its record holds the real prior settings. Otherwise they are recorded before anything changes.
        let prior = match tag(&g, FROZEN_TAG).and_then(decode_frozen) {
            Some(prior) => prior,
            None => {
                let prior = autoscaling_of(&g);
                self.put_tag("freeze", &name, FROZEN_TAG, &encode_frozen(&prior)).await?;
                prior
            }
        };
        // What is not frozen yet (all of it, unless an earlier freeze got that far) is frozen now.
        let before = suspended(&g);
        let to_suspend: Vec<String> =
            FREEZE_PROCESSES.iter().filter(|p| !before.contains(**p)).map(|p| p.to_string()).collect();
        if !to_suspend.is_empty() {
            self.asg
                .suspend_processes()
                .auto_scaling_group_name(&name)
                .set_scaling_processes(Some(to_suspend))
                .send()
                .await
                .map_err(|e| sdk_error(&self.aws, "freeze", &e))?;
        }
        let d = size_of(&g).desired;
        let pinned = PoolSize { min: d, max: d, desired: d };
        if pinned != size_of(&g) {
            self.set_sizes("freeze", &name, pinned).await?;
        }
        Ok(prior)
    }

    async fn restore_autoscaling(&self, pool: &str, prior: &AutoscalingSettings) -> Result<(), ProviderError> {
        let g = self.require("restore", pool).await?;
        let name = g.auto_scaling_group_name().unwrap_or(pool).to_string();
        let before: BTreeSet<&str> = prior
            .extra
            .get(SUSPENDED_KEY)
            .map(|s| s.split(',').filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        let now = suspended(&g);
        let to_resume: Vec<String> = FREEZE_PROCESSES
            .iter()
            .filter(|p| !before.contains(**p) && now.contains(**p))
            .map(|p| p.to_string())
            .collect();
        if !to_resume.is_empty() {
            self.asg
                .resume_processes()
                .auto_scaling_group_name(&name)
                .set_scaling_processes(Some(to_resume))
                .send()
                .await
                .map_err(|e| sdk_error(&self.aws, "restore", &e))?;
        }
        if size_of(&g) != prior.size {
            self.set_sizes("restore", &name, prior.size).await?;
        }
        if tag(&g, FROZEN_TAG).is_some() {
            self.asg
                .delete_tags()
                .tags(Tag::builder().resource_id(&name).resource_type("auto-scaling-group").key(FROZEN_TAG).build())
                .send()
                .await
                .map_err(|e| sdk_error(&self.aws, "restore", &e))?;
        }
        Ok(())
    }

    fn node_matcher(&self, pool: &str) -> NodeMatcher {
        NodeMatcher { label: self.node_label.clone(), value: pool.to_string() }
    }
}
