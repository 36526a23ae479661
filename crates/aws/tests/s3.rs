//! The S3 adapter against a moto server.

mod support;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, StorageClass, Tier};
use gbr_aws::S3Objects;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{ArchiveState, ObjectInspector, ObjectSource, PortError};

/// A bucket of its own, the adapter, and a raw client to set things up.
async fn setup() -> (String, S3Objects, aws_sdk_s3::Client) {
    let config = support::sdk_config().await;
    let raw = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = support::unique("bucket");
    raw.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    (bucket, S3Objects::new(&config), raw)
}

async fn put(
    raw: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    class: Option<StorageClass>,
) {
    raw.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .set_storage_class(class)
        .send()
        .await
        .expect("put object");
}

#[tokio::test]
async fn ranges_reassemble_the_object() {
    let (bucket, s3, raw) = setup().await;
    let body: Vec<u8> = (0..10_000u32)
        .flat_map(|i| format!("{i},").into_bytes())
        .collect();
    let key = "manifests/big list+1.csv";
    put(&raw, &bucket, key, body.clone(), None).await;

    let meta = s3.head(&bucket, key).await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    assert!(!meta.etag.is_empty());

    let mut read = Vec::new();
    let piece = 4096;
    loop {
        let chunk = s3
            .read_range(&bucket, key, Some(&meta.etag), read.len() as u64, piece)
            .await
            .unwrap();
        assert!(chunk.len() as u64 <= piece);
        let last = (chunk.len() as u64) < piece;
        read.extend(chunk);
        if last {
            break;
        }
    }
    assert_eq!(read, body);
    // At or past the end there is nothing more.
    assert!(
        s3.read_range(&bucket, key, Some(&meta.etag), body.len() as u64, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s3.read_range(&bucket, key, None, body.len() as u64 + 5, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s3.read_range(&bucket, key, None, 5, 0).await.unwrap(),
        Vec::<u8>::new()
    );
    assert_eq!(
        s3.read_range(&bucket, key, None, 0, 5).await.unwrap(),
        &body[..5]
    );
}

#[tokio::test]
async fn an_empty_object_reads_as_empty() {
    let (bucket, s3, raw) = setup().await;
    put(&raw, &bucket, "empty.csv", Vec::new(), None).await;
    let meta = s3.head(&bucket, "empty.csv").await.unwrap();
    assert_eq!(meta.size, 0);
    assert!(
        s3.read_range(&bucket, "empty.csv", Some(&meta.etag), 0, 1024)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_changed_object_is_a_conflict_and_a_missing_one_not_found() {
    let (bucket, s3, raw) = setup().await;
    put(&raw, &bucket, "m.csv", b"b,k1\n".to_vec(), None).await;
    let meta = s3.head(&bucket, "m.csv").await.unwrap();
    put(&raw, &bucket, "m.csv", b"b,k2\nb,k3\n".to_vec(), None).await;
    match s3
        .read_range(&bucket, "m.csv", Some(&meta.etag), 0, 100)
        .await
    {
        Err(PortError::Conflict(m)) => assert!(m.contains("m.csv"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    match s3.head(&bucket, "nope.csv").await {
        Err(PortError::NotFound(m)) => assert!(m.contains("nope.csv"), "{m}"),
        other => panic!("expected not found, got {other:?}"),
    }
    assert!(matches!(
        s3.read_range(&bucket, "nope.csv", None, 0, 100).await,
        Err(PortError::NotFound(_))
    ));
    assert!(matches!(
        s3.head("no-such-bucket-gbr", "m.csv").await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test]
async fn inspect_tells_archive_states_apart() {
    let (bucket, s3, raw) = setup().await;
    put(&raw, &bucket, "standard", b"x".to_vec(), None).await;
    put(
        &raw,
        &bucket,
        "glacier",
        b"x".to_vec(),
        Some(StorageClass::Glacier),
    )
    .await;
    put(
        &raw,
        &bucket,
        "deep",
        b"x".to_vec(),
        Some(StorageClass::DeepArchive),
    )
    .await;
    put(
        &raw,
        &bucket,
        "restored",
        b"x".to_vec(),
        Some(StorageClass::Glacier),
    )
    .await;
    let id = |key: &str| ObjectId::new(bucket.clone(), key, None).unwrap();

    assert_eq!(
        s3.inspect(&id("standard")).await.unwrap(),
        ArchiveState::NotArchived
    );
    assert_eq!(
        s3.inspect(&id("glacier")).await.unwrap(),
        ArchiveState::Archived
    );
    assert_eq!(
        s3.inspect(&id("deep")).await.unwrap(),
        ArchiveState::Archived
    );
    assert_eq!(
        s3.inspect(&id("missing")).await.unwrap(),
        ArchiveState::Missing
    );

    // Keep a restore under way for a few reads, so both states are seen.
    support::moto_api_post(
        "/moto-api/state-manager/set-transition",
        r#"{"model_name": "s3::keyrestore", "transition": {"progression": "manual", "times": 3}}"#,
    );
    raw.restore_object()
        .bucket(&bucket)
        .key("restored")
        .restore_request(
            RestoreRequest::builder()
                .days(1)
                .glacier_job_parameters(
                    GlacierJobParameters::builder()
                        .tier(Tier::Bulk)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("restore object");
    let first = s3.inspect(&id("restored")).await.unwrap();
    assert_eq!(first, ArchiveState::Restoring);
    let mut state = first;
    for _ in 0..5 {
        if state == ArchiveState::Restored {
            break;
        }
        state = s3.inspect(&id("restored")).await.unwrap();
    }
    assert_eq!(state, ArchiveState::Restored);
}

/// A delete marker is no object to restore: HeadObject on its version answers 405 (S3
/// API reference, HeadObject; tests/fixtures/aws/head-object/), on the key 404.
#[tokio::test]
async fn delete_markers_are_missing() {
    let (bucket, s3, raw) = setup().await;
    raw.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    put(
        &raw,
        &bucket,
        "doc",
        b"y".to_vec(),
        Some(StorageClass::Glacier),
    )
    .await;
    let deleted = raw
        .delete_object()
        .bucket(&bucket)
        .key("doc")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted
        .version_id()
        .expect("the delete marker's version")
        .to_owned();
    let at_marker = ObjectId::new(&bucket, "doc", Some(marker)).unwrap();
    assert_eq!(s3.inspect(&at_marker).await.unwrap(), ArchiveState::Missing);
    let latest = ObjectId::new(&bucket, "doc", None).unwrap();
    assert_eq!(s3.inspect(&latest).await.unwrap(), ArchiveState::Missing);
}

#[tokio::test]
async fn a_multipart_upload_joins_its_parts_and_can_be_completed_again() {
    let (bucket, s3, _raw) = setup().await;
    let key = "batch-reports/manifests/job 1.csv";
    let first = vec![b'a'; gbr_core::ports::MIN_PART_BYTES];
    let id = s3.start_upload(&bucket, key).await.unwrap();
    let one = s3
        .upload_part(&bucket, key, &id, 1, first.clone())
        .await
        .unwrap();
    // The same number again replaces the part, as a retried register call does.
    let one = s3
        .upload_part(&bucket, key, &id, 1, first.clone())
        .await
        .map(|etag| {
            assert_eq!(etag, one);
            etag
        })
        .unwrap();
    let two = s3
        .upload_part(&bucket, key, &id, 2, b"tail\r\n".to_vec())
        .await
        .unwrap();
    let parts = [
        gbr_core::ports::UploadedPart {
            number: 1,
            etag: one,
        },
        gbr_core::ports::UploadedPart {
            number: 2,
            etag: two,
        },
    ];
    let etag = s3.complete_upload(&bucket, key, &id, &parts).await.unwrap();
    let meta = s3.head(&bucket, key).await.unwrap();
    assert_eq!(meta.etag, etag);
    assert_eq!(meta.size, first.len() as u64 + 6);
    let tail = s3
        .read_range(&bucket, key, Some(&etag), first.len() as u64, 100)
        .await
        .unwrap();
    assert_eq!(tail, b"tail\r\n");
    // A retried complete: moto answers the object again; S3 may answer NoSuchUpload,
    // which register-manifest takes as done and finds the object by its key.
    match s3.complete_upload(&bucket, key, &id, &parts).await {
        Ok(again) => assert_eq!(again, etag),
        Err(PortError::NotFound(_)) => {}
        Err(e) => panic!("a retried complete failed: {e}"),
    }
}

#[tokio::test]
async fn a_part_under_5_mib_before_the_last_is_refused() {
    let (bucket, s3, _raw) = setup().await;
    let key = "batch-reports/manifests/small.csv";
    let id = s3.start_upload(&bucket, key).await.unwrap();
    let mut parts = Vec::new();
    for number in 1..=2 {
        let etag = s3
            .upload_part(&bucket, key, &id, number, b"too small\r\n".to_vec())
            .await
            .unwrap();
        parts.push(gbr_core::ports::UploadedPart { number, etag });
    }
    let err = s3
        .complete_upload(&bucket, key, &id, &parts)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected(m) if m.contains("EntityTooSmall")),
        "{err:?}"
    );
}

/// ListObjectsV2 pages of 1,000 keys under a prefix, in key order: keys, sizes, classes
/// (STANDARD for an object S3 gives no class), the last key as where the next page
/// starts, resuming after any key, and a missing bucket.
#[tokio::test]
async fn list_page_reads_a_prefix_in_pages_of_a_thousand() {
    let (bucket, s3, raw) = setup().await;
    let started = jiff::Timestamp::now();
    let classes = [
        None,
        Some(StorageClass::Glacier),
        Some(StorageClass::DeepArchive),
    ];
    // One more than a page, an awkward key among them, and keys beside the prefix.
    let mut keys: Vec<String> = (0..1000).map(|i| format!("photos/{i:04}.tif")).collect();
    keys.push("photos/ünï code+1 %2F.tif".into());
    let expected: Vec<(String, u64, &str)> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let class = ["STANDARD", "GLACIER", "DEEP_ARCHIVE"][i % 3];
            (key.clone(), (i % 7) as u64, class)
        })
        .collect();
    let beside = ["photos", "photos0/a.tif", "other/photos/a.tif"];
    let puts = expected
        .iter()
        .enumerate()
        .map(|(i, (key, size, _))| (key.clone(), *size, classes[i % 3].clone()))
        .chain(beside.iter().map(|k| (k.to_string(), 1, None)));
    let puts: Vec<_> = puts.collect();
    for chunk in puts.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|(key, size, class)| {
            put(
                &raw,
                &bucket,
                key,
                vec![b'x'; *size as usize],
                class.clone(),
            )
        }))
        .await;
    }
    let finished = jiff::Timestamp::now();
    let mut expected = expected;
    expected.sort_by(|a, b| a.0.cmp(&b.0));

    let first = s3.list_page(&bucket, "photos/", None).await.unwrap();
    assert_eq!(first.items.len(), 1000);
    assert_eq!(first.next.as_deref(), Some(expected[999].0.as_str()));
    let second = s3
        .list_page(&bucket, "photos/", first.next.as_deref())
        .await
        .unwrap();
    assert_eq!(second.next, None);
    let listed: Vec<_> = first.items.iter().chain(&second.items).collect();
    assert_eq!(listed.len(), expected.len());
    for (object, (key, size, class)) in listed.iter().zip(&expected) {
        assert_eq!(
            (
                object.key.as_str(),
                object.size,
                object.storage_class.as_str()
            ),
            (key.as_str(), *size, *class)
        );
        // S3 keeps whole seconds.
        let slack = jiff::SignedDuration::from_secs(2);
        assert!(
            object.last_modified >= started - slack && object.last_modified <= finished + slack,
            "{key}: {}",
            object.last_modified
        );
    }

    // From any key: the rest of the prefix, on the last page.
    let tail = s3
        .list_page(&bucket, "photos/", Some(&expected[997].0))
        .await
        .unwrap();
    let tail_keys: Vec<&str> = tail.items.iter().map(|o| o.key.as_str()).collect();
    let rest: Vec<&str> = expected[998..].iter().map(|e| e.0.as_str()).collect();
    assert_eq!(tail_keys, rest);
    assert_eq!(tail.next, None);

    // The whole bucket: the keys beside the prefix too.
    let everything = s3
        .list_page(&bucket, "", Some(&expected[1000].0))
        .await
        .unwrap();
    let after_last: Vec<&str> = everything.items.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(after_last, ["photos0/a.tif"]);

    match s3.list_page("no-such-bucket-gbr", "photos/", None).await {
        Err(PortError::NotFound(m)) => assert!(m.contains("no-such-bucket-gbr"), "{m}"),
        other => panic!("expected not found, got {other:?}"),
    }
}
