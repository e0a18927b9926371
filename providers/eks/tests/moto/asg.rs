//! `AsgProvider` (self-managed Auto Scaling groups) against moto.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_autoscaling::types::{
    InstancesDistribution, LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy,
    Tag,
};
use aws_sdk_ec2::types::{InstanceType, RequestLaunchTemplateData};
use aws_sdk_eks::types::VpcConfigRequest;
use poolshift_provider_api::conformance::Conformance;
use poolshift_provider_api::{CapacityType, CreateToken, ErrorKind, PoolSize, PoolSpec, Provider};
use poolshift_provider_eks::{AsgProvider, AsgSettings, FREEZE_PROCESSES, SUSPENDED_KEY, token_for};

use crate::harness::{Moto, REGION, direct, loader};
use crate::proxy::Proxy;

const BOOTSTRAP: &str = "#!/bin/bash\n/etc/eks/bootstrap.sh prod --kubelet-extra-args \
                         '--node-labels=alpha.eksctl.io/nodegroup-name=workers,team=payments'\n";

struct World {
    _moto: Moto,
    proxy: Proxy,
    provider: AsgProvider,
    subnets: String,
    lt: String,
    green_ami: String,
}

fn tag(group: &str, key: &str, value: &str) -> Tag {
    Tag::builder()
        .resource_id(group)
        .resource_type("auto-scaling-group")
        .key(key)
        .value(value)
        .propagate_at_launch(true)
        .build()
}

/// moto with a VPC and two subnets; EKS-style AMIs for kubelet 1.30.8 and 1.31.4; group `workers` (mixed
/// instances, spot, launch template whose user data labels nodes `alpha.eksctl.io/nodegroup-name=workers`,
/// AZRebalance already suspended); an eksctl-named group tagged for pool `payments` whose user data does
/// not set the label; cluster `prod` at 1.31.
async fn world(polls: u32, images: &[(&str, &str)]) -> World {
    let moto = Moto::start();
    // Set up through the proxy, so it knows the groups' policies (see proxy.rs); then forget those calls.
    let proxy = Proxy::start(&moto.url, 0).await;
    let conf = direct(&proxy.url).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s = ec2.create_subnet().vpc_id(&vpc).cidr_block(format!("10.0.{i}.0/24")).availability_zone(*az);
        subnets.push(s.send().await.unwrap().subnet.unwrap().subnet_id.unwrap());
    }
    let subnets = subnets.join(",");
    let mut amis = HashMap::new();
    for (k8s, minor, date) in [("1.30.8", "1.30", "20250101"), ("1.31.4", "1.31", "20250123")] {
        let out = ec2
            .register_image()
            .name(format!("amazon-eks-node-al2023-x86_64-standard-{minor}-v{date}"))
            .description(format!(
                "EKS-optimized Kubernetes node based on Amazon Linux 2023, (k8s: {k8s}, containerd: 1.7.*)"
            ))
            .send()
            .await
            .unwrap();
        amis.insert(k8s, out.image_id.unwrap());
    }
    let lt = |name: &str, ud: &str| {
        ec2.create_launch_template().launch_template_name(name).launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(&amis["1.30.8"])
                .instance_type(InstanceType::from("m6i.large"))
                .user_data(aws_smithy_types::base64::encode(ud))
                .build(),
        )
    };
    let lt_id = lt("workers-lt", BOOTSTRAP).send().await.unwrap().launch_template.unwrap().launch_template_id.unwrap();
    let lt2 = lt("payments-lt", "#!/bin/bash\n/etc/eks/bootstrap.sh prod\n")
        .send()
        .await
        .unwrap()
        .launch_template
        .unwrap()
        .launch_template_id
        .unwrap();
    let spec = |id: &str| LaunchTemplateSpecification::builder().launch_template_id(id).version("1").build();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("workers")
        .mixed_instances_policy(
            MixedInstancesPolicy::builder()
                .launch_template(
                    LaunchTemplate::builder()
                        .launch_template_specification(spec(&lt_id))
                        .overrides(LaunchTemplateOverrides::builder().instance_type("m6i.large").build())
                        .overrides(LaunchTemplateOverrides::builder().instance_type("m6a.large").build())
                        .build(),
                )
                .instances_distribution(
                    InstancesDistribution::builder()
                        .on_demand_percentage_above_base_capacity(0)
                        .spot_allocation_strategy("price-capacity-optimized")
                        .build(),
                )
                .build(),
        )
        .min_size(1)
        .max_size(5)
        .desired_capacity(3)
        .vpc_zone_identifier(&subnets)
        .health_check_type("EC2")
        .tags(tag("workers", "alpha.eksctl.io/nodegroup-name", "workers"))
        .tags(tag("workers", "kubernetes.io/cluster/prod", "owned"))
        .tags(tag("workers", "owner", "platform"))
        .send()
        .await
        .unwrap();
    asg.suspend_processes().auto_scaling_group_name("workers").scaling_processes("AZRebalance").send().await.unwrap();
    let eksctl = "eksctl-prod-nodegroup-payments-NodeGroup-ABC";
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(eksctl)
        .launch_template(spec(&lt2))
        .min_size(2)
        .max_size(2)
        .desired_capacity(2)
        .vpc_zone_identifier(&subnets)
        .tags(tag(eksctl, "alpha.eksctl.io/nodegroup-name", "payments"))
        .tags(tag(eksctl, "poolshift.io/kubernetes-version", "1.30.8"))
        .send()
        .await
        .unwrap();
    aws_sdk_eks::Client::new(&conf)
        .create_cluster()
        .name("prod")
        .version("1.31")
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(
            VpcConfigRequest::builder().set_subnet_ids(Some(subnets.split(',').map(String::from).collect())).build(),
        )
        .send()
        .await
        .unwrap();
    proxy.with(|s| {
        s.requests.clear();
        s.polls = polls;
    });
    let images: BTreeMap<String, String> =
        images.iter().map(|(pool, k8s)| (pool.to_string(), amis[*k8s].clone())).collect();
    let settings = AsgSettings {
        region: REGION.into(),
        cluster: "prod".into(),
        endpoint_url: Some(proxy.url.clone()),
        profile: None,
        node_label: None,
        images,
    };
    let provider = AsgProvider::with_loader(settings, loader()).await.unwrap();
    World { _moto: moto, proxy, provider, subnets, lt: lt_id, green_ami: amis["1.31.4"].clone() }
}

/// Values of a query-protocol list (`Prefix.member.N`), in order.
fn members(form: &HashMap<String, String>, prefix: &str) -> Vec<String> {
    (1..).map_while(|i| form.get(&format!("{prefix}.member.{i}")).cloned()).collect()
}

/// Tags of a CreateAutoScalingGroup request as key -> value.
fn tags(form: &HashMap<String, String>) -> BTreeMap<String, String> {
    (1..)
        .map_while(|i| {
            let k = form.get(&format!("Tags.member.{i}.Key"))?;
            Some((k.clone(), form.get(&format!("Tags.member.{i}.Value")).cloned().unwrap_or_default()))
        })
        .collect()
}

#[tokio::test]
async fn asg_provider_is_conformant_and_clones_blue() {
    let w = world(2, &[("workers", "1.31.4")]).await;
    let suite = Conformance {
        provider: &w.provider,
        blue: "workers".into(),
        target_version: "1.31.4".into(),
        tick: Box::new(|| Box::pin(tokio::time::sleep(Duration::from_millis(10)))),
        max_ticks: 20,
    };
    suite.run().await.unwrap();
    let green = "workers-v1-31-4";

    let ltv = w.proxy.with(|s| s.ops("CreateLaunchTemplateVersion"));
    assert_eq!(ltv.len(), 1, "one new template version, found again by the idempotent create");
    let f = ltv[0].form();
    assert_eq!(f["LaunchTemplateId"], w.lt);
    assert_eq!(f["SourceVersion"], "1");
    assert_eq!(f["VersionDescription"], format!("poolshift:{green}"));
    assert_eq!(f["ClientToken"], token_for("prod", green, &CreateToken::new("conformance-run", 1)));
    assert_eq!(f["LaunchTemplateData.ImageId"], w.green_ami);
    let ud = String::from_utf8(aws_smithy_types::base64::decode(&f["LaunchTemplateData.UserData"]).unwrap()).unwrap();
    assert_eq!(ud, BOOTSTRAP.replace("nodegroup-name=workers,", &format!("nodegroup-name={green},")));

    let creates = w.proxy.with(|s| s.ops("CreateAutoScalingGroup"));
    assert_eq!(creates.len(), 1);
    let f = creates[0].form();
    assert_eq!(f["AutoScalingGroupName"], green);
    assert_eq!(f["VPCZoneIdentifier"], w.subnets);
    assert_eq!((f["MinSize"].as_str(), f["MaxSize"].as_str(), f["DesiredCapacity"].as_str()), ("1", "5", "3"));
    assert_eq!(f["HealthCheckType"], "EC2");
    let mip = "MixedInstancesPolicy.LaunchTemplate";
    assert_eq!(f[&format!("{mip}.LaunchTemplateSpecification.LaunchTemplateId")], w.lt);
    assert_eq!(f[&format!("{mip}.LaunchTemplateSpecification.Version")], "2");
    assert_eq!(f[&format!("{mip}.Overrides.member.1.InstanceType")], "m6i.large");
    assert_eq!(f[&format!("{mip}.Overrides.member.2.InstanceType")], "m6a.large");
    assert_eq!(f["MixedInstancesPolicy.InstancesDistribution.OnDemandPercentageAboveBaseCapacity"], "0");
    assert_eq!(f["MixedInstancesPolicy.InstancesDistribution.SpotAllocationStrategy"], "price-capacity-optimized");
    let t = tags(&f);
    assert_eq!(t["alpha.eksctl.io/nodegroup-name"], green);
    assert_eq!(t["kubernetes.io/cluster/prod"], "owned");
    assert_eq!(t["owner"], "platform");
    assert_eq!(t["poolshift.io/kubernetes-version"], "1.31.4");
    assert_eq!(t["poolshift.io/source"], "workers");

    // Freeze suspended what was not suspended already and pinned the sizes (the second freeze of the frozen
    // group found nothing to do); restore undid exactly that. The suite freezes and restores twice.
    let frozen: BTreeSet<String> =
        FREEZE_PROCESSES.iter().filter(|p| **p != "AZRebalance").map(|p| p.to_string()).collect();
    let sus = w.proxy.with(|s| s.ops("SuspendProcesses"));
    assert_eq!(sus.len(), 2);
    for s in &sus {
        assert_eq!(members(&s.form(), "ScalingProcesses").into_iter().collect::<BTreeSet<_>>(), frozen);
    }
    let res = w.proxy.with(|s| s.ops("ResumeProcesses"));
    assert_eq!(res.len(), 2);
    for r in &res {
        assert_eq!(members(&r.form(), "ScalingProcesses").into_iter().collect::<BTreeSet<_>>(), frozen);
    }
    let sizes: Vec<(String, String, String)> = w
        .proxy
        .with(|s| s.ops("UpdateAutoScalingGroup"))
        .iter()
        .map(|r| {
            let f = r.form();
            (f["MinSize"].clone(), f["MaxSize"].clone(), f["DesiredCapacity"].clone())
        })
        .collect();
    let cycle: [(String, String, String); 2] =
        [("3".into(), "3".into(), "3".into()), ("1".into(), "5".into(), "3".into())];
    assert_eq!(sizes, [cycle.clone(), cycle].concat());
    // The record was tagged once per cycle and went with each restore.
    assert_eq!(w.proxy.with(|s| s.ops("DeleteTags").len()), 2);
    let g = w.provider.describe_pool("workers").await.unwrap();
    assert!(g.extra.keys().all(|k| !k.contains("frozen")), "{:?}", g.extra);
    let blue = w.provider.describe_pool("workers").await.unwrap();
    assert_eq!(blue.autoscaling.extra[SUSPENDED_KEY], "AZRebalance");

    let deletes = w.proxy.with(|s| s.ops("DeleteAutoScalingGroup"));
    assert!(!deletes.is_empty());
    assert!(deletes.iter().all(|d| d.form()["ForceDelete"] == "true"));
}

#[tokio::test]
async fn asg_describes_freezes_idempotently_and_finds_groups_by_tag() {
    let w = world(0, &[("workers", "1.31.4")]).await;
    let blue = w.provider.describe_pool("workers").await.unwrap();
    assert_eq!(blue.version, "1.30.8", "from the EKS AMI's description");
    assert_eq!(blue.instance_types, vec!["m6i.large", "m6a.large"]);
    assert_eq!(blue.capacity_type, CapacityType::Spot);
    assert_eq!(blue.size, PoolSize { min: 1, max: 5, desired: 3 });
    assert!(blue.autoscaling.enabled, "AZRebalance alone does not stop scaling");
    assert_eq!(w.provider.node_matcher("workers").label, "alpha.eksctl.io/nodegroup-name");

    let first = w.provider.freeze_autoscaling("workers").await.unwrap();
    assert_eq!(first, blue.autoscaling);
    // A repeated freeze (the first answer lost in a crash) still returns the settings before the first.
    let second = w.provider.freeze_autoscaling("workers").await.unwrap();
    assert_eq!(second, first);
    assert_eq!(w.proxy.with(|s| s.ops("SuspendProcesses").len()), 1);
    let frozen = w.provider.describe_pool("workers").await.unwrap();
    assert!(!frozen.autoscaling.enabled);
    assert_eq!(frozen.autoscaling.size, PoolSize { min: 3, max: 3, desired: 3 });
    w.provider.restore_autoscaling("workers", &second).await.unwrap();
    assert_eq!(w.provider.describe_pool("workers").await.unwrap().autoscaling, blue.autoscaling);

    // eksctl names its groups after the stack; the pool is found by its node-label tag.
    let payments = w.provider.describe_pool("payments").await.unwrap();
    assert_eq!(payments.version, "1.30.8", "from the group's tag");
    assert_eq!(payments.extra["asg_name"], "eksctl-prod-nodegroup-payments-NodeGroup-ABC");
    assert!(!payments.autoscaling.enabled);

    let v = w.provider.versions().await.unwrap();
    assert_eq!((v.control_plane.as_str(), v.node_versions), ("1.31", vec!["1.31.4".to_string()]));
}

#[tokio::test]
async fn asg_throttling_is_retried_then_reported_transient() {
    let w = world(0, &[("workers", "1.31.4")]).await;
    w.proxy.with(|s| s.throttle.insert("DescribeAutoScalingGroups".into(), 1));
    w.provider.pool_status("workers").await.unwrap().unwrap();
    assert_eq!(w.proxy.with(|s| s.ops("DescribeAutoScalingGroups").len()), 2);

    w.proxy.with(|s| s.throttle.insert("SuspendProcesses".into(), 100));
    let err = w.provider.freeze_autoscaling("workers").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.message, "Throttling: Rate exceeded");
    assert_eq!(w.proxy.with(|s| s.ops("SuspendProcesses").len()), 3);

    // A create that fails after its launch template version exists says so, and a retry reuses that version.
    let blue = w.provider.describe_pool("workers").await.unwrap();
    let spec = PoolSpec::derive(&blue, "workers-v1-31-4", "1.31.4");
    w.proxy.with(|s| s.throttle.insert("CreateAutoScalingGroup".into(), 3));
    let err = w.provider.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.ends_with("version 2 was created for workers-v1-31-4 and is reused by a retry"), "{err}");
    let created = w.provider.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    assert_eq!(created.name, "workers-v1-31-4");
    assert_eq!(w.proxy.with(|s| s.ops("CreateLaunchTemplateVersion").len()), 1);
    let f = w.proxy.with(|s| s.ops("CreateAutoScalingGroup")).last().unwrap().form();
    assert_eq!(f["MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.Version"], "2");
}

#[tokio::test]
async fn asg_errors_map_to_kinds_and_create_nothing() {
    let w = world(0, &[("payments", "1.31.4"), ("workers", "1.31.4")]).await;
    assert_eq!(w.provider.describe_pool("nope").await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(w.provider.delete_pool("nope").await.unwrap(), None);
    assert_eq!(w.provider.pool_status("nope").await.unwrap(), None);

    // The image given for the pool boots another kubelet than the target.
    let blue = w.provider.describe_pool("workers").await.unwrap();
    let e = w
        .provider
        .create_pool(&PoolSpec::derive(&blue, "workers-v1-31-5", "1.31.5"), &CreateToken::new("test", 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("boots kubelet 1.31.4, the target is 1.31.5"), "{e}");

    // Green nodes of `payments` could not be recognised: its bootstrap does not set the label.
    let blue = w.provider.describe_pool("payments").await.unwrap();
    let e = w
        .provider
        .create_pool(&PoolSpec::derive(&blue, "payments-v1-31-4", "1.31.4"), &CreateToken::new("test", 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("does not set alpha.eksctl.io/nodegroup-name=payments"), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("provider.node_label"));

    // No image configured for the pool.
    let other = AsgProvider::with_loader(
        AsgSettings {
            region: REGION.into(),
            cluster: "prod".into(),
            endpoint_url: Some(w.proxy.url.clone()),
            profile: None,
            node_label: None,
            images: BTreeMap::new(),
        },
        loader(),
    )
    .await
    .unwrap();
    let blue = other.describe_pool("workers").await.unwrap();
    let e = other
        .create_pool(&PoolSpec::derive(&blue, "workers-v1-31-4", "1.31.4"), &CreateToken::new("test", 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.hint.as_deref().unwrap().contains("provider.images.workers"), "{e}");

    let created = w.proxy.with(|s| s.ops("CreateLaunchTemplateVersion").len() + s.ops("CreateAutoScalingGroup").len());
    assert_eq!(created, 0, "nothing half-created");
}
