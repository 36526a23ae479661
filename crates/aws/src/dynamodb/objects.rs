//! The objects table: one row per (object, job), and the transactions that move rows
//! out of `requested` and count them in the job's counter shards.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    KeysAndAttributes, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{Mark, MarkReport, ObjectState, ObjectStore, Page, PortError, PortResult};
use jiff::Timestamp;
use tokio::task::JoinSet;

use super::DynamoStore;
use super::backoff::random_u64;
use super::capacity::{item_size, write_units};
use super::item::{Item, get_s, n, s};
use super::schema::{
    BY_JOB, COUNTER_SHARDS, EXCLUDED, EXPIRES_AT, JOB_ID, JOB_PK, JOB_SK, OBJECT_HASH, OBJECT_ID,
    REGISTERED_BY, RESTORED, STATE, UPDATED_AT, shard_sk,
};
use crate::errors::{FailureKind, failure_kind, port_error};

/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_MAX: usize = 25;
/// TransactWriteItems takes at most 100 actions.
const TRANSACTION_MAX: usize = 100;
/// BatchWriteItem calls in flight while registering: enough to fill a Lambda's
/// bandwidth to DynamoDB without one invocation hogging an on-demand table.
const REGISTER_CONCURRENCY: usize = 8;
/// An epoch-seconds value with the most significant digits an `expires_at` has
/// (until the year 2286): sizes computed with it are never too small.
const EXPIRES_AT_SIZING: i64 = 9_999_999_999;
const CONDITION_FAILED_REASON: &str = "ConditionalCheckFailed";
const RETRYABLE_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

fn state_name(state: ObjectState) -> &'static str {
    match state {
        ObjectState::Requested => "requested",
        ObjectState::Restored => "restored",
        ObjectState::Excluded => "excluded",
    }
}

/// The counter a move to `state` adds to; none for `requested`.
fn counter_for(state: ObjectState) -> Option<&'static str> {
    match state {
        ObjectState::Requested => None,
        ObjectState::Restored => Some(RESTORED),
        ObjectState::Excluded => Some(EXCLUDED),
    }
}

/// RFC 3339 to the second: a fixed length, so a row's size does not depend on when it
/// was written, and its write units can be computed exactly.
fn row_timestamp(now: Timestamp) -> String {
    Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

/// FNV-1a: a stable hash, so a given object always picks the same shard.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn shard_for(object: &ObjectId) -> u32 {
    fnv1a(&object.canonical()) % COUNTER_SHARDS
}

/// The longest `registered_by` a register call writes (`bytes-` and a u64), for sizing.
const REGISTERED_BY_SIZING: &str = "bytes-18446744073709551615";

/// A row as `register` writes it.
fn row_item(
    object: &ObjectId,
    job_id: &str,
    updated_at: &str,
    expires_at: i64,
    registered_by: &str,
) -> Item {
    Item::from([
        (OBJECT_HASH.to_owned(), s(object.digest())),
        (JOB_ID.to_owned(), s(job_id)),
        (OBJECT_ID.to_owned(), s(object.canonical())),
        (STATE.to_owned(), s(state_name(ObjectState::Requested))),
        (REGISTERED_BY.to_owned(), s(registered_by)),
        (UPDATED_AT.to_owned(), s(updated_at)),
        (EXPIRES_AT.to_owned(), n(expires_at)),
    ])
}

/// The key of one (object, job) row.
fn row_key(object_hash: impl Into<String>, job_id: &str) -> Item {
    Item::from([
        (OBJECT_HASH.to_owned(), s(object_hash)),
        (JOB_ID.to_owned(), s(job_id)),
    ])
}

/// Groups marks into transactions of at most 100 actions: one per row, plus one
/// counter update per distinct job of the transaction.
fn transaction_groups(marks: Vec<Mark>, counted: bool) -> Vec<Vec<Mark>> {
    let mut groups = Vec::new();
    let mut current: Vec<Mark> = Vec::new();
    let mut jobs: HashSet<String> = HashSet::new();
    for mark in marks {
        let new_job = counted && !jobs.contains(&mark.job_id);
        let actions = current.len() + jobs.len() + 1 + usize::from(new_job);
        if actions > TRANSACTION_MAX && !current.is_empty() {
            groups.push(std::mem::take(&mut current));
            jobs.clear();
        }
        if counted {
            jobs.insert(mark.job_id.clone());
        }
        current.push(mark);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// One TransactWriteItems request, and what it costs.
struct Transaction {
    actions: Vec<TransactWriteItem>,
    write_units: f64,
}

/// How a transaction attempt ended.
enum Outcome {
    Committed,
    /// Cancelled because conditions failed: the reason of each action, in order, when
    /// the service gave them.
    ConditionsFailed(Option<Vec<Option<String>>>),
    /// Throttled or conflicting: the same transaction may go through later.
    Busy(String),
}

impl DynamoStore {
    fn objects_resource(&self, what: impl std::fmt::Display) -> String {
        format!("{what} (table {})", self.tables.objects)
    }

    /// Writes up to 25 put requests, retrying unprocessed ones with backoff.
    async fn write_batch(&self, job_id: &str, requests: Vec<WriteRequest>) -> PortResult<()> {
        let mut pending = HashMap::from([(self.tables.objects.clone(), requests)]);
        let mut attempt = 1;
        loop {
            let out = self
                .client
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| {
                    port_error(
                        "BatchWriteItem",
                        self.objects_resource(format!("rows of job {job_id}")),
                        e,
                    )
                })?;
            let unprocessed: HashMap<_, _> = out
                .unprocessed_items
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            if unprocessed.is_empty() {
                return Ok(());
            }
            if !self.backoff.can_retry(attempt) {
                let left: usize = unprocessed.values().map(Vec::len).sum();
                return Err(PortError::Retryable(format!(
                    "BatchWriteItem on {}: {left} rows still unprocessed after {attempt} attempts",
                    self.objects_resource(format!("rows of job {job_id}"))
                )));
            }
            tracing::warn!(
                table = %self.tables.objects,
                unprocessed = unprocessed.values().map(Vec::len).sum::<usize>(),
                attempt,
                "BatchWriteItem left items unprocessed; retrying"
            );
            self.backoff.sleep(attempt).await;
            attempt += 1;
            pending = unprocessed;
        }
    }

    /// The transaction moving `rows` to `to` and adding them to their jobs' shards.
    fn build_transaction(
        &self,
        rows: &[Mark],
        to: ObjectState,
        updated_at: &str,
    ) -> PortResult<Transaction> {
        let bad = |e: aws_sdk_dynamodb::error::BuildError| {
            PortError::Rejected(format!("a transaction cannot be built: {e}"))
        };
        let mut actions = Vec::with_capacity(rows.len() + 1);
        let mut units = 0.0;
        // Per job: how many rows, and the first row's shard.
        let mut per_job: Vec<(String, u64, u32)> = Vec::new();
        for mark in rows {
            let update = Update::builder()
                .table_name(&self.tables.objects)
                .set_key(Some(row_key(mark.object.digest(), &mark.job_id)))
                .update_expression("SET #state = :to, #ua = :now")
                // attribute_exists: an object no job registered gets no row (no upsert).
                .condition_expression("attribute_exists(#h) AND #state = :requested")
                .expression_attribute_names("#state", STATE)
                .expression_attribute_names("#ua", UPDATED_AT)
                .expression_attribute_names("#h", OBJECT_HASH)
                .expression_attribute_values(":to", s(state_name(to)))
                .expression_attribute_values(":now", s(updated_at))
                .expression_attribute_values(":requested", s(state_name(ObjectState::Requested)))
                .build()
                .map_err(bad)?;
            actions.push(TransactWriteItem::builder().update(update).build());
            // Sized as registered (`requested` is the longer state name): the larger image.
            let row = row_item(
                &mark.object,
                &mark.job_id,
                updated_at,
                EXPIRES_AT_SIZING,
                REGISTERED_BY_SIZING,
            );
            units += write_units(item_size(&row), true);
            match per_job.iter_mut().find(|(job, _, _)| *job == mark.job_id) {
                Some((_, count, _)) => *count += 1,
                None => per_job.push((mark.job_id.clone(), 1, shard_for(&mark.object))),
            }
        }
        if let Some(counter) = counter_for(to) {
            for (job_id, count, shard) in per_job {
                let sk = shard_sk(shard);
                let update = Update::builder()
                    .table_name(&self.tables.jobs)
                    .key(JOB_PK, s(&job_id))
                    .key(JOB_SK, s(&sk))
                    .update_expression("ADD #c :n")
                    .expression_attribute_names("#c", counter)
                    .expression_attribute_values(":n", n(count))
                    .build()
                    .map_err(bad)?;
                actions.push(TransactWriteItem::builder().update(update).build());
                let shard_item = Item::from([
                    (JOB_PK.to_owned(), s(&job_id)),
                    (JOB_SK.to_owned(), s(sk)),
                    (RESTORED.to_owned(), n(u64::MAX)),
                    (EXCLUDED.to_owned(), n(u64::MAX)),
                ]);
                units += write_units(item_size(&shard_item), true);
            }
        }
        Ok(Transaction {
            actions,
            write_units: units,
        })
    }

    async fn try_transaction(&self, transaction: &Transaction) -> PortResult<Outcome> {
        // A fresh token per attempt: the SDK's own retries of this request reuse it, so
        // a commit whose answer was lost is not applied twice.
        let token = format!("{:016x}{:016x}", random_u64(), random_u64());
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(transaction.actions.clone()))
            .client_request_token(token)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Outcome::Committed),
            Err(e) => e,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
            err.as_service_error()
        {
            let reasons = c.cancellation_reasons();
            let codes: Vec<Option<String>> = reasons
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect();
            if codes.iter().flatten().any(|c| c == CONDITION_FAILED_REASON) {
                let codes = (codes.len() == transaction.actions.len()).then_some(codes);
                return Ok(Outcome::ConditionsFailed(codes));
            }
            if codes
                .iter()
                .flatten()
                .any(|c| RETRYABLE_REASONS.contains(&c.as_str()))
            {
                return Ok(Outcome::Busy(format!("cancelled: {:?}", codes)));
            }
            return Err(transaction_error(&self.tables.objects, err));
        }
        match failure_kind(&err) {
            FailureKind::Retryable => Ok(Outcome::Busy(
                transaction_error(&self.tables.objects, err).to_string(),
            )),
            _ => Err(transaction_error(&self.tables.objects, err)),
        }
    }

    /// Writes one group of rows: one transaction; when conditions fail, again without
    /// the rows the cancellation reasons name, or row by row if it names none.
    async fn mark_group(
        &self,
        mut rows: Vec<Mark>,
        to: ObjectState,
        updated_at: &str,
        report: &mut MarkReport,
    ) -> PortResult<()> {
        let mut attempt = 1;
        while !rows.is_empty() {
            let transaction = self.build_transaction(&rows, to, updated_at)?;
            match self.try_transaction(&transaction).await? {
                Outcome::Committed => {
                    report.write_units += transaction.write_units;
                    report.changed.append(&mut rows);
                }
                Outcome::ConditionsFailed(reasons) => {
                    // A cancelled transaction still consumes capacity for its items.
                    report.write_units += transaction.write_units;
                    let Some(reasons) = reasons else {
                        return self.mark_one_by_one(rows, to, updated_at, report).await;
                    };
                    let named_rows = reasons
                        .iter()
                        .take(rows.len())
                        .any(|code| code.as_deref() == Some(CONDITION_FAILED_REASON));
                    if !named_rows {
                        // Only a counter update failed, which has no condition: do not
                        // guess, go row by row.
                        return self.mark_one_by_one(rows, to, updated_at, report).await;
                    }
                    let (failed, others): (Vec<_>, Vec<_>) = rows
                        .into_iter()
                        .zip(reasons)
                        .partition(|(_, code)| code.as_deref() == Some(CONDITION_FAILED_REASON));
                    tracing::debug!(
                        unchanged = failed.len(),
                        retried = others.len(),
                        "transaction cancelled by row conditions; retrying without those rows"
                    );
                    // Rows already moved (a duplicate event) or never registered.
                    report.unchanged.extend(failed.into_iter().map(|(m, _)| m));
                    rows = others.into_iter().map(|(m, _)| m).collect();
                    attempt = 1;
                }
                Outcome::Busy(why) => {
                    if !self.backoff.can_retry(attempt) {
                        return Err(PortError::Retryable(format!(
                            "TransactWriteItems on {} rows of table {}: still throttled or conflicting after {attempt} attempts ({why})",
                            rows.len(),
                            self.tables.objects
                        )));
                    }
                    tracing::warn!(rows = rows.len(), attempt, reason = %why, "transaction throttled or conflicting; retrying");
                    self.backoff.sleep(attempt).await;
                    attempt += 1;
                }
            }
        }
        Ok(())
    }

    /// Each row in its own transaction with its counter add.
    async fn mark_one_by_one(
        &self,
        rows: Vec<Mark>,
        to: ObjectState,
        updated_at: &str,
        report: &mut MarkReport,
    ) -> PortResult<()> {
        for row in rows {
            let transaction = self.build_transaction(std::slice::from_ref(&row), to, updated_at)?;
            let mut attempt = 1;
            loop {
                match self.try_transaction(&transaction).await? {
                    Outcome::Committed => {
                        report.write_units += transaction.write_units;
                        report.changed.push(row);
                        break;
                    }
                    Outcome::ConditionsFailed(_) => {
                        report.write_units += transaction.write_units;
                        report.unchanged.push(row);
                        break;
                    }
                    Outcome::Busy(why) => {
                        if !self.backoff.can_retry(attempt) {
                            return Err(PortError::Retryable(format!(
                                "TransactWriteItems on {}: still throttled or conflicting after {attempt} attempts ({why})",
                                self.objects_resource(&row.object)
                            )));
                        }
                        self.backoff.sleep(attempt).await;
                        attempt += 1;
                    }
                }
            }
        }
        Ok(())
    }
}

fn transaction_error(
    table: &str,
    err: SdkError<TransactWriteItemsError, HttpResponse>,
) -> PortError {
    port_error(
        "TransactWriteItems",
        format_args!("rows of table {table}"),
        err,
    )
}

#[async_trait]
impl ObjectStore for DynamoStore {
    /// Reads which of the objects have a row of this job (BatchGetItem, strongly
    /// consistent), then puts a `requested` row for each one that has none or was
    /// written under this `piece` (BatchWriteItem, 25 a request): a repeat from another
    /// piece is left alone and not counted. 100 objects a step, several steps in
    /// flight. Puts have no conditions, which is safe because registration ends before
    /// the batch job is submitted: no row of this job has moved from `requested` yet.
    async fn register(
        &self,
        job_id: &str,
        objects: &[ObjectId],
        expires_at: Timestamp,
        piece: &str,
    ) -> PortResult<u64> {
        // DynamoDB rejects a batch that names one key twice.
        let mut seen = HashSet::new();
        let unique: Vec<ObjectId> = objects
            .iter()
            .filter(|o| seen.insert(o.digest()))
            .cloned()
            .collect();
        let expires = expires_at.as_second();
        let mut in_flight = JoinSet::new();
        let mut steps = unique
            .chunks(BATCH_GET_KEYS as usize)
            .map(<[ObjectId]>::to_vec);
        let mut new = 0;
        loop {
            while in_flight.len() < REGISTER_CONCURRENCY {
                let Some(step) = steps.next() else { break };
                let store = self.clone();
                let (job_id, piece) = (job_id.to_owned(), piece.to_owned());
                in_flight.spawn(async move {
                    store.register_step(&job_id, step, expires, &piece).await
                });
            }
            match in_flight.join_next().await {
                None => return Ok(new),
                Some(Ok(Ok(written))) => new += written,
                // Dropping the set aborts the other steps; a retry of the piece redoes them.
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) => {
                    return Err(PortError::Retryable(format!(
                        "a registration write did not finish: {e}"
                    )));
                }
            }
        }
    }

    async fn waiting_jobs(&self, object: &ObjectId) -> PortResult<Vec<String>> {
        let mut jobs = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.objects)
                .key_condition_expression("#h = :h")
                .filter_expression("#state = :requested")
                .projection_expression("#j")
                .expression_attribute_names("#h", OBJECT_HASH)
                .expression_attribute_names("#state", STATE)
                .expression_attribute_names("#j", JOB_ID)
                .expression_attribute_values(":h", s(object.digest()))
                .expression_attribute_values(":requested", s(state_name(ObjectState::Requested)))
                // Rows were registered moments ago, maybe.
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| port_error("Query", self.objects_resource(object), e))?;
            for item in page.items() {
                let job = get_s(item, JOB_ID).map_err(|e| {
                    PortError::Rejected(format!("a row of {}: {e}", self.objects_resource(object)))
                })?;
                jobs.push(job.to_owned());
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(jobs),
            }
        }
    }

    async fn mark(
        &self,
        marks: &[Mark],
        to: ObjectState,
        now: Timestamp,
    ) -> PortResult<MarkReport> {
        let updated_at = row_timestamp(now);
        let mut report = MarkReport::default();
        // One transaction may not name a row twice; a repeat is a duplicate anyway.
        let mut seen = HashSet::new();
        let mut unique = Vec::new();
        for mark in marks {
            if seen.insert(mark) {
                unique.push(mark.clone());
            } else {
                report.unchanged.push(mark.clone());
            }
        }
        for group in transaction_groups(unique, counter_for(to).is_some()) {
            self.mark_group(group, to, &updated_at, &mut report).await?;
        }
        Ok(report)
    }

    async fn pending(
        &self,
        job_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<ObjectId>> {
        let limit = limit.max(1);
        let mut items: Vec<ObjectId> = Vec::new();
        // The cursor is the object hash of the last row looked at.
        let mut start: Option<Item> = after.map(|a| row_key(a, job_id));
        loop {
            // The index holds keys only (so marks write no index item): take a page of
            // the job's rows from it, then their ids and states from the table.
            let remaining = i32::try_from(limit - items.len())
                .unwrap_or(i32::MAX)
                .min(BATCH_GET_KEYS);
            let page = self
                .by_job_query(job_id)
                .limit(remaining)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.by_job_error(job_id, e))?;
            let hashes: Vec<String> = page
                .items()
                .iter()
                .filter_map(|item| get_s(item, OBJECT_HASH).ok().map(str::to_owned))
                .collect();
            let requested = self.requested_among(job_id, &hashes).await?;
            for hash in &hashes {
                if let Some(object) = requested.get(hash) {
                    items.push(object.clone());
                }
            }
            let more = page.last_evaluated_key.filter(|k| !k.is_empty());
            if items.len() >= limit {
                // The next page starts after the last row looked at.
                let next = if more.is_some() {
                    hashes.last().cloned()
                } else {
                    None
                };
                return Ok(Page { items, next });
            }
            match more {
                Some(key) => start = Some(key),
                None => return Ok(Page { items, next: None }),
            }
        }
    }
}

impl DynamoStore {
    /// A Query on the `by-job` index for one job's rows.
    fn by_job_query(&self, job_id: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.tables.objects)
            .index_name(BY_JOB)
            .key_condition_expression("#j = :j")
            .expression_attribute_names("#j", JOB_ID)
            .expression_attribute_values(":j", s(job_id))
    }

    fn by_job_error(&self, job_id: &str, e: SdkError<QueryError, HttpResponse>) -> PortError {
        port_error(
            "Query",
            self.objects_resource(format!("index {BY_JOB}, job {job_id}")),
            e,
        )
    }
}

/// BatchGetItem reads at most this many keys per request.
const BATCH_GET_KEYS: i32 = 100;

impl DynamoStore {
    /// The objects of a job's rows (by object hash) that are still `requested`.
    async fn requested_among(
        &self,
        job_id: &str,
        hashes: &[String],
    ) -> PortResult<HashMap<String, ObjectId>> {
        let unreadable = |e: String| {
            PortError::Rejected(format!(
                "a row of job {job_id} in table {}: {e}",
                self.tables.objects
            ))
        };
        let mut requested = HashMap::new();
        for item in self
            .get_rows(job_id, hashes, &[OBJECT_HASH, OBJECT_ID, STATE])
            .await?
        {
            if get_s(&item, STATE).ok() != Some(state_name(ObjectState::Requested)) {
                continue;
            }
            let hash = get_s(&item, OBJECT_HASH).map_err(|e| unreadable(e.to_string()))?;
            let id = get_s(&item, OBJECT_ID).map_err(|e| unreadable(e.to_string()))?;
            let object = ObjectId::from_canonical(id).map_err(|e| unreadable(e.to_string()))?;
            requested.insert(hash.to_owned(), object);
        }
        Ok(requested)
    }

    /// One step of `register`: at most 100 objects.
    async fn register_step(
        &self,
        job_id: &str,
        objects: Vec<ObjectId>,
        expires_at: i64,
        piece: &str,
    ) -> PortResult<u64> {
        let hashes: Vec<String> = objects.iter().map(ObjectId::digest).collect();
        let mut repeats = HashSet::new();
        for item in self
            .get_rows(job_id, &hashes, &[OBJECT_HASH, REGISTERED_BY])
            .await?
        {
            if get_s(&item, REGISTERED_BY).ok() != Some(piece) {
                if let Ok(hash) = get_s(&item, OBJECT_HASH) {
                    repeats.insert(hash.to_owned());
                }
            }
        }
        let updated_at = row_timestamp(Timestamp::now());
        let mut requests = Vec::new();
        for (object, hash) in objects.iter().zip(&hashes) {
            if repeats.contains(hash) {
                continue;
            }
            let item = row_item(object, job_id, &updated_at, expires_at, piece);
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| {
                    PortError::Rejected(format!("a row for {object} cannot be built: {e}"))
                })?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        let written = requests.len() as u64;
        for group in requests.chunks(BATCH_WRITE_MAX) {
            self.write_batch(job_id, group.to_vec()).await?;
        }
        Ok(written)
    }

    /// A job's rows by object hash (at most 100), strongly consistent, with the
    /// attributes named; rows that do not exist are absent. Unprocessed keys are read
    /// again with backoff.
    async fn get_rows(
        &self,
        job_id: &str,
        hashes: &[String],
        attributes: &[&str],
    ) -> PortResult<Vec<Item>> {
        let mut rows = Vec::new();
        if hashes.is_empty() {
            return Ok(rows);
        }
        let keys: Vec<Item> = hashes.iter().map(|h| row_key(h, job_id)).collect();
        let bad = |e: aws_sdk_dynamodb::error::BuildError| {
            PortError::Rejected(format!("a BatchGetItem request cannot be built: {e}"))
        };
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true);
        let mut projection = Vec::new();
        for (i, name) in attributes.iter().enumerate() {
            let placeholder = format!("#a{i}");
            request = request.expression_attribute_names(&placeholder, *name);
            projection.push(placeholder);
        }
        let mut pending = Some(
            request
                .projection_expression(projection.join(", "))
                .build()
                .map_err(bad)?,
        );
        let mut attempt = 1;
        while let Some(request) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.tables.objects, request)
                .send()
                .await
                .map_err(|e| {
                    port_error(
                        "BatchGetItem",
                        self.objects_resource(format!("rows of job {job_id}")),
                        e,
                    )
                })?;
            rows.extend(
                out.responses
                    .unwrap_or_default()
                    .remove(&self.tables.objects)
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.tables.objects))
                .filter(|k| !k.keys().is_empty());
            if pending.is_some() {
                if !self.backoff.can_retry(attempt) {
                    return Err(PortError::Retryable(format!(
                        "BatchGetItem on {}: keys still unprocessed after {attempt} attempts",
                        self.tables.objects
                    )));
                }
                self.backoff.sleep(attempt).await;
                attempt += 1;
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(i: usize, job: &str) -> Mark {
        Mark {
            object: ObjectId::new("bucket-a", format!("k{i}"), None).unwrap(),
            job_id: job.to_owned(),
        }
    }

    #[test]
    fn groups_keep_rows_and_counters_within_100_actions() {
        let marks: Vec<Mark> = (0..250)
            .map(|i| mark(i, if i % 2 == 0 { "a" } else { "b" }))
            .collect();
        let groups = transaction_groups(marks, true);
        for g in &groups {
            let jobs: HashSet<_> = g.iter().map(|m| &m.job_id).collect();
            assert!(
                g.len() + jobs.len() <= TRANSACTION_MAX,
                "{} rows, {} jobs",
                g.len(),
                jobs.len()
            );
        }
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 250);
        assert_eq!(groups[0].len(), 98);

        let one_job: Vec<Mark> = (0..100).map(|i| mark(i, "a")).collect();
        let groups = transaction_groups(one_job, true);
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), vec![99, 1]);
        let uncounted: Vec<Mark> = (0..100).map(|i| mark(i, "a")).collect();
        assert_eq!(transaction_groups(uncounted, false).len(), 1);
    }

    #[test]
    fn row_timestamps_have_a_fixed_length() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let with_nanos = Timestamp::new(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(row_timestamp(t), "2023-11-14T22:13:20Z");
        assert_eq!(row_timestamp(with_nanos), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn shards_are_stable_and_spread() {
        let shards: HashSet<u32> = (0..200).map(|i| shard_for(&mark(i, "a").object)).collect();
        assert!(shards.len() > 10);
        assert!(shards.iter().all(|s| *s < COUNTER_SHARDS));
        assert_eq!(
            shard_for(&mark(1, "a").object),
            shard_for(&mark(1, "b").object)
        );
    }
}
