//! Where a manifest is in S3, uploading a local one there, and reading one back.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use aws_sdk_s3::primitives::ByteStream;
use gbr_aws::{SdkSettings, load_sdk_config};
use gbr_core::object_id::validate_bucket;
use thiserror::Error;

/// `s3://bucket/key`; the key may be empty or end in `/` (a prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

impl S3Location {
    /// A prefix (empty or ending in `/`) rather than an object's key.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    /// Where `file` goes: under the prefix with its own name, or at the key as given.
    pub fn for_file(&self, file: &Path) -> Result<S3Location, UploadError> {
        if !self.is_prefix() {
            return Ok(self.clone());
        }
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| UploadError::NoFileName(file.display().to_string()))?;
        Ok(S3Location {
            bucket: self.bucket.clone(),
            key: format!("{}{name}", self.key),
        })
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl FromStr for S3Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{text:?} is not an S3 URL; write s3://bucket/key"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        validate_bucket(bucket).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(S3Location {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

#[derive(Debug, Error)]
pub enum UploadError {
    #[error("{0} has no file name to upload it under; give --upload-to s3://bucket/key")]
    NoFileName(String),
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("uploading to {to} failed: {message}")]
    Put { to: String, message: String },
}

#[derive(Debug, Error)]
#[error("cannot read {location}: {message}")]
pub struct DownloadError {
    pub location: String,
    pub message: String,
}

/// The whole object at `bucket`/`key`.
pub async fn download(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, DownloadError> {
    let failed = |message: String| DownloadError {
        location: format!("s3://{bucket}/{key}"),
        message,
    };
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| failed(describe_sdk_error(&e)))?;
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(body.into_bytes().to_vec())
}

/// Uploads `file` to `to` (see [`s3_client`] for `endpoint_url`).
pub async fn upload(
    file: &Path,
    to: &S3Location,
    endpoint_url: Option<&str>,
) -> Result<(), UploadError> {
    let s3 = s3_client(endpoint_url).await;
    let body = ByteStream::from_path(file)
        .await
        .map_err(|e| UploadError::Read {
            path: file.display().to_string(),
            message: e.to_string(),
        })?;
    s3.put_object()
        .bucket(&to.bucket)
        .key(&to.key)
        .content_type("text/csv")
        .body(body)
        .send()
        .await
        .map_err(|e| UploadError::Put {
            to: to.to_string(),
            message: describe_sdk_error(&e),
        })?;
    Ok(())
}

/// An S3 client with the SDK's usual configuration (credentials, region), sending to
/// `endpoint_url` when given. A loopback endpoint (the local stack's moto) gets dummy
/// credentials unless AWS_ACCESS_KEY_ID is set.
pub async fn s3_client(endpoint_url: Option<&str>) -> aws_sdk_s3::Client {
    let local = endpoint_url.is_some_and(is_loopback_url);
    let mut settings = SdkSettings {
        region: None,
        endpoint_url: endpoint_url.map(str::to_owned),
        dummy_credentials: local && std::env::var_os("AWS_ACCESS_KEY_ID").is_none(),
    };
    let mut sdk = load_sdk_config(&settings).await;
    if sdk.region().is_none() {
        // No region configured anywhere: S3 needs one to sign requests.
        settings.region = Some("us-east-1".into());
        sdk = load_sdk_config(&settings).await;
    }
    gbr_aws::config::s3_client(&sdk)
}

/// The service's code and message when it answered, else the cause (no connection...).
pub fn describe_sdk_error<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    if let Some(service) = e.as_service_error() {
        let code = service.code().unwrap_or("error");
        let message = service.message().unwrap_or("no message");
        return format!("{code}: {message}");
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn is_loopback_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_parse_into_bucket_and_key() {
        let l: S3Location = "s3://my-bucket/manifests/a.csv".parse().unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.key.as_str()),
            ("my-bucket", "manifests/a.csv")
        );
        assert!(!l.is_prefix());
        let p: S3Location = "s3://my-bucket/uploads/".parse().unwrap();
        assert!(p.is_prefix());
        assert_eq!(
            p.for_file(Path::new("/tmp/x/m.csv")).unwrap().to_string(),
            "s3://my-bucket/uploads/m.csv"
        );
        let bare: S3Location = "s3://my-bucket".parse().unwrap();
        assert_eq!(bare.for_file(Path::new("m.csv")).unwrap().key, "m.csv");
        assert_eq!(l.for_file(Path::new("other.csv")).unwrap(), l);
        assert!("my-bucket/a.csv".parse::<S3Location>().is_err());
        assert!("s3://Bad_Bucket/a.csv".parse::<S3Location>().is_err());
    }

    #[test]
    fn loopback_endpoints_are_recognised() {
        assert!(is_loopback_url("http://127.0.0.1:5000"));
        assert!(is_loopback_url("http://localhost:5000/"));
        assert!(is_loopback_url("http://[::1]:5000"));
        assert!(!is_loopback_url("https://s3.us-east-1.amazonaws.com"));
        assert!(!is_loopback_url("not a url"));
    }
}
