//! Batch jobs by filter (S3's manifest generator) on the wire: the CreateJob body the
//! adapter sends against the body the SDK serialized for the research fixture, the
//! element names against AWS's service model, and DescribeJob answers of a generator
//! job. Files are in `tests/fixtures/aws/manifest-generator/`; its README section says
//! where each comes from and what in it is constructed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aws_sdk_s3control::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{capture_request, infallible_client_fn};
use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpClient};
use aws_smithy_types::body::SdkBody;
use gbr_aws::{BatchSettings, S3BatchOperations};
use gbr_core::filter::ObjectFilter;
use gbr_core::ports::{BatchJobSpec, BatchManifest, BatchOperations, PortError};
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::BatchJobStatus;
use serde_json::Value;

const ACCOUNT: &str = "012345678901";
const JOB_ID: &str = "93735294-df46-44d5-8638-6356f335324e";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aws/manifest-generator")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The settings the fixture's request was serialized with.
fn settings() -> BatchSettings {
    BatchSettings {
        account_id: ACCOUNT.into(),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/S3BatchJobRole"),
        report_bucket_arn: "arn:aws:s3:::amzn-s3-demo-completion-report-bucket".into(),
        report_prefix: "reports".into(),
        priority: 2,
    }
}

fn batch(http: impl HttpClient + 'static) -> S3BatchOperations {
    let config = aws_sdk_s3control::Config::builder()
        .http_client(http)
        .credentials_provider(Credentials::for_tests())
        .region(Region::new("us-east-1"))
        .behavior_version(aws_sdk_s3control::config::BehaviorVersion::latest())
        .build();
    S3BatchOperations::from_client(aws_sdk_s3control::Client::from_conf(config), settings())
}

fn answering(status: u16, body: String) -> SharedHttpClient {
    infallible_client_fn(move |_request| {
        http::Response::builder()
            .status(status)
            .body(SdkBody::from(body.clone()))
            .expect("a response")
    })
}

fn ok(body: &str) -> http::Response<SdkBody> {
    http::Response::builder()
        .status(200)
        .body(SdkBody::from(body.to_owned()))
        .expect("a response")
}

/// The filter and output of the fixture's request: the User Guide's example, with
/// strict sizes 100 < size < 200 (ours are inclusive: 101 to 199).
fn spec() -> BatchJobSpec {
    BatchJobSpec {
        job_id: "00000000-0000-4000-8000-000000000000".into(),
        manifest: BatchManifest::Generate {
            filter: ObjectFilter {
                bucket: "amzn-s3-demo-source-bucket".into(),
                prefixes: vec!["prefix".into()],
                suffixes: vec!["suffix".into()],
                created_after: Some("2023-09-01T00:00:00Z".parse().unwrap()),
                created_before: Some("2023-10-01T00:00:00Z".parse().unwrap()),
                min_size_bytes: Some(101),
                max_size_bytes: Some(199),
                storage_classes: vec![StorageClass::Glacier, StorageClass::DeepArchive],
            },
            output_bucket: "amzn-s3-demo-manifest-bucket".into(),
            output_prefix: "prefix".into(),
        },
        tier: Tier::Bulk,
        expiration_days: 7,
        client_tag: None,
    }
}

/// The leaf elements of a small XML document as (path of element names, text), in
/// document order. Enough for these bodies: no attributes kept, no entities, no CDATA.
fn leaves(xml: &str) -> Vec<(String, String)> {
    let mut path: Vec<String> = Vec::new();
    // Per open element: whether it has a child element.
    let mut parents: Vec<bool> = Vec::new();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = xml;
    let name = |tag: &str| tag.split_whitespace().next().unwrap_or_default().to_owned();
    let mut leaf = |path: &[String], last: &str, text: &str, parents: &mut Vec<bool>| {
        let mut full = path.to_vec();
        full.push(last.to_owned());
        out.push((full.join("/"), text.trim().to_owned()));
        if let Some(parent) = parents.last_mut() {
            *parent = true;
        }
    };
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let end = start + rest[start..].find('>').expect("a closed tag");
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(closing) = tag.strip_prefix('/') {
            let open = path.pop().expect("an open element");
            assert_eq!(open, closing, "mismatched tags");
            if !parents.pop().expect("an open element") {
                leaf(&path, &open, &text, &mut parents);
            } else if let Some(parent) = parents.last_mut() {
                *parent = true;
            }
        } else if let Some(empty) = tag.strip_suffix('/') {
            leaf(&path, &name(empty), "", &mut parents);
        } else {
            path.push(name(tag));
            parents.push(false);
        }
        text.clear();
    }
    assert!(path.is_empty(), "unclosed elements {path:?}");
    out
}

/// CreateJob for a filter sends the body the SDK serialized for the fixture, element by
/// element: ConfirmationRequired true, the whole ManifestGenerator (SSE-S3, the
/// generated format, the filter with the sizes shifted to strict bounds) and no
/// Manifest. Only the description is ours.
#[tokio::test]
async fn create_job_by_filter_sends_the_fixture_body() {
    let (http, request) = capture_request(Some(ok(
        "<CreateJobResult><JobId>93735294-df46-44d5-8638-6356f335324e</JobId></CreateJobResult>",
    )));
    let id = batch(http).create_job(&spec()).await.unwrap();
    assert_eq!(id, JOB_ID);

    let request = request.expect_request();
    assert_eq!(request.method(), "POST");
    assert_eq!(
        request.uri(),
        format!("https://{ACCOUNT}.s3-control.us-east-1.amazonaws.com/v20180820/jobs")
    );
    assert_eq!(request.headers().get("x-amz-account-id"), Some(ACCOUNT));
    let sent = std::str::from_utf8(request.body().bytes().expect("a buffered body"))
        .unwrap()
        .to_owned();
    let fixture = read("create-job-request.aws-sdk-rust-serialized.xml");
    let root = |xml: &str| xml[..xml.find('>').unwrap() + 1].to_owned();
    assert_eq!(root(&sent), root(&fixture), "root element and namespace");

    let description = "CreateJobRequest/Description";
    let (ours, theirs) = (leaves(&sent), leaves(&fixture));
    let ours_described: Vec<_> = ours.iter().filter(|(p, _)| p == description).collect();
    assert_eq!(ours_described.len(), 1);
    assert!(
        ours_described[0]
            .1
            .contains("00000000-0000-4000-8000-000000000000")
    );
    let without = |all: Vec<(String, String)>| -> Vec<(String, String)> {
        all.into_iter().filter(|(p, _)| p != description).collect()
    };
    let (ours, theirs) = (without(ours), without(theirs));
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "element {i}");
    }
    assert_eq!(ours.len(), theirs.len(), "{ours:#?}");
    assert_eq!(ours.len(), 27);

    // What the design depends on, named.
    let value = |path: &str| {
        ours.iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {path}"))
    };
    let generator = "CreateJobRequest/ManifestGenerator/S3JobManifestGenerator";
    let output = format!("{generator}/ManifestOutputLocation");
    assert_eq!(value("CreateJobRequest/ConfirmationRequired"), "true");
    assert_eq!(value(&format!("{generator}/EnableManifestOutput")), "true");
    assert_eq!(
        value(&format!("{output}/ManifestEncryption/SSE-S3")),
        "",
        "SSE-S3 is an empty element"
    );
    assert_eq!(
        value(&format!("{output}/ManifestFormat")),
        "S3InventoryReport_CSV_20211130"
    );
    assert_eq!(
        value(&format!("{generator}/Filter/ObjectSizeGreaterThanBytes")),
        "100"
    );
    assert_eq!(
        value(&format!("{generator}/Filter/ObjectSizeLessThanBytes")),
        "200"
    );
    assert!(
        !ours
            .iter()
            .any(|(p, _)| p.starts_with("CreateJobRequest/Manifest/")),
        "a job with a generator has no Manifest"
    );
}

/// The service model, for the shapes the fixture's excerpt holds.
struct Model(Value);

impl Model {
    fn load() -> Self {
        Self(serde_json::from_str(&read("s3control-model-excerpt.botocore.json")).unwrap())
    }

    fn shape(&self, name: &str) -> Option<&Value> {
        self.0["shapes"].get(name)
    }

    /// The member of a structure shape that `element` names on the wire.
    fn member<'a>(&'a self, shape: &str, element: &str) -> Option<(&'a str, &'a Value)> {
        self.shape(shape)?["members"]
            .as_object()?
            .iter()
            .find(|(name, m)| m["locationName"].as_str().unwrap_or(name) == element)
            .map(|(name, m)| (name.as_str(), m))
    }
}

/// Every element under ManifestGenerator in the body we send is a member the S3
/// Control model names, every required member is there, and every value of an enum
/// shape is one the model lists: checked against AWS's model, not only the SDK.
#[tokio::test]
async fn the_generator_we_send_is_the_models() {
    let (http, request) = capture_request(Some(ok(
        "<CreateJobResult><JobId>j-1</JobId></CreateJobResult>",
    )));
    batch(http).create_job(&spec()).await.unwrap();
    let request = request.expect_request();
    let sent = std::str::from_utf8(request.body().bytes().unwrap())
        .unwrap()
        .to_owned();
    let model = Model::load();
    let mut present = BTreeSet::new();
    let mut checked = 0;
    for (path, text) in leaves(&sent) {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..=parts.len() {
            present.insert(parts[..i].join("/"));
        }
        if parts.get(1) != Some(&"ManifestGenerator") {
            continue;
        }
        let mut shape = "CreateJobRequest".to_owned();
        for element in &parts[1..] {
            let list = model
                .shape(&shape)
                .filter(|s| s["type"] == "list")
                .map(|s| s["member"].clone());
            shape = match list {
                Some(member) => {
                    assert_eq!(
                        *element,
                        member["locationName"].as_str().unwrap_or("member"),
                        "{path}"
                    );
                    member["shape"].as_str().unwrap().to_owned()
                }
                None => {
                    let (_, member) = model
                        .member(&shape, element)
                        .unwrap_or_else(|| panic!("{path}: {element} is not a member of {shape}"));
                    member["shape"].as_str().unwrap().to_owned()
                }
            };
        }
        if let Some(values) = model.shape(&shape).and_then(|s| s["enum"].as_array()) {
            assert!(
                values.iter().any(|v| v == text.as_str()),
                "{path}: {text} is not in {shape}'s {values:?}"
            );
            checked += 1;
        }
    }
    // ManifestFormat and two storage classes.
    assert_eq!(checked, 3);
    for (path, shape) in [
        (
            "CreateJobRequest/ManifestGenerator/S3JobManifestGenerator",
            "S3JobManifestGenerator",
        ),
        (
            "CreateJobRequest/ManifestGenerator/S3JobManifestGenerator/ManifestOutputLocation",
            "S3ManifestOutputLocation",
        ),
    ] {
        for required in model.shape(shape).unwrap()["required"].as_array().unwrap() {
            let name = required.as_str().unwrap();
            assert!(present.contains(&format!("{path}/{name}")), "{path}/{name}");
        }
    }
    let confirmation = model.member("CreateJobRequest", "ConfirmationRequired");
    assert!(confirmation.is_some());
    assert!(present.contains("CreateJobRequest/ConfirmationRequired"));
}

/// The element's text in a document holding it once.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let rest = xml.split(&format!("<{name}>")).nth(1)?;
    rest.split(&format!("</{name}>")).next()
}

/// DescribeJob on a generator job as it prepares, waits for confirmation and runs
/// (constructed answers): the status, the counts, and the generated list only where
/// the answer has a GeneratedManifestDescriptor, split into bucket and a key with '/'.
#[tokio::test]
async fn describe_job_reads_the_generated_manifest() {
    for (file, status, has_list) in [
        (
            "describe-job-generator-preparing.constructed.xml",
            BatchJobStatus::Preparing,
            false,
        ),
        (
            "describe-job-generator-suspended.constructed.xml",
            BatchJobStatus::Suspended,
            true,
        ),
        (
            "describe-job-generator-active.constructed.xml",
            BatchJobStatus::Active,
            true,
        ),
    ] {
        let body = read(file);
        let info = batch(answering(200, body.clone()))
            .describe_job(JOB_ID)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(info.status, status, "{file}");
        let number =
            |name: &str| element(&body, name).map_or(0, |n| n.parse::<u64>().expect("a number"));
        assert_eq!(info.tasks_total, number("TotalNumberOfTasks"), "{file}");
        assert_eq!(
            info.tasks_succeeded,
            number("NumberOfTasksSucceeded"),
            "{file}"
        );
        assert_eq!(info.tasks_failed, number("NumberOfTasksFailed"), "{file}");
        assert_eq!(body.contains("<GeneratedManifestDescriptor>"), has_list);
        match (&info.generated_manifest, has_list) {
            (None, false) => {}
            (Some(list), true) => {
                let arn = element(&body, "ObjectArn").unwrap();
                assert_eq!(format!("arn:aws:s3:::{}/{}", list.bucket, list.key), arn);
                assert_eq!(list.bucket, "amzn-s3-demo-manifest-bucket", "{file}");
                assert!(list.key.starts_with("prefix/"), "{file}: {}", list.key);
                assert!(list.key.ends_with("/manifest.json"), "{file}: {}", list.key);
                assert_eq!(list.etag, element(&body, "ETag").unwrap(), "{file}");
                assert_eq!(list.version_id, None, "{file}");
            }
            (other, _) => panic!("{file}: generated manifest {other:?}"),
        }
    }
}

/// The descriptor's ETag may come quoted and with a version; an ARN naming no key is
/// refused, naming the ARN.
#[tokio::test]
async fn a_quoted_etag_is_trimmed_and_a_keyless_arn_is_rejected() {
    let body = read("describe-job-generator-suspended.constructed.xml");
    let quoted = body.replace(
        "<ETag>PLACEHOLDER0000000000000000000000</ETag>",
        "<ObjectVersionId>v-7</ObjectVersionId><ETag>&quot;abc123&quot;</ETag>",
    );
    assert_ne!(quoted, body);
    let list = batch(answering(200, quoted))
        .describe_job(JOB_ID)
        .await
        .unwrap()
        .generated_manifest
        .unwrap();
    assert_eq!(list.etag, "abc123");
    assert_eq!(list.version_id.as_deref(), Some("v-7"));

    let arn = element(&body, "ObjectArn").unwrap();
    let keyless = body.replace(arn, "arn:aws:s3:::amzn-s3-demo-manifest-bucket");
    match batch(answering(200, keyless)).describe_job(JOB_ID).await {
        Err(PortError::Rejected(m)) => {
            assert!(
                m.contains("arn:aws:s3:::amzn-s3-demo-manifest-bucket"),
                "{m}"
            )
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// confirm_job asks for Ready in the query parameter the model names; a job no longer
/// waiting answers JobStatusException, which is a conflict.
#[tokio::test]
async fn confirm_job_requests_ready_and_a_job_no_longer_waiting_is_a_conflict() {
    let model = Model::load();
    let (_, status) = model
        .member("UpdateJobStatusRequest", "requestedJobStatus")
        .expect("the query parameter");
    assert_eq!(status["location"], "querystring");
    let allowed = model.shape("RequestedJobStatus").unwrap()["enum"].clone();
    assert!(allowed.as_array().unwrap().iter().any(|v| v == "Ready"));
    let http = model.0["operations"]["UpdateJobStatus"]["http"].clone();
    assert_eq!(http["method"], "POST");

    let (client, request) = capture_request(Some(ok(&format!(
        "<UpdateJobStatusResult><JobId>{JOB_ID}</JobId><Status>Ready</Status></UpdateJobStatusResult>"
    ))));
    batch(client).confirm_job(JOB_ID).await.unwrap();
    let request = request.expect_request();
    assert_eq!(request.method(), "POST");
    assert_eq!(request.headers().get("x-amz-account-id"), Some(ACCOUNT));
    let uri: http::Uri = request.uri().parse().unwrap();
    let path = http["requestUri"].as_str().unwrap().replace("{id}", JOB_ID);
    assert_eq!(uri.path(), path);
    let query: Vec<(&str, &str)> = uri
        .query()
        .unwrap()
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    assert!(
        query.contains(&("requestedJobStatus", "Ready")),
        "{query:?}"
    );
    assert!(
        query
            .iter()
            .any(|(k, v)| *k == "statusUpdateReason" && v.contains("registered")),
        "{query:?}"
    );

    let waiting_no_more = "<ErrorResponse><Error><Code>JobStatusException</Code><Message>Job is not in a state that allows the requested status</Message></Error></ErrorResponse>";
    match batch(answering(400, waiting_no_more.into()))
        .confirm_job(JOB_ID)
        .await
    {
        Err(PortError::Conflict(m)) => assert!(m.contains(JOB_ID), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}
