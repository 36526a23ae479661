//! The DynamoDB store against the local DynamoDB (dynoxide, see `gbr-dynamodb-local`).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use gbr_aws::dynamodb::schema::{self, create_tables};
use gbr_aws::{Backoff, DynamoStore, TableNames};
use gbr_core::job::{JobPatch, JobRecord, TERMINAL_CLAIM_LEASE, TerminalRequest};
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{
    Created, JobFilter, JobStore, Mark, ObjectState, ObjectStore, PortError, TerminalClaim,
};
use gbr_core::request::CreateJobRequest;
use gbr_core::status::{BatchJobStatus, JobStatus};
use jiff::Timestamp;

async fn store() -> DynamoStore {
    let config = support::dynamodb_config().await;
    let tables = TableNames {
        jobs: support::unique("jobs"),
        objects: support::unique("objects"),
    };
    let store = DynamoStore::new(&config, tables).with_backoff(Backoff {
        max_attempts: 5,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(50),
    });
    create_tables(store.client(), store.tables())
        .await
        .expect("create tables");
    store
}

fn job(job_id: &str, client_tag: Option<&str>) -> JobRecord {
    let mut body = serde_json::json!({
        "bucket": "manifests-1",
        "key": "lists/manifest one.csv",
        "tier": "bulk",
        "expiration_days": 3,
    });
    if let Some(tag) = client_tag {
        body["client_tag"] = tag.into();
    }
    let request = CreateJobRequest::from_json(&body).expect("valid request");
    let now = Timestamp::new(1_700_000_000, 123_456_789).unwrap();
    JobRecord::new(
        job_id.to_owned(),
        request,
        now,
        Timestamp::from_second(1_700_100_000).unwrap(),
    )
}

fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_500).unwrap()
}

fn objects(bucket: &str, range: std::ops::Range<usize>) -> Vec<ObjectId> {
    range
        .map(|i| ObjectId::new(bucket, format!("photos/2024/img {i:04}.raw"), None).unwrap())
        .collect()
}

fn marks(objects: &[ObjectId], job_id: &str) -> Vec<Mark> {
    objects
        .iter()
        .map(|o| Mark {
            object: o.clone(),
            job_id: job_id.to_owned(),
        })
        .collect()
}

/// Creates the job and registers `objects` as one manifest piece; answers how many
/// were new.
async fn registered(store: &DynamoStore, job_id: &str, objects: &[ObjectId]) -> u64 {
    store.create(&job(job_id, None)).await.unwrap();
    register(store, job_id, objects, "bytes-0").await
}

async fn register(store: &DynamoStore, job_id: &str, objects: &[ObjectId], piece: &str) -> u64 {
    store
        .register(
            job_id,
            objects,
            Timestamp::from_second(1_800_000_000).unwrap(),
            piece,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn job_records_round_trip_and_create_is_idempotent() {
    let store = store().await;
    let record = job("job-1", Some("team-a"));
    assert_eq!(store.create(&record).await.unwrap(), Created::New);
    assert_eq!(store.get("job-1").await.unwrap(), Some(record.clone()));
    assert_eq!(store.get("job-none").await.unwrap(), None);

    let mut second = job("job-1", Some("team-b"));
    second.deadline = Timestamp::from_second(1_900_000_000).unwrap();
    assert_eq!(
        store.create(&second).await.unwrap(),
        Created::Existing(Box::new(record.clone()))
    );

    let patch = JobPatch {
        status: Some(JobStatus::Restoring),
        manifest_etag: Some("\"abc\"".into()),
        objects_total: Some(12_345),
        manifest_versioned: Some(true),
        batch_job_id: Some("batch-9".into()),
        batch_status: Some(BatchJobStatus::Active),
        report_processed: Some(true),
        ..JobPatch::default()
    };
    store.update("job-1", &patch, now()).await.unwrap();
    let mut expected = record.clone();
    patch.apply(&mut expected, now());
    assert_eq!(store.get("job-1").await.unwrap(), Some(expected.clone()));

    // Fields not in a patch stay as they are.
    let patch = JobPatch {
        failure_reason: Some("nothing wrong".into()),
        ..JobPatch::default()
    };
    store.update("job-1", &patch, now()).await.unwrap();
    patch.apply(&mut expected, now());
    assert_eq!(store.get("job-1").await.unwrap(), Some(expected));

    assert!(matches!(
        store.update("job-none", &JobPatch::default(), now()).await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_client_tag_index_lists_tagged_jobs_only() {
    let store = store().await;
    store.create(&job("job-t1", Some("team-a"))).await.unwrap();
    store.create(&job("job-t2", None)).await.unwrap();
    let out = store
        .client()
        .query()
        .table_name(&store.tables().jobs)
        .index_name(schema::BY_CLIENT_TAG)
        .key_condition_expression("client_tag = :t")
        .expression_attribute_values(":t", AttributeValue::S("team-a".into()))
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = out
        .items()
        .iter()
        .map(|i| i["pk"].as_s().unwrap().as_str())
        .collect();
    assert_eq!(ids, ["job-t1"]);
    assert_eq!(
        out.items()[0]["created_at"].as_s().unwrap(),
        "2023-11-14T22:13:20.123456789Z"
    );
    let untagged = store
        .client()
        .get_item()
        .table_name(&store.tables().jobs)
        .key("pk", AttributeValue::S("job-t2".into()))
        .key("sk", AttributeValue::S("JOB".into()))
        .send()
        .await
        .unwrap();
    let item = untagged.item().unwrap();
    assert_eq!(
        store.get("job-t2").await.unwrap(),
        Some(job("job-t2", None))
    );
    assert!(!item.contains_key("client_tag"));
    // `None` fields are absent, not NULL, so conditions on them mean what they say.
    assert!(!item.contains_key("terminal"));
}

#[tokio::test]
async fn tally_sums_every_shard() {
    let store = store().await;
    store.create(&job("job-s", None)).await.unwrap();
    for shard in 0..schema::COUNTER_SHARDS {
        store
            .client()
            .update_item()
            .table_name(&store.tables().jobs)
            .key("pk", AttributeValue::S("job-s".into()))
            .key("sk", AttributeValue::S(schema::shard_sk(shard)))
            .update_expression("ADD restored :r, excluded :e")
            .expression_attribute_values(":r", AttributeValue::N((shard + 1).to_string()))
            .expression_attribute_values(":e", AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
    }
    let tally = store.tally("job-s").await.unwrap();
    assert_eq!(tally.restored, (1..=16).sum::<u64>());
    assert_eq!(tally.excluded, 16);
    assert_eq!(store.tally("job-none").await.unwrap(), Default::default());
}

#[tokio::test]
async fn progress_claims_only_go_up_and_stop_at_a_terminal_claim() {
    let store = store().await;
    store.create(&job("job-p", None)).await.unwrap();
    assert!(store.claim_progress("job-p", 10, now()).await.unwrap());
    assert!(!store.claim_progress("job-p", 10, now()).await.unwrap());
    assert!(!store.claim_progress("job-p", 5, now()).await.unwrap());
    assert!(store.claim_progress("job-p", 30, now()).await.unwrap());
    assert_eq!(
        store
            .get("job-p")
            .await
            .unwrap()
            .unwrap()
            .last_percent_notified,
        30
    );
    store
        .claim_terminal("job-p", &claim(JobStatus::Timeout, 40, None, "a"), now())
        .await
        .unwrap();
    assert!(!store.claim_progress("job-p", 90, now()).await.unwrap());
    assert!(matches!(
        store.claim_progress("job-none", 10, now()).await,
        Err(PortError::NotFound(_))
    ));
}

fn claim<'a>(
    status: JobStatus,
    percent: u8,
    reason: Option<&'a str>,
    claimer: &'a str,
) -> TerminalRequest<'a> {
    TerminalRequest {
        status,
        percent,
        reason,
        claimer,
        at: now(),
    }
}

#[tokio::test]
async fn terminal_claims_have_one_holder_who_publishes_once() {
    let store = store().await;
    store.create(&job("job-c", None)).await.unwrap();
    // Nothing claimed yet: marking published changes nothing.
    store.mark_terminal_published("job-c", now()).await.unwrap();
    assert_eq!(store.get("job-c").await.unwrap().unwrap().terminal, None);

    let failed = claim(JobStatus::Failed, 40, Some("the batch job failed"), "sm");
    let TerminalClaim::Publish(first) =
        store.claim_terminal("job-c", &failed, now()).await.unwrap()
    else {
        panic!("the first claim publishes");
    };
    assert_eq!(
        (
            first.status,
            first.percent,
            first.claimed_by.as_str(),
            first.published
        ),
        (JobStatus::Failed, 40, "sm", false)
    );
    let record = store.get("job-c").await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Failed);
    assert_eq!(
        record.failure_reason.as_deref(),
        Some("the batch job failed")
    );
    assert_eq!(record.terminal.as_ref(), Some(&first));

    // The holder's retry publishes the same event; another caller, even with the same
    // status, is held off while the lease runs.
    let retry = claim(JobStatus::Failed, 55, None, "sm");
    assert_eq!(
        store.claim_terminal("job-c", &retry, now()).await.unwrap(),
        TerminalClaim::Publish(first.clone())
    );
    let lease_end = gbr_core::policy::add(first.claimed_at, TERMINAL_CLAIM_LEASE);
    for other in [
        claim(JobStatus::Failed, 40, None, "cancel/1"),
        claim(JobStatus::Complete, 100, None, "cancel/2"),
    ] {
        assert_eq!(
            store.claim_terminal("job-c", &other, now()).await.unwrap(),
            TerminalClaim::Held {
                status: JobStatus::Failed,
                until: lease_end
            }
        );
    }
    // Past the lease the holder is presumed dead: the next caller takes the claim over,
    // with its event as claimed, and the old holder is held off in turn.
    let later = lease_end;
    let cancel = TerminalRequest {
        at: later,
        ..claim(JobStatus::Cancelled, 70, Some("cancelled"), "cancel/3")
    };
    let TerminalClaim::Publish(taken) =
        store.claim_terminal("job-c", &cancel, later).await.unwrap()
    else {
        panic!("a lapsed claim is taken over");
    };
    assert_eq!(
        (
            taken.status,
            taken.percent,
            taken.claimed_by.as_str(),
            taken.claimed_at
        ),
        (JobStatus::Failed, 40, "cancel/3", later)
    );
    let retry_later = TerminalRequest { at: later, ..retry };
    assert!(matches!(
        store
            .claim_terminal("job-c", &retry_later, later)
            .await
            .unwrap(),
        TerminalClaim::Held { .. }
    ));
    let record = store.get("job-c").await.unwrap().unwrap();
    assert_eq!(
        record.failure_reason.as_deref(),
        Some("the batch job failed"),
        "a take-over keeps the claim's reason"
    );

    store.mark_terminal_published("job-c", later).await.unwrap();
    for caller in [&failed, &cancel] {
        assert_eq!(
            store.claim_terminal("job-c", caller, later).await.unwrap(),
            TerminalClaim::AlreadyDone(JobStatus::Failed)
        );
    }
    assert!(
        store
            .get("job-c")
            .await
            .unwrap()
            .unwrap()
            .terminal
            .unwrap()
            .published
    );

    assert!(matches!(
        store.claim_terminal("job-none", &failed, now()).await,
        Err(PortError::NotFound(_))
    ));
    assert!(matches!(
        store.mark_terminal_published("job-none", now()).await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test]
async fn of_concurrent_claimers_exactly_one_holds_the_claim() {
    let store = store().await;
    store.create(&job("job-race", None)).await.unwrap();
    let names: Vec<String> = (0..20).map(|i| format!("cancel/{i}")).collect();
    let claims = names.iter().map(|name| {
        let store = store.clone();
        let request = claim(JobStatus::Cancelled, 0, Some("cancelled"), name);
        async move { store.claim_terminal("job-race", &request, now()).await }
    });
    let outcomes = futures_util::future::join_all(claims).await;
    let winners: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(TerminalClaim::Publish(_))))
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Ok(TerminalClaim::Publish(_) | TerminalClaim::Held { .. })
        )),
        "{outcomes:?}"
    );
}

fn job_at(job_id: &str, client_tag: Option<&str>, created_at: Timestamp) -> JobRecord {
    JobRecord {
        created_at,
        updated_at: created_at,
        ..job(job_id, client_tag)
    }
}

async fn list_all(store: &DynamoStore, filter: &JobFilter, limit: usize) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list(filter, after.as_deref(), limit).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= limit);
        ids.extend(page.items.into_iter().map(|j| j.job_id));
        match page.next {
            Some(next) => after = Some(next),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn listing_is_newest_first_on_both_indexes_with_filters_and_cursors() {
    let store = store().await;
    // Within one second, a whole second and half a second: as strings written by
    // jiff's default format they would sort the wrong way round.
    let second = 1_700_000_000;
    let times = [
        Timestamp::new(second - 60, 0).unwrap(),
        Timestamp::new(second, 0).unwrap(),
        Timestamp::new(second, 500_000_000).unwrap(),
        Timestamp::new(second, 500_000_001).unwrap(),
        Timestamp::new(second + 60, 0).unwrap(),
    ];
    let tags = [
        Some("team-a"),
        None,
        Some("team-a"),
        Some("team-b"),
        Some("team-a"),
    ];
    for (i, (t, tag)) in times.iter().zip(tags).enumerate() {
        store
            .create(&job_at(&format!("job-{i}"), tag, *t))
            .await
            .unwrap();
    }
    // Counter shards of a job must not show up in any listing.
    store
        .client()
        .update_item()
        .table_name(&store.tables().jobs)
        .key("pk", AttributeValue::S("job-2".into()))
        .key("sk", AttributeValue::S(schema::shard_sk(3)))
        .update_expression("ADD restored :r")
        .expression_attribute_values(":r", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    for id in ["job-1", "job-3"] {
        store
            .claim_terminal(id, &claim(JobStatus::Failed, 0, None, "a"), now())
            .await
            .unwrap();
    }

    let newest_first = ["job-4", "job-3", "job-2", "job-1", "job-0"];
    let all = JobFilter::default();
    let page = store.list(&all, None, 10).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(ids, newest_first);
    assert_eq!(page.next, None);
    assert_eq!(page.items[0], store.get("job-4").await.unwrap().unwrap());
    for limit in [1, 2, 4, 5] {
        let (ids, pages) = list_all(&store, &all, limit).await;
        assert_eq!(ids, newest_first, "limit {limit}");
        assert_eq!(pages, 5_usize.div_ceil(limit), "limit {limit}");
    }

    let team_a = JobFilter {
        client_tag: Some("team-a".into()),
        status: None,
    };
    assert_eq!(
        list_all(&store, &team_a, 2).await.0,
        ["job-4", "job-2", "job-0"]
    );

    let failed = JobFilter {
        client_tag: None,
        status: Some(JobStatus::Failed),
    };
    assert_eq!(list_all(&store, &failed, 1).await.0, ["job-3", "job-1"]);
    let restoring_a = JobFilter {
        client_tag: Some("team-a".into()),
        status: Some(JobStatus::Restoring),
    };
    assert_eq!(
        list_all(&store, &restoring_a, 2).await.0,
        ["job-4", "job-2", "job-0"]
    );
    let failed_b = JobFilter {
        client_tag: Some("team-b".into()),
        status: Some(JobStatus::Failed),
    };
    assert_eq!(list_all(&store, &failed_b, 5).await.0, ["job-3"]);

    // A page token resumes after its job, and only tokens of ours are taken.
    let first = store.list(&all, None, 2).await.unwrap();
    let rest = store.list(&all, first.next.as_deref(), 10).await.unwrap();
    assert_eq!(rest.items[0].job_id, "job-2");
    assert!(matches!(
        store.list(&all, Some("bm90LWEtY3Vyc29y"), 2).await,
        Err(PortError::Rejected(m)) if m.contains("next_token")
    ));

    let item = store
        .client()
        .get_item()
        .table_name(&store.tables().jobs)
        .key("pk", AttributeValue::S("job-1".into()))
        .key("sk", AttributeValue::S("JOB".into()))
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item[schema::LISTING].as_s().unwrap(), schema::LISTING_JOBS);
    assert_eq!(
        item[schema::CREATED_AT].as_s().unwrap(),
        "2023-11-14T22:13:20.000000000Z"
    );
}

#[tokio::test]
async fn register_dedupes_and_writes_more_than_one_batch() {
    let store = store().await;
    let mut objs = objects("data-1", 0..60);
    objs.extend(objects("data-1", 10..20)); // duplicates within the request
    objs.push(ObjectId::new("data-1", "versioned", Some("v1|x".into())).unwrap());
    assert_eq!(registered(&store, "job-r", &objs).await, 61);
    // The same piece again (a retry): the same answer. Another piece naming the same
    // objects (repeats later in the manifest): nothing new, rows left alone.
    assert_eq!(register(&store, "job-r", &objs, "bytes-0").await, 61);
    assert_eq!(register(&store, "job-r", &objs[..30], "bytes-900").await, 0);
    let mut more = objects("data-1", 55..65);
    more.extend(objects("data-1", 0..3));
    assert_eq!(register(&store, "job-r", &more, "bytes-1800").await, 5);
    assert_eq!(register(&store, "job-r", &more, "bytes-1800").await, 5);
    assert_eq!(
        register(&store, "job-other", &objs[..1], "bytes-0").await,
        1
    );

    let versioned = ObjectId::new("data-1", "versioned", Some("v1|x".into())).unwrap();
    let row = store
        .client()
        .get_item()
        .table_name(&store.tables().objects)
        .key("object_hash", AttributeValue::S(versioned.digest()))
        .key("job_id", AttributeValue::S("job-r".into()))
        .send()
        .await
        .unwrap();
    let row = row.item().expect("the versioned row");
    let text = |name: &str| row[name].as_s().unwrap().clone();
    assert_eq!(text("state"), "requested");
    assert_eq!(text("object_id"), "data-1|v1%7Cx|versioned");
    assert_eq!(row["expires_at"].as_n().unwrap(), "1800000000");
}

#[tokio::test]
async fn pending_pages_through_requested_rows() {
    let store = store().await;
    let objs = objects("data-2", 0..37);
    registered(&store, "job-q", &objs).await;
    let done: Vec<ObjectId> = objs.iter().step_by(4).cloned().collect();
    store
        .mark(&marks(&done, "job-q"), ObjectState::Restored, now())
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.pending("job-q", cursor.as_deref(), 7).await.unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items);
        pages += 1;
        assert!(pages < 20, "pending does not end");
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<ObjectId> = objs.iter().filter(|o| !done.contains(o)).cloned().collect();
    // The index orders a job's rows by object hash.
    expected.sort_by_key(ObjectId::digest);
    assert_eq!(seen, expected);
    assert!(pages >= 4);
}

/// The longest names S3 accepts: a 63-character bucket, a key of 1,024 bytes of UTF-8
/// and a long version id. As keys of the table or its index they would pass
/// DynamoDB's key-size limits; every operation must still work.
#[tokio::test]
async fn the_longest_keys_s3_accepts_register_mark_and_list() {
    let store = store().await;
    let bucket = format!("b{}", "x".repeat(61) + "1");
    // 1,024 bytes: 340 three-byte characters and 4 ASCII ones.
    let key = format!("{}.raw", "界".repeat(340));
    assert_eq!(key.len(), 1024);
    let version = "v".repeat(1024);
    let objs = vec![
        ObjectId::new(&bucket, key.clone(), None).unwrap(),
        ObjectId::new(&bucket, key.clone(), Some(version)).unwrap(),
        ObjectId::new(&bucket, format!("{}b", "a".repeat(1023)), None).unwrap(),
    ];
    assert_eq!(registered(&store, "job-long", &objs).await, 3);
    for o in &objs {
        assert_eq!(store.waiting_jobs(o).await.unwrap(), ["job-long"], "{o}");
    }
    let report = store
        .mark(&marks(&objs[..1], "job-long"), ObjectState::Restored, now())
        .await
        .unwrap();
    assert_eq!(report.changed.len(), 1);
    let mut pending = store.pending("job-long", None, 10).await.unwrap().items;
    pending.sort();
    let mut expected = objs[1..].to_vec();
    expected.sort();
    assert_eq!(pending, expected);
    assert_eq!(store.tally("job-long").await.unwrap().restored, 1);
}

#[tokio::test]
async fn waiting_jobs_lists_jobs_still_requesting_an_object() {
    let store = store().await;
    let objs = objects("data-3", 0..3);
    registered(&store, "job-w1", &objs).await;
    registered(&store, "job-w2", &objs[..1]).await;
    let mut jobs = store.waiting_jobs(&objs[0]).await.unwrap();
    jobs.sort();
    assert_eq!(jobs, ["job-w1", "job-w2"]);
    store
        .mark(&marks(&objs[..1], "job-w1"), ObjectState::Restored, now())
        .await
        .unwrap();
    assert_eq!(store.waiting_jobs(&objs[0]).await.unwrap(), ["job-w2"]);
    assert!(
        store
            .waiting_jobs(&objects("data-3", 9..10)[0])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn marking_100_distinct_objects_counts_each_once() {
    let store = store().await;
    let objs = objects("data-4", 0..100);
    registered(&store, "job-m", &objs).await;
    let report = store
        .mark(&marks(&objs, "job-m"), ObjectState::Restored, now())
        .await
        .unwrap();
    assert_eq!(report.changed.len(), 100);
    assert!(report.unchanged.is_empty());
    let tally = store.tally("job-m").await.unwrap();
    assert_eq!((tally.restored, tally.excluded), (100, 0));
    assert!(
        store
            .pending("job-m", None, 1000)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let per_object = report.write_units / 100.0;
    println!(
        "write units, 100 distinct objects: {} in all, {per_object:.2} per restored object",
        report.write_units
    );
    assert!(
        per_object <= 2.5,
        "{per_object} write units per restored object"
    );
}

#[tokio::test]
async fn marking_duplicates_leaves_them_unchanged_and_counts_once() {
    let store = store().await;
    let objs = objects("data-5", 0..100);
    registered(&store, "job-d", &objs).await;
    // 20 objects were restored by an earlier delivery.
    let first = store
        .mark(&marks(&objs[..20], "job-d"), ObjectState::Restored, now())
        .await
        .unwrap();
    assert_eq!(first.changed.len(), 20);

    // 100 marks: the 20 again and 80 new ones.
    let report = store
        .mark(&marks(&objs, "job-d"), ObjectState::Restored, now())
        .await
        .unwrap();
    assert_eq!(report.changed.len(), 80);
    assert_eq!(report.unchanged.len(), 20);
    let mut unchanged: Vec<ObjectId> = report.unchanged.iter().map(|m| m.object.clone()).collect();
    unchanged.sort();
    let mut expected = objs[..20].to_vec();
    expected.sort();
    assert_eq!(unchanged, expected);
    assert_eq!(store.tally("job-d").await.unwrap().restored, 100);
    println!(
        "write units, 100 marks of which 20 duplicates: {} in all, {:.2} per restored object",
        report.write_units,
        report.write_units / 80.0
    );

    // The same mark twice in one call: the second is a duplicate.
    let extra = objects("data-5", 100..101);
    assert_eq!(register(&store, "job-d", &extra, "bytes-99").await, 1);
    let twice = [marks(&extra, "job-d"), marks(&extra, "job-d")].concat();
    let report = store
        .mark(&twice, ObjectState::Restored, now())
        .await
        .unwrap();
    assert_eq!((report.changed.len(), report.unchanged.len()), (1, 1));
    assert_eq!(store.tally("job-d").await.unwrap().restored, 101);
}

#[tokio::test]
async fn marking_an_object_no_job_registered_creates_nothing() {
    let store = store().await;
    let objs = objects("data-6", 0..2);
    registered(&store, "job-u", &objs[..1]).await;
    let stranger = Mark {
        object: objs[1].clone(),
        job_id: "job-u".into(),
    };
    let other_job = Mark {
        object: objs[0].clone(),
        job_id: "job-nobody".into(),
    };
    let report = store
        .mark(
            &[stranger.clone(), other_job.clone()],
            ObjectState::Restored,
            now(),
        )
        .await
        .unwrap();
    assert!(report.changed.is_empty());
    assert_eq!(report.unchanged.len(), 2);
    for mark in [&stranger, &other_job] {
        let row = store
            .client()
            .get_item()
            .table_name(&store.tables().objects)
            .key("object_hash", AttributeValue::S(mark.object.digest()))
            .key("job_id", AttributeValue::S(mark.job_id.clone()))
            .send()
            .await
            .unwrap();
        assert!(row.item().is_none(), "a row was created for {mark:?}");
    }
    assert_eq!(store.tally("job-u").await.unwrap().restored, 0);
    assert_eq!(store.tally("job-nobody").await.unwrap().restored, 0);
}

#[tokio::test]
async fn marks_of_several_jobs_and_exclusions_count_per_job() {
    let store = store().await;
    let objs = objects("data-7", 0..150);
    registered(&store, "job-x1", &objs).await;
    registered(&store, "job-x2", &objs[..50]).await;
    let mut all = marks(&objs, "job-x1");
    all.extend(marks(&objs[..50], "job-x2"));
    let report = store
        .mark(&all, ObjectState::Excluded, now())
        .await
        .unwrap();
    assert_eq!(report.changed.len(), 200);
    let x1 = store.tally("job-x1").await.unwrap();
    let x2 = store.tally("job-x2").await.unwrap();
    assert_eq!((x1.restored, x1.excluded), (0, 150));
    assert_eq!((x2.restored, x2.excluded), (0, 50));
    // Counts are spread over shards.
    let shards = store
        .client()
        .query()
        .table_name(&store.tables().jobs)
        .key_condition_expression("pk = :p AND begins_with(sk, :s)")
        .expression_attribute_values(":p", AttributeValue::S("job-x1".into()))
        .expression_attribute_values(":s", AttributeValue::S("SHARD#".into()))
        .send()
        .await
        .unwrap();
    let counts: HashMap<String, String> = shards
        .items()
        .iter()
        .map(|i| {
            (
                i["sk"].as_s().unwrap().clone(),
                i["excluded"].as_n().unwrap().clone(),
            )
        })
        .collect();
    assert!(counts.len() >= 2, "{counts:?}");
}
