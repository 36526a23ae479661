//! The jobs table: job records, counter shards and the claims that guard publication.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use gbr_core::job::{ClaimStep, JobPatch, JobRecord, TerminalRequest, TerminalState};
use gbr_core::listing::ListCursor;
use gbr_core::ports::{
    Created, JobFilter, JobStore, Page, PortError, PortResult, Tally, TerminalClaim,
};
use jiff::Timestamp;
use serde::Serialize;

use super::DynamoStore;
use super::item::{Item, ItemError, get_count, s, without_nulls};
use super::schema::{
    BY_CLIENT_TAG, BY_CREATED, CLIENT_TAG, CREATED_AT, EXCLUDED, JOB_ITEM_SK, JOB_PK, JOB_SK,
    LISTING, LISTING_JOBS, RESTORED, SHARD_SK_PREFIX,
};
use crate::errors::{code_and_status, port_error};

const CONDITION_FAILED: &str = "ConditionalCheckFailedException";
/// Conditional writes one terminal claim may try before giving up as busy.
const CLAIM_ATTEMPTS: usize = 4;

fn attr<T: Serialize + ?Sized>(value: &T, what: &str) -> PortResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| PortError::Rejected(format!("{what} cannot be written to DynamoDB: {e}")))
}

/// `created_at` as the indexes sort it: RFC 3339 with all nine fractional digits.
/// jiff's default drops trailing zeros, and `…:05Z` sorts after `…:05.5Z` as a string.
pub(crate) fn index_time(t: Timestamp) -> String {
    format!("{t:.9}")
}

/// The job record item: the record's fields, its key, `listing` for the `by-created`
/// index, and `client_tag` at the top level for the `by-client-tag` index (only when
/// there is a tag: index keys cannot be empty).
fn job_item(job: &JobRecord) -> PortResult<Item> {
    let item: Item = serde_dynamo::to_item(job).map_err(|e| {
        PortError::Rejected(format!(
            "job {} cannot be written to DynamoDB: {e}",
            job.job_id
        ))
    })?;
    let mut item = without_nulls(item);
    item.insert(JOB_PK.into(), s(&job.job_id));
    item.insert(JOB_SK.into(), s(JOB_ITEM_SK));
    item.insert(CREATED_AT.into(), s(index_time(job.created_at)));
    item.insert(LISTING.into(), s(LISTING_JOBS));
    match job.request.client_tag.as_deref() {
        Some(tag) if !tag.is_empty() => {
            item.insert(CLIENT_TAG.into(), s(tag));
        }
        _ => {}
    }
    Ok(item)
}

fn job_from_item(item: Item, job_id: &str) -> PortResult<JobRecord> {
    serde_dynamo::from_item(item)
        .map_err(ItemError::from)
        .map_err(|e| PortError::Rejected(format!("job {job_id}: its record cannot be read: {e}")))
}

fn terminal_of(item: &Item, job_id: &str) -> PortResult<Option<TerminalState>> {
    match item.get("terminal") {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(v) => serde_dynamo::from_attribute_value(v.clone())
            .map(Some)
            .map_err(|e| {
                PortError::Rejected(format!(
                    "job {job_id}: its terminal claim cannot be read: {e}"
                ))
            }),
    }
}

/// The fields a patch sets, as (attribute name, value).
fn patch_fields(patch: &JobPatch) -> PortResult<Vec<(&'static str, AttributeValue)>> {
    let mut fields = Vec::new();
    macro_rules! field {
        ($name:ident) => {
            if let Some(v) = &patch.$name {
                fields.push((stringify!($name), attr(v, stringify!($name))?));
            }
        };
    }
    field!(status);
    field!(manifest_etag);
    field!(objects_total);
    field!(manifest_versioned);
    field!(objects_skipped);
    field!(batch_manifest);
    field!(manifest_upload_id);
    field!(batch_job_id);
    field!(batch_status);
    field!(execution_arn);
    field!(report_processed);
    field!(reconciled);
    field!(failure_reason);
    Ok(fields)
}

impl DynamoStore {
    fn job_key(&self, job_id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (JOB_PK.to_owned(), s(job_id)),
            (JOB_SK.to_owned(), s(JOB_ITEM_SK)),
        ])
    }

    fn job_resource(&self, job_id: &str) -> String {
        format!("job {job_id} (table {})", self.tables.jobs)
    }

    async fn read_job_item(&self, job_id: &str) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.jobs)
            .set_key(Some(self.job_key(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("GetItem", self.job_resource(job_id), e))?;
        Ok(out.item)
    }

    /// A conditional update of the job item. `Ok(None)` when it was applied;
    /// `Ok(Some(item))` when the condition failed (the item as it is, or `None` inside
    /// when there is no such job).
    async fn conditional_job_update(
        &self,
        job_id: &str,
        update: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: HashMap<String, AttributeValue>,
    ) -> PortResult<Option<Option<Item>>> {
        let names: HashMap<String, String> = names
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.jobs)
            .set_key(Some(self.job_key(job_id)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(e) if code_and_status(&e).0.as_deref() == Some(CONDITION_FAILED) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                    _ => None,
                };
                // The old image is optional in the protocol: read the item if it is absent.
                let old = match old {
                    Some(item) => Some(item),
                    None => self.read_job_item(job_id).await?,
                };
                Ok(Some(old))
            }
            Err(e) => Err(port_error("UpdateItem", self.job_resource(job_id), e)),
        }
    }

    /// Writes a first terminal claim, with the job's status and failure reason.
    async fn create_claim(
        &self,
        job_id: &str,
        claim: &TerminalState,
        reason: Option<&str>,
        now: Timestamp,
    ) -> PortResult<Option<Option<Item>>> {
        let mut values = HashMap::from([
            (":terminal".to_owned(), attr(claim, "terminal")?),
            (":status".to_owned(), attr(&claim.status, "status")?),
            (":now".to_owned(), attr(&now, "updated_at")?),
        ]);
        let mut names = vec![
            ("#pk", JOB_PK),
            ("#terminal", "terminal"),
            ("#status", "status"),
            ("#ua", "updated_at"),
        ];
        let mut update = "SET #terminal = :terminal, #status = :status, #ua = :now".to_owned();
        if let Some(reason) = reason {
            update.push_str(", #fr = :reason");
            names.push(("#fr", "failure_reason"));
            values.insert(":reason".into(), s(reason));
        }
        self.conditional_job_update(
            job_id,
            &update,
            "attribute_exists(#pk) AND attribute_not_exists(#terminal)",
            &names,
            values,
        )
        .await
    }

    /// Moves an unpublished claim to a new holder, if it is still the claim `old`.
    async fn take_over_claim(
        &self,
        job_id: &str,
        old: &TerminalState,
        claim: &TerminalState,
        now: Timestamp,
    ) -> PortResult<Option<Option<Item>>> {
        let values = HashMap::from([
            (":by".to_owned(), s(&claim.claimed_by)),
            (":at".to_owned(), attr(&claim.claimed_at, "claimed_at")?),
            (":old_by".to_owned(), s(&old.claimed_by)),
            (":old_at".to_owned(), attr(&old.claimed_at, "claimed_at")?),
            (":false".to_owned(), AttributeValue::Bool(false)),
            (":now".to_owned(), attr(&now, "updated_at")?),
        ]);
        self.conditional_job_update(
            job_id,
            "SET #terminal.#by = :by, #terminal.#at = :at, #ua = :now",
            "attribute_exists(#pk) AND #terminal.#by = :old_by AND #terminal.#at = :old_at \
             AND #terminal.#published = :false",
            &[
                ("#pk", JOB_PK),
                ("#terminal", "terminal"),
                ("#by", "claimed_by"),
                ("#at", "claimed_at"),
                ("#published", "published"),
                ("#ua", "updated_at"),
            ],
            values,
        )
        .await
    }
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn create(&self, job: &JobRecord) -> PortResult<Created> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.jobs)
            .set_item(Some(job_item(job)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", JOB_PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::New),
            Err(e) if code_and_status(&e).0.as_deref() == Some(CONDITION_FAILED) => {
                match self.get(&job.job_id).await? {
                    Some(existing) => Ok(Created::Existing(Box::new(existing))),
                    // Deleted between the two calls: trying again will settle it.
                    None => Err(PortError::Retryable(format!(
                        "{} existed and then did not",
                        self.job_resource(&job.job_id)
                    ))),
                }
            }
            Err(e) => Err(port_error("PutItem", self.job_resource(&job.job_id), e)),
        }
    }

    async fn get(&self, job_id: &str) -> PortResult<Option<JobRecord>> {
        self.read_job_item(job_id)
            .await?
            .map(|item| job_from_item(item, job_id))
            .transpose()
    }

    async fn update(&self, job_id: &str, patch: &JobPatch, now: Timestamp) -> PortResult<()> {
        let mut sets = Vec::new();
        let mut names: Vec<(String, String)> = vec![("#pk".into(), JOB_PK.into())];
        let mut values = HashMap::new();
        let mut fields = patch_fields(patch)?;
        fields.push(("updated_at", attr(&now, "updated_at")?));
        for (i, (name, value)) in fields.into_iter().enumerate() {
            sets.push(format!("#f{i} = :f{i}"));
            names.push((format!("#f{i}"), name.to_owned()));
            values.insert(format!(":f{i}"), value);
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.jobs)
            .set_key(Some(self.job_key(job_id)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(names.into_iter().collect()))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if code_and_status(&e).0.as_deref() == Some(CONDITION_FAILED) => {
                Err(PortError::NotFound(self.job_resource(job_id)))
            }
            Err(e) => Err(port_error("UpdateItem", self.job_resource(job_id), e)),
        }
    }

    async fn tally(&self, job_id: &str) -> PortResult<Tally> {
        let mut tally = Tally::default();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.jobs)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :shard)")
                .projection_expression("#r, #e")
                .expression_attribute_names("#pk", JOB_PK)
                .expression_attribute_names("#sk", JOB_SK)
                .expression_attribute_names("#r", RESTORED)
                .expression_attribute_names("#e", EXCLUDED)
                .expression_attribute_values(":pk", s(job_id))
                .expression_attribute_values(":shard", s(SHARD_SK_PREFIX))
                // The counters were just added to by other invocations.
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    port_error(
                        "Query",
                        format!("counter shards of {}", self.job_resource(job_id)),
                        e,
                    )
                })?;
            for item in page.items() {
                let bad = |e: ItemError| {
                    PortError::Rejected(format!("a counter shard of job {job_id}: {e}"))
                };
                tally.restored += get_count(item, RESTORED).map_err(bad)?;
                tally.excluded += get_count(item, EXCLUDED).map_err(bad)?;
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(tally),
            }
        }
    }

    async fn claim_progress(&self, job_id: &str, percent: u8, now: Timestamp) -> PortResult<bool> {
        let values = HashMap::from([
            (":p".to_owned(), attr(&percent, "percent")?),
            (":now".to_owned(), attr(&now, "updated_at")?),
        ]);
        let outcome = self
            .conditional_job_update(
                job_id,
                "SET #lp = :p, #ua = :now",
                "attribute_exists(#pk) AND #lp <= :p AND attribute_not_exists(#terminal)",
                &[
                    ("#pk", JOB_PK),
                    ("#lp", "last_percent_notified"),
                    ("#ua", "updated_at"),
                    ("#terminal", "terminal"),
                ],
                values,
            )
            .await?;
        match outcome {
            None => Ok(true),
            Some(Some(_)) => Ok(false),
            Some(None) => Err(PortError::NotFound(self.job_resource(job_id))),
        }
    }

    async fn claim_terminal(
        &self,
        job_id: &str,
        request: &TerminalRequest<'_>,
        now: Timestamp,
    ) -> PortResult<TerminalClaim> {
        // Each write is conditional on the claim read, so of concurrent claimers exactly
        // one writes; a claimer that loses a race reads the winner's claim and decides
        // again.
        let mut existing: Option<TerminalState> = None;
        for _ in 0..CLAIM_ATTEMPTS {
            let (written, step) = match ClaimStep::decide(existing.as_ref(), request) {
                ClaimStep::Create(t) => {
                    (self.create_claim(job_id, &t, request.reason, now).await?, t)
                }
                ClaimStep::TakeOver(t) => {
                    let old = existing.as_ref().unwrap_or(&t);
                    (self.take_over_claim(job_id, old, &t, now).await?, t)
                }
                ClaimStep::Resume(t) => return Ok(TerminalClaim::Publish(t)),
                ClaimStep::Held { status, until } => {
                    return Ok(TerminalClaim::Held { status, until });
                }
                ClaimStep::Published(status) => return Ok(TerminalClaim::AlreadyDone(status)),
            };
            match written {
                None => return Ok(TerminalClaim::Publish(step)),
                Some(None) => return Err(PortError::NotFound(self.job_resource(job_id))),
                Some(Some(item)) => existing = terminal_of(&item, job_id)?,
            }
        }
        Err(PortError::Retryable(format!(
            "{}: the terminal claim kept changing concurrently",
            self.job_resource(job_id)
        )))
    }

    async fn mark_terminal_published(&self, job_id: &str, now: Timestamp) -> PortResult<()> {
        let values = HashMap::from([
            (":true".to_owned(), AttributeValue::Bool(true)),
            (":now".to_owned(), attr(&now, "updated_at")?),
        ]);
        let outcome = self
            .conditional_job_update(
                job_id,
                "SET #terminal.#published = :true, #ua = :now",
                "attribute_exists(#terminal)",
                &[
                    ("#terminal", "terminal"),
                    ("#published", "published"),
                    ("#ua", "updated_at"),
                ],
                values,
            )
            .await?;
        match outcome {
            // No claim to mark: nothing to do, as for the in-memory store.
            None | Some(Some(_)) => Ok(()),
            Some(None) => Err(PortError::NotFound(self.job_resource(job_id))),
        }
    }

    async fn list(
        &self,
        filter: &JobFilter,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<JobRecord>> {
        let after = after
            .map(ListCursor::decode)
            .transpose()
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        let (index, hash_name, hash_value) = match filter.client_tag.as_deref() {
            Some(tag) => (BY_CLIENT_TAG, CLIENT_TAG, tag),
            None => (BY_CREATED, LISTING, LISTING_JOBS),
        };
        let resource = format!("jobs of index {index} (table {})", self.tables.jobs);
        let mut start = after.map(|c| {
            HashMap::from([
                (hash_name.to_owned(), s(hash_value)),
                (CREATED_AT.to_owned(), s(index_time(c.created_at))),
                (JOB_PK.to_owned(), s(c.job_id)),
                (JOB_SK.to_owned(), s(JOB_ITEM_SK)),
            ])
        });
        let mut jobs: Vec<JobRecord> = Vec::new();
        for _ in 0..MAX_LIST_QUERIES {
            // DynamoDB's Limit counts items evaluated, before the filter. Unfiltered, ask
            // for one more than the page needs, to know whether another page follows;
            // filtered, evaluate more per call, as most may be dropped.
            let evaluate = if filter.status.is_some() {
                FILTERED_PAGE_ITEMS
            } else {
                limit.saturating_sub(jobs.len()).saturating_add(1)
            };
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.jobs)
                .index_name(index)
                .key_condition_expression("#h = :h")
                .expression_attribute_names("#h", hash_name)
                .expression_attribute_values(":h", s(hash_value))
                .scan_index_forward(false)
                .limit(i32::try_from(evaluate).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if let Some(status) = filter.status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", attr(&status, "status")?);
            }
            let page = query
                .send()
                .await
                .map_err(|e| port_error("Query", &resource, e))?;
            for item in page.items.unwrap_or_default() {
                if jobs.len() == limit {
                    // One more exists: the next page starts after the last one kept.
                    let next = jobs.last().map(|j| ListCursor::of(j).encode());
                    return Ok(Page { items: jobs, next });
                }
                let job_id = match item.get(JOB_PK) {
                    Some(AttributeValue::S(id)) => id.clone(),
                    _ => String::new(),
                };
                jobs.push(job_from_item(item, &job_id)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => {
                    return Ok(Page {
                        items: jobs,
                        next: None,
                    });
                }
            }
        }
        // The work of one call is bounded: hand back where the last query stopped.
        let next = start
            .as_ref()
            .map(|key| cursor_of_key(key, &resource))
            .transpose()?
            .map(|c| c.encode());
        Ok(Page { items: jobs, next })
    }
}

/// Queries one listing call makes at most: with a status filter that few jobs match,
/// a page may need many; a bounded call answers in time and hands on a cursor.
const MAX_LIST_QUERIES: usize = 8;
/// Items evaluated per query under a status filter.
const FILTERED_PAGE_ITEMS: usize = 200;

/// The listing position of an index's LastEvaluatedKey.
fn cursor_of_key(key: &Item, resource: &str) -> PortResult<ListCursor> {
    let bad = || PortError::Rejected(format!("{resource}: an unexpected LastEvaluatedKey"));
    let created_at = match key.get(CREATED_AT) {
        Some(AttributeValue::S(t)) => t.parse::<Timestamp>().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    let job_id = match key.get(JOB_PK) {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => return Err(bad()),
    };
    Ok(ListCursor { created_at, job_id })
}
