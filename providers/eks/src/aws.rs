//! Loading the AWS configuration shared by every client: the default credential chain (environment,
//! shared profile, IRSA web identity, EKS Pod Identity / container credentials, instance metadata), a
//! region, an optional profile and endpoint override, and an HTTPS client on rustls with ring.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use poolshift_provider_api::{ErrorKind, ProviderError};

/// Attempts of the SDK's standard retry mode (jittered exponential backoff, throttling-aware) before an
/// error reaches poolshift, which retries transient errors again.
const SDK_MAX_ATTEMPTS: u32 = 5;

/// The loader `new` constructors start from: defaults of the current SDK behaviour, more attempts.
pub fn default_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS))
}

/// The SDK's hyper client with rustls on ring (HTTP and HTTPS endpoints).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// Applies the settings to `loader` and loads the configuration.
pub(crate) async fn load(
    provider: &str,
    loader: ConfigLoader,
    region: &str,
    profile: Option<&str>,
    endpoint_url: Option<&str>,
) -> Result<SdkConfig, ProviderError> {
    if region.trim().is_empty() {
        return Err(ProviderError::new(provider, "configure", ErrorKind::Invalid, "region is empty")
            .with_hint("set provider.region in the cluster config (e.g. eu-west-1)"));
    }
    let mut loader = loader.http_client(https_client()).region(Region::new(region.to_string()));
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    Ok(loader.load().await)
}

pub(crate) fn require_cluster(provider: &str, cluster: &str) -> Result<(), ProviderError> {
    if cluster.trim().is_empty() {
        return Err(ProviderError::new(provider, "configure", ErrorKind::Invalid, "cluster is empty")
            .with_hint("set provider.cluster to the EKS cluster name"));
    }
    Ok(())
}
