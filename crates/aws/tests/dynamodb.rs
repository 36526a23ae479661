//! The DynamoDB store against the local DynamoDB (dynoxide, see `gbr-dynamodb-local`):
//! the stores' contract, which the in-memory fake passes too, and what only this
//! store does (item shapes, counter shards, key sizes, write units).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use gbr_aws::dynamodb::schema::{self, create_tables};
use gbr_aws::{Backoff, DynamoStore, TableNames};
use gbr_core::fakes::contract::{marks, objects};
use gbr_core::job::JobRecord;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{JobFilter, JobStore, Mark, ObjectState, ObjectStore};
use gbr_core::request::CreateJobRequest;
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
        10,
        now,
        Timestamp::from_second(1_700_100_000).unwrap(),
    )
}

fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_500).unwrap()
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

fn job_at(job_id: &str, client_tag: Option<&str>, created_at: Timestamp) -> JobRecord {
    JobRecord {
        created_at,
        updated_at: created_at,
        ..job(job_id, client_tag)
    }
}

/// Every job of a listing, and how many pages it took.
async fn list_all(store: &DynamoStore, filter: &JobFilter, limit: usize) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list(filter, after.as_deref(), limit).await.unwrap();
        pages += 1;
        ids.extend(page.items.into_iter().map(|j| j.job_id));
        match page.next {
            Some(next) => after = Some(next),
            None => return (ids, pages),
        }
    }
}

/// What the contract leaves open: the index items, the counter shards beside the jobs,
/// and no empty page after a full one (the store reads one job ahead).
#[tokio::test]
async fn listing_skips_counter_shards_and_ends_on_the_last_full_page() {
    let store = store().await;
    for i in 0..5 {
        let created = Timestamp::new(1_700_000_000 + i, 0).unwrap();
        store
            .create(&job_at(&format!("job-{i}"), None, created))
            .await
            .unwrap();
    }
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
    let newest_first = ["job-4", "job-3", "job-2", "job-1", "job-0"];
    for limit in [1, 2, 4, 5] {
        let (ids, pages) = list_all(&store, &JobFilter::default(), limit).await;
        assert_eq!(ids, newest_first, "limit {limit}");
        assert_eq!(pages, 5_usize.div_ceil(limit), "limit {limit}");
    }

    let item = store
        .client()
        .get_item()
        .table_name(&store.tables().jobs)
        .key("pk", AttributeValue::S("job-0".into()))
        .key("sk", AttributeValue::S("JOB".into()))
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item[schema::LISTING].as_s().unwrap(), schema::LISTING_JOBS);
    // All nine fractional digits, so that the index's string order is time order.
    assert_eq!(
        item[schema::CREATED_AT].as_s().unwrap(),
        "2023-11-14T22:13:20.000000000Z"
    );
}

#[tokio::test]
async fn register_writes_a_row_as_the_table_defines_it() {
    let store = store().await;
    let versioned = ObjectId::new("data-1", "versioned", Some("v1|x".into())).unwrap();
    assert_eq!(
        registered(&store, "job-r", std::slice::from_ref(&versioned)).await,
        1
    );
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
    assert_eq!(text("registered_by"), "bytes-0");
    assert_eq!(row["expires_at"].as_n().unwrap(), "1800000000");
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
async fn marking_costs_at_most_2_5_write_units_per_restored_object() {
    let store = store().await;
    let objs = objects("data-4", 0..100);
    registered(&store, "job-m", &objs).await;
    let report = store
        .mark(&marks(&objs, "job-m"), ObjectState::Restored, now())
        .await
        .unwrap();
    assert_eq!(report.changed.len(), 100);
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

/// The contract sees only `requested` rows: one written in another state would be
/// invisible to it.
#[tokio::test]
async fn marking_an_object_no_job_registered_writes_no_row() {
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
}

#[tokio::test]
async fn a_job_s_counts_are_spread_over_shards() {
    let store = store().await;
    let objs = objects("data-7", 0..150);
    registered(&store, "job-x1", &objs).await;
    store
        .mark(&marks(&objs, "job-x1"), ObjectState::Excluded, now())
        .await
        .unwrap();
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
    let counts: HashMap<String, u64> = shards
        .items()
        .iter()
        .map(|i| {
            (
                i["sk"].as_s().unwrap().clone(),
                i["excluded"].as_n().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert!(counts.len() >= 2, "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), 150);
}

/// The contract every store passes (see `gbr_core::fakes::contract`), on this one.
mod contract {
    gbr_core::store_contract_tests!(super::store().await);
}
