//! Pure functions of the crate: error classification, version mapping, image versions, user data labels,
//! idempotency tokens (here rather than in the library, so the crate links a single test binary).

use poolshift_provider_api::{CreateToken, ErrorKind};
use poolshift_provider_eks::errors::classify;
use poolshift_provider_eks::images::{kubelet_of_image, rewrite_label};
use poolshift_provider_eks::token_for;
use poolshift_provider_eks::versions::{
    EksTarget, allowed_minors, kubelet_of_release, newest_release_for, parse_target, ssm_release_parameter,
};

#[test]
fn codes_map_to_kinds() {
    assert_eq!(classify(Some("ThrottlingException"), Some(400)), ErrorKind::Transient);
    assert_eq!(classify(Some("Throttling"), Some(400)), ErrorKind::Transient);
    assert_eq!(classify(Some("RequestLimitExceeded"), Some(503)), ErrorKind::Transient);
    assert_eq!(classify(Some("ResourceLimitExceededException"), Some(400)), ErrorKind::Quota);
    assert_eq!(classify(Some("LimitExceeded"), Some(400)), ErrorKind::Quota);
    assert_eq!(classify(Some("InsufficientInstanceCapacity"), Some(500)), ErrorKind::Capacity);
    assert_eq!(classify(Some("AccessDeniedException"), Some(403)), ErrorKind::Permission);
    assert_eq!(classify(Some("ResourceNotFoundException"), Some(404)), ErrorKind::NotFound);
    assert_eq!(classify(Some("InvalidLaunchTemplateId.NotFound"), Some(400)), ErrorKind::NotFound);
    assert_eq!(classify(Some("ResourceInUseException"), Some(409)), ErrorKind::Conflict);
    assert_eq!(classify(Some("AlreadyExists"), Some(400)), ErrorKind::Conflict);
    assert_eq!(classify(Some("InvalidParameterException"), Some(400)), ErrorKind::Invalid);
    assert_eq!(classify(Some("ValidationError"), Some(400)), ErrorKind::Invalid);
    assert_eq!(classify(None, Some(502)), ErrorKind::Transient);
    assert_eq!(classify(Some("Weird"), None), ErrorKind::Failed);
}

#[test]
fn targets_map_to_version_and_release() {
    assert_eq!(parse_target("1.31"), Some(EksTarget::Minor("1.31".into())));
    assert_eq!(parse_target("1.31.4"), Some(EksTarget::Patch { minor: "1.31".into(), kubelet: "1.31.4".into() }));
    assert_eq!(
        parse_target("v1.31.4-20250123"),
        Some(EksTarget::Release { minor: "1.31".into(), release: "1.31.4-20250123".into() })
    );
    assert_eq!(parse_target("banana"), None);
    assert_eq!(kubelet_of_release("1.31.4-20250123").as_deref(), Some("1.31.4"));
    assert_eq!(kubelet_of_release("1.26.0-4f0d9a4c").as_deref(), Some("1.26.0"));
    assert_eq!(kubelet_of_release("1.31"), None);
    let rs = vec!["1.31.4-20250101".to_string(), "1.31.4-20250123".to_string(), "1.31.5-20250201".to_string()];
    assert_eq!(newest_release_for("1.31.4", &rs).as_deref(), Some("1.31.4-20250123"));
    assert_eq!(newest_release_for("1.31.3", &rs), None);
    assert_eq!(allowed_minors("1.31"), vec!["1.28", "1.29", "1.30", "1.31"]);
    assert_eq!(allowed_minors("1.2"), vec!["1.0", "1.1", "1.2"]);
    assert_eq!(
        ssm_release_parameter("AL2023_x86_64_STANDARD", "1.31").as_deref(),
        Some("/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/release_version")
    );
    assert_eq!(ssm_release_parameter("BOTTLEROCKET_x86_64", "1.31"), None);
}

#[test]
fn image_versions() {
    assert_eq!(kubelet_of_image(Some("1.31.4"), Some("k8s: 1.30.1"), None).as_deref(), Some("1.31.4"));
    assert_eq!(
        kubelet_of_image(None, Some("EKS Kubernetes Worker AMI (k8s: 1.30.8, containerd: 1.7.*)"), None).as_deref(),
        Some("1.30.8")
    );
    assert_eq!(
        kubelet_of_image(None, None, Some("amazon-eks-node-al2023-x86_64-standard-1.31-v20250123")).as_deref(),
        Some("1.31")
    );
    assert_eq!(kubelet_of_image(None, Some("my image"), Some("ubuntu-22.04")), None);
}

#[test]
fn labels_are_rewritten_exactly() {
    let ud = "#!/bin/bash\n/etc/eks/bootstrap.sh c --kubelet-extra-args '--node-labels=alpha.eksctl.io/nodegroup-name=ng,x=ng-2'\n";
    let out = rewrite_label(ud, "alpha.eksctl.io/nodegroup-name", "ng", "ng-v1-31-4").unwrap();
    assert!(out.contains("--node-labels=alpha.eksctl.io/nodegroup-name=ng-v1-31-4,x=ng-2'"));
    // A longer value that starts with the blue name is not blue's label.
    assert_eq!(rewrite_label("alpha.eksctl.io/nodegroup-name=ng-2", "alpha.eksctl.io/nodegroup-name", "ng", "g"), None);
    let yaml = "labels:\n  alpha.eksctl.io/nodegroup-name: ng\n";
    assert_eq!(
        rewrite_label(yaml, "alpha.eksctl.io/nodegroup-name", "ng", "g2").unwrap(),
        "labels:\n  alpha.eksctl.io/nodegroup-name: g2\n"
    );
}

#[test]
fn tokens_are_deterministic_and_distinct() {
    let attempt = CreateToken::new("workers-20250123T101500Z", 1);
    let a = token_for("prod", "workers-v1-31-4", &attempt);
    assert_eq!(a, token_for("prod", "workers-v1-31-4", &CreateToken::new("workers-20250123T101500Z", 1)));
    assert_ne!(a, token_for("prod", "workers-v1-31-5", &attempt));
    assert_ne!(a, token_for("stage", "workers-v1-31-4", &attempt));
    // Another attempt of the run, or another run, creates with another token.
    assert_ne!(a, token_for("prod", "workers-v1-31-4", &CreateToken::new("workers-20250123T101500Z", 2)));
    assert_ne!(a, token_for("prod", "workers-v1-31-4", &CreateToken::new("workers-20250124T080000Z", 1)));
    assert_eq!(a.len(), "poolshift-".len() + 32);
}
