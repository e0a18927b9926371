//! `EksProvider` (managed node groups) against moto.

use std::time::Duration;

use aws_sdk_eks::types::{
    AmiTypes, CapacityTypes, NodegroupScalingConfig, NodegroupUpdateConfig, RemoteAccessConfig, Taint, TaintEffect,
    VpcConfigRequest,
};
use poolshift_provider_api::conformance::Conformance;
use poolshift_provider_api::{CapacityType, CreateToken, ErrorKind, PoolSize, PoolSpec, PoolState, Provider};
use poolshift_provider_eks::{EKS_FROZEN_TAG, EksProvider, EksSettings, token_for};
use serde_json::json;

use crate::harness::{Moto, REGION, direct, loader};
use crate::proxy::Proxy;

const ROLE: &str = "arn:aws:iam::123456789012:role/eks-nodes";

fn ssm_param(minor: &str) -> String {
    format!("/aws/service/eks/optimized-ami/{minor}/amazon-linux-2023/x86_64/standard/recommended/release_version")
}

struct World {
    _moto: Moto,
    proxy: Proxy,
    provider: EksProvider,
}

/// moto with a VPC, two subnets, cluster `prod` at 1.31 and node group `workers` at 1.30.8 (release
/// 1.30.8-20250101); the proxy publishes the recommended AL2023 releases of 1.29..1.31 as SSM would.
async fn world(polls: u32) -> World {
    let moto = Moto::start();
    let conf = direct(&moto.url).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet.unwrap().subnet_id.unwrap());
    }
    let eks = aws_sdk_eks::Client::new(&conf);
    eks.create_cluster()
        .name("prod")
        .version("1.31")
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(VpcConfigRequest::builder().set_subnet_ids(Some(subnets.clone())).build())
        .send()
        .await
        .unwrap();
    eks.create_nodegroup()
        .cluster_name("prod")
        .nodegroup_name("workers")
        .node_role(ROLE)
        .set_subnets(Some(subnets))
        .scaling_config(NodegroupScalingConfig::builder().min_size(1).max_size(5).desired_size(3).build())
        .instance_types("m6i.large")
        .instance_types("m6a.large")
        .capacity_type(CapacityTypes::Spot)
        .ami_type(AmiTypes::from("AL2023_x86_64_STANDARD"))
        .disk_size(50)
        .labels("team", "payments")
        .taints(Taint::builder().key("dedicated").value("payments").effect(TaintEffect::NoSchedule).build())
        .remote_access(RemoteAccessConfig::builder().ec2_ssh_key("ops").source_security_groups("sg-0ops").build())
        .update_config(NodegroupUpdateConfig::builder().max_unavailable(2).build())
        .tags("owner", "platform")
        .version("1.30")
        .release_version("1.30.8-20250101")
        .send()
        .await
        .unwrap();
    let proxy = Proxy::start(&moto.url, polls).await;
    proxy.with(|s| {
        s.ssm.insert(ssm_param("1.31"), "1.31.4-20250123".into());
        s.ssm.insert(ssm_param("1.30"), "1.30.9-20250123".into());
        s.ssm.insert(ssm_param("1.29"), "1.29.13-20250123".into());
    });
    let settings = EksSettings {
        region: REGION.into(),
        cluster: "prod".into(),
        endpoint_url: Some(proxy.url.clone()),
        profile: None,
    };
    let provider = EksProvider::with_loader(settings, loader()).await.unwrap();
    World { _moto: moto, proxy, provider }
}

fn tick() -> poolshift_provider_api::conformance::Tick {
    Box::new(|| Box::pin(tokio::time::sleep(Duration::from_millis(10))))
}

#[tokio::test]
async fn eks_provider_is_conformant_and_clones_blue() {
    let w = world(2).await;
    let suite = Conformance {
        provider: &w.provider,
        blue: "workers".into(),
        target_version: "1.31.4".into(),
        tick: tick(),
        max_ticks: 20,
    };
    suite.run().await.unwrap();

    let green = "workers-v1-31-4";
    let creates = w.proxy.with(|s| s.ops("CreateNodegroup"));
    assert_eq!(creates.len(), 1, "the second create found the first node group, the conflicting one created nothing");
    let body = creates[0].json();
    assert_eq!(body["nodegroupName"], green);
    assert_eq!(body["version"], "1.31");
    assert_eq!(body["releaseVersion"], "1.31.4-20250123", "the newest known release of kubelet 1.31.4");
    assert_eq!(body["clientRequestToken"], token_for("prod", green, &CreateToken::new("conformance-run", 1)));
    assert_eq!(body["nodeRole"], ROLE);
    assert_eq!(body["subnets"].as_array().unwrap().len(), 2);
    assert_eq!(body["instanceTypes"], json!(["m6i.large", "m6a.large"]));
    assert_eq!(body["capacityType"], "SPOT");
    assert_eq!(body["amiType"], "AL2023_x86_64_STANDARD");
    assert_eq!(body["diskSize"], 50);
    assert_eq!(body["labels"], json!({"team": "payments"}));
    assert_eq!(body["taints"], json!([{"key": "dedicated", "value": "payments", "effect": "NO_SCHEDULE"}]));
    assert_eq!(body["remoteAccess"], json!({"ec2SshKey": "ops", "sourceSecurityGroups": ["sg-0ops"]}));
    // moto drops a node group's updateConfig at creation, so blue has none to clone here (see below).
    assert!(body.get("updateConfig").is_none());
    assert_eq!(body["scalingConfig"], json!({"minSize": 1, "maxSize": 5, "desiredSize": 3}));
    assert_eq!(body["tags"]["owner"], "platform");
    assert_eq!(body["tags"]["poolshift.io/source"], "workers");
    assert!(body.get("launchTemplate").is_none());

    // Freeze pinned blue at its desired size (the second freeze found it pinned), restore wrote back exactly
    // the recorded values; then the suite's second cycle did the same.
    let updates = w.proxy.with(|s| s.ops("UpdateNodegroupConfig"));
    assert_eq!(updates.len(), 4);
    assert!(updates.iter().all(|u| u.name.as_deref() == Some("workers")));
    for pair in updates.chunks(2) {
        assert_eq!(pair[0].json()["scalingConfig"], json!({"minSize": 3, "maxSize": 3, "desiredSize": 3}));
        assert_eq!(pair[1].json()["scalingConfig"], json!({"minSize": 1, "maxSize": 5, "desiredSize": 3}));
    }
    // The original sizes were tagged before the first pin, once per cycle, and the restores removed the tag.
    let tagged = w.proxy.with(|s| s.ops("TagResource"));
    assert_eq!(tagged.len(), 2);
    assert!(tagged.iter().all(|t| t.name.as_deref() == Some("workers")));
    assert_eq!(tagged[0].json()["tags"], json!({EKS_FROZEN_TAG: "min=1 max=5 desired=3"}));
    assert_eq!(w.proxy.with(|s| s.ops("UntagResource").len()), 2);
    assert_eq!(w.proxy.with(|s| s.nodegroup_tags.get("workers").cloned().unwrap_or_default()), Default::default());
    assert!(w.provider.describe_pool("workers").await.unwrap().extra.keys().all(|k| !k.contains("frozen")));
    assert!(
        updates.iter().all(|u| u
            .json()
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k == "scalingConfig" || k == "clientRequestToken"))
    );

    // The held delete was reported as DELETING before the node group went away.
    let deletes = w.proxy.with(|s| s.ops("DeleteNodegroup"));
    assert!(deletes.len() >= 2);
}

/// The bug report: a run aborted with blue frozen (min = max = desired); the next run's freeze must answer
/// blue's original sizes, so that its rollback puts them back instead of leaving blue pinned. A new provider
/// (a new poolshift process) reads them from the node group's tag.
#[tokio::test]
async fn eks_freezing_a_frozen_group_again_answers_its_original_sizes() {
    let w = world(0).await;
    let first = w.provider.freeze_autoscaling("workers").await.unwrap();
    assert_eq!(first.size, PoolSize { min: 1, max: 5, desired: 3 });
    let frozen = w.provider.describe_pool("workers").await.unwrap();
    assert_eq!(frozen.size, PoolSize { min: 3, max: 3, desired: 3 });
    assert_eq!(frozen.extra.get("tag:poolshift.io/frozen"), None, "the record is not cloned to green");

    let next_run = EksProvider::with_loader(
        EksSettings {
            region: REGION.into(),
            cluster: "prod".into(),
            endpoint_url: Some(w.proxy.url.clone()),
            profile: None,
        },
        loader(),
    )
    .await
    .unwrap();
    let again = next_run.freeze_autoscaling("workers").await.unwrap();
    assert_eq!(again, first, "the original sizes, not the frozen 3/3/3");
    assert!(again.enabled);
    next_run.restore_autoscaling("workers", &again).await.unwrap();
    assert_eq!(next_run.describe_pool("workers").await.unwrap().size, PoolSize { min: 1, max: 5, desired: 3 });
    assert_eq!(w.proxy.with(|s| s.nodegroup_tags["workers"].get(EKS_FROZEN_TAG).cloned()), None, "tag removed");
}

#[tokio::test]
async fn eks_describes_blue_and_offers_release_versions() {
    let w = world(0).await;
    let blue = w.provider.describe_pool("workers").await.unwrap();
    assert_eq!(blue.version, "1.30.8");
    assert_eq!(blue.zones, vec!["us-east-1a", "us-east-1b"]);
    assert_eq!(blue.capacity_type, CapacityType::Spot);
    assert_eq!(blue.size, PoolSize { min: 1, max: 5, desired: 3 });
    assert!(blue.autoscaling.enabled);
    assert_eq!(blue.disk_gb, Some(50));
    assert_eq!(blue.taints[0].effect, "NoSchedule");
    assert_eq!(blue.extra["release_version"], "1.30.8-20250101");
    assert_eq!(blue.extra["tag:owner"], "platform");
    assert_eq!(w.provider.node_matcher("workers").label, "eks.amazonaws.com/nodegroup");

    let v = w.provider.versions().await.unwrap();
    assert_eq!(v.control_plane, "1.31");
    assert_eq!(
        v.node_versions,
        vec!["1.29.13-20250123", "1.30.8-20250101", "1.30.9-20250123", "1.31.4-20250123"],
        "SSM's recommended releases of the allowed minors and the node groups' own"
    );
    // Asked once per allowed minor (1.28..1.31) for the AMI type in use.
    let params: Vec<String> = w.proxy.with(|s| s.ops("GetParameter")).into_iter().filter_map(|r| r.name).collect();
    assert_eq!(params.len(), 4);
    assert!(params.contains(&ssm_param("1.28")));
}

#[tokio::test]
async fn eks_surfaces_create_failed_and_degraded_health_issues() {
    let w = world(0).await;
    let blue = w.provider.describe_pool("workers").await.unwrap();
    let spec = PoolSpec::derive(&blue, "workers-v1-31-4", "1.31.4");
    w.provider.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    w.proxy.with(|s| {
        s.health.insert(
            "workers-v1-31-4".into(),
            (
                "CREATE_FAILED".into(),
                vec![("AsgInstanceLaunchFailures".into(), "InsufficientInstanceCapacity in us-east-1a".into())],
            ),
        )
    });
    let st = w.provider.pool_status("workers-v1-31-4").await.unwrap().unwrap();
    match st.state {
        PoolState::Failed { reason } => {
            assert_eq!(
                reason,
                "CREATE_FAILED: AsgInstanceLaunchFailures: InsufficientInstanceCapacity in us-east-1a (i-0proxy)"
            )
        }
        other => panic!("want Failed, got {other:?}"),
    }
    w.proxy.with(|s| {
        s.health.insert(
            "workers-v1-31-4".into(),
            ("DEGRADED".into(), vec![("AccessDenied".into(), "the node role cannot be assumed".into())]),
        )
    });
    let st = w.provider.pool_status("workers-v1-31-4").await.unwrap().unwrap();
    assert!(matches!(&st.state, PoolState::Failed { reason } if reason.starts_with("DEGRADED: AccessDenied")));
    assert_eq!(st.message.as_deref(), Some("AccessDenied: the node role cannot be assumed (i-0proxy)"));
}

#[tokio::test]
async fn eks_throttling_is_retried_then_reported_transient() {
    let w = world(0).await;
    // One throttled answer: the SDK's retry absorbs it.
    w.proxy.with(|s| s.throttle.insert("DescribeNodegroup".into(), 1));
    w.provider.describe_pool("workers").await.unwrap();
    assert_eq!(w.proxy.with(|s| s.ops("DescribeNodegroup").len()), 2);

    // Throttled on every attempt: Transient, with AWS's code and message, after the 3 attempts.
    w.proxy.with(|s| s.throttle.insert("UpdateNodegroupConfig".into(), 100));
    let err = w.provider.freeze_autoscaling("workers").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.kind.is_retryable());
    assert_eq!(err.message, "ThrottlingException: Rate exceeded");
    // The hint says what happened: the call was tried 3 times and given up; not that it will be retried.
    let hint = err.hint.as_deref().unwrap();
    assert!(
        hint.starts_with(
            "AWS throttled the call or failed transiently on all 3 attempts (jittered backoff), so it was given up"
        ),
        "{hint}"
    );
    assert!(!hint.contains("poolshift retries"), "{hint}");
    assert_eq!(w.proxy.with(|s| s.ops("UpdateNodegroupConfig").len()), 3);
}

/// Nothing listens at the endpoint (a closed port on 127.0.0.1): one readable line naming the endpoint and
/// the causes, without the SDK's debug structure; the hint says the call was given up after the SDK's attempts.
#[tokio::test]
async fn an_unreachable_endpoint_is_a_readable_error_naming_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{closed}");
    let settings =
        EksSettings { region: REGION.into(), cluster: "prod".into(), endpoint_url: Some(url.clone()), profile: None };
    let p = EksProvider::with_loader(settings, loader()).await.unwrap();
    let e = p.describe_pool("workers").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    let text = e.to_string();
    assert!(e.message.starts_with(&format!("cannot reach {url}, 3 attempts (dispatch failure: io error")), "{text}");
    assert!(e.message.contains("Connection refused"), "the cause: {text}");
    for debug in ["Some(", "None", "DispatchFailure {", "DispatchFailure(", "ConnectorError", "{ ", "source:", "kind:"]
    {
        assert!(!text.contains(debug), "debug output {debug:?} in: {text}");
    }
    assert_eq!(text.lines().count(), 1, "{text}");
    let hint = e.hint.as_deref().unwrap();
    assert!(hint.starts_with(&format!("{url} could not be reached on any of 3 attempts")), "{hint}");
    assert!(hint.contains("given up") && hint.contains("provider.endpoint_url"), "{hint}");
}

#[tokio::test]
async fn eks_errors_map_to_kinds() {
    let w = world(0).await;
    let e = w.provider.describe_pool("nope").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("node group nope not found in cluster prod"), "{e}");
    assert_eq!(w.provider.delete_pool("nope").await.unwrap(), None);
    assert_eq!(w.provider.pool_status("nope").await.unwrap(), None);

    // A missing cluster is not a missing node group: status must not say "gone".
    let other = EksProvider::with_loader(
        EksSettings {
            region: REGION.into(),
            cluster: "staging".into(),
            endpoint_url: Some(w.proxy.url.clone()),
            profile: None,
        },
        loader(),
    )
    .await
    .unwrap();
    let e = other.pool_status("workers").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("No cluster found for name: staging"), "{e}");

    // A kubelet patch no known release carries.
    let blue = w.provider.describe_pool("workers").await.unwrap();
    let e = w
        .provider
        .create_pool(&PoolSpec::derive(&blue, "workers-v1-31-2", "1.31.2"), &CreateToken::new("test", 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("no AL2023_x86_64_STANDARD AMI release with kubelet 1.31.2"), "{e}");
    assert!(e.message.contains("1.31.4-20250123"), "lists what is known: {e}");

    // A release version is passed verbatim; EKS's own rejection keeps its code and message.
    let mut spec = PoolSpec::derive(&blue, "workers-r", "1.31.5-20250301");
    spec.extra.insert("max_unavailable".into(), "2".into());
    w.provider.create_pool(&spec, &CreateToken::new("test", 1)).await.unwrap();
    let body = w.proxy.with(|s| s.ops("CreateNodegroup"))[0].json();
    assert_eq!((body["version"].as_str(), body["releaseVersion"].as_str()), (Some("1.31"), Some("1.31.5-20250301")));
    assert_eq!(body["updateConfig"], json!({"maxUnavailable": 2}));

    let mut bad = PoolSpec::derive(&blue, "workers-bad", "1.31");
    bad.extra.insert("node_role".into(), "not-an-arn".into());
    let e = w.provider.create_pool(&bad, &CreateToken::new("test", 1)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid, "{e}");
    assert!(e.message.starts_with("InvalidParameterException"), "{e}");
}

/// A release-version target (`poolshift upgrade --to 1.31.4-20250123`: the plan's green spec carries it as
/// written) creates green with EKS's `version` = its minor and `releaseVersion` = the release, verbatim; the
/// group then reports kubelet 1.31.4, and a retry of the create finds it.
#[tokio::test]
async fn eks_creates_green_at_a_release_version_target() {
    let w = world(0).await;
    let blue = w.provider.describe_pool("workers").await.unwrap();
    let release = "1.31.4-20250123";
    let green = w.provider.green_name("workers", release);
    assert_eq!(green, "workers-v1-31-4-20250123");
    let spec = PoolSpec::derive(&blue, &green, release);
    let token = CreateToken::new("workers-20250123T101500Z", 1);
    let created = w.provider.create_pool(&spec, &token).await.unwrap();
    assert_eq!(created.version, "1.31.4", "the kubelet of the release");
    let creates = w.proxy.with(|s| s.ops("CreateNodegroup"));
    assert_eq!(creates.len(), 1);
    let body = creates[0].json();
    assert_eq!((body["version"].as_str(), body["releaseVersion"].as_str()), (Some("1.31"), Some(release)));
    assert_eq!(body["clientRequestToken"], token_for("prod", &green, &token));
    assert_eq!(body["tags"]["poolshift.io/version"], release);
    // No SSM lookup: the release is used as given.
    assert!(w.proxy.with(|s| s.ops("GetParameter")).is_empty());
    w.provider.create_pool(&spec, &token).await.unwrap();
    assert_eq!(w.proxy.with(|s| s.ops("CreateNodegroup").len()), 1, "the retry found the node group");
    let st = w.provider.pool_status(&green).await.unwrap().unwrap();
    assert_eq!(st.version, "1.31.4");
}

#[tokio::test]
async fn eks_status_follows_the_node_group_lifecycle() {
    let w = world(1).await;
    let blue = w.provider.describe_pool("workers").await.unwrap();
    let green = "workers-v1-31-4";
    let created =
        w.provider.create_pool(&PoolSpec::derive(&blue, green, "1.31.4"), &CreateToken::new("test", 1)).await.unwrap();
    assert_eq!((created.state, created.nodes), (PoolState::Creating, 0));
    let st = w.provider.pool_status(green).await.unwrap().unwrap();
    assert_eq!(st.state, PoolState::Creating);
    let st = w.provider.pool_status(green).await.unwrap().unwrap();
    assert_eq!((st.state, st.nodes, st.version.as_str()), (PoolState::Ready, 3, "1.31.4"));

    let deleting = w.provider.delete_pool(green).await.unwrap().unwrap();
    assert_eq!(deleting.state, PoolState::Deleting);
    assert_eq!(w.provider.pool_status(green).await.unwrap().unwrap().state, PoolState::Deleting);
    assert_eq!(w.provider.pool_status(green).await.unwrap(), None);
    assert_eq!(w.provider.delete_pool(green).await.unwrap(), None);
}
