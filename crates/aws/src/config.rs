//! The SDK configuration every adapter is built from.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// Where the adapters send their requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdkSettings {
    /// `None` takes the region from the environment (`AWS_REGION` in Lambda).
    pub region: Option<String>,
    /// A local server (moto) instead of AWS; `None` for AWS's own endpoints.
    pub endpoint_url: Option<String>,
    /// Fixed dummy credentials instead of the default chain. A local server checks
    /// none, and the default chain would otherwise probe instance metadata first.
    pub dummy_credentials: bool,
}

impl SdkSettings {
    /// A local server at `endpoint_url`, in `us-east-1`, with dummy credentials.
    pub fn local(endpoint_url: impl Into<String>) -> Self {
        Self {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint_url.into()),
            dummy_credentials: true,
        }
    }
}

/// Loads the SDK configuration: region, endpoint and credentials from `settings`,
/// anything left unset from the environment.
pub async fn load_sdk_config(settings: &SdkSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    if settings.dummy_credentials {
        loader =
            loader.credentials_provider(Credentials::new("test", "test", None, None, "gbr-dummy"));
    }
    loader.load().await
}

/// An S3 client for `config`; path-style addressing when a custom endpoint is set,
/// since a local server has no per-bucket host names.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder =
        aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
    aws_sdk_s3::Client::from_conf(builder.build())
}
