//! What a local run used, counted as AWS bills it: each function's invocations and
//! their durations, DynamoDB read and write units (as the local DynamoDB computes them
//! for each request by DynamoDB's sizing rules), and the requests made to SQS, SNS and
//! S3. The benchmark prints these with the AWS cost of the system's own overhead.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;

/// One function's invocations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FunctionUsage {
    pub invocations: u64,
    /// Durations rounded up to the millisecond, summed, as Lambda bills them.
    pub billed_ms: u64,
    /// The longest invocation, to hold against the function's timeout.
    pub longest_ms: u64,
    /// When its first invocation started and its last ended, from the run's start.
    pub first_start: Option<Duration>,
    pub last_end: Option<Duration>,
}

/// Everything counted so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub functions: BTreeMap<String, FunctionUsage>,
    /// (read, write) units by DynamoDB operation.
    pub dynamodb_units_by_operation: BTreeMap<String, (f64, f64)>,
    /// Requests by `Service.Operation`.
    pub requests: BTreeMap<String, u64>,
}

/// A run's counters, shared by the stack's functions and SDK clients.
#[derive(Debug)]
pub struct Usage {
    started: Instant,
    counts: Mutex<Counts>,
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            counts: Mutex::default(),
        }
    }
}

impl Counts {
    /// DynamoDB (read, write) units over every operation.
    pub fn dynamodb_units(&self) -> (f64, f64) {
        self.dynamodb_units_by_operation
            .values()
            .fold((0.0, 0.0), |(r, w), (read, write)| (r + read, w + write))
    }
}

impl Usage {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Every update is a few additions, so a poisoned lock still holds sums.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One invocation of `function` that ran from `started` until now.
    pub fn invoked(&self, function: &str, started: Instant) {
        let ended = Instant::now();
        let billed = u64::try_from(ended.duration_since(started).as_micros().div_ceil(1000))
            .unwrap_or(u64::MAX);
        let mut counts = self.lock();
        let usage = counts.functions.entry(function.to_owned()).or_default();
        usage.invocations += 1;
        usage.billed_ms += billed;
        usage.longest_ms = usage.longest_ms.max(billed);
        let from_start = |at: Instant| at.saturating_duration_since(self.started);
        usage.first_start.get_or_insert(from_start(started));
        usage.last_end = Some(from_start(ended));
    }

    pub fn snapshot(&self) -> Counts {
        self.lock().clone()
    }

    /// `count` requests of `operation` (`Service.Operation`).
    pub fn requests(&self, operation: &str, count: u64) {
        if count > 0 {
            *self
                .lock()
                .requests
                .entry(operation.to_owned())
                .or_default() += count;
        }
    }

    fn units(&self, operation: &str, read: f64, write: f64) {
        let mut counts = self.lock();
        let by_operation = counts
            .dynamodb_units_by_operation
            .entry(operation.to_owned())
            .or_default();
        by_operation.0 += read;
        by_operation.1 += write;
    }
}

/// Counts every request an SDK client sends, by operation.
#[derive(Debug)]
pub struct CountRequests(pub std::sync::Arc<Usage>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.0
                .requests(&format!("{}.{}", metadata.service(), metadata.name()), 1);
        }
        Ok(())
    }
}

/// Asks the local DynamoDB for the capacity each request consumed, and sums it.
#[derive(Debug)]
pub struct DynamoDbCapacity(pub std::sync::Arc<Usage>);

/// Sets `ReturnConsumedCapacity: TOTAL` on an input of one of these types.
macro_rules! ask_capacity {
    ($input:expr, $($t:ty),+) => {
        $(if let Some(input) = $input.downcast_mut::<$t>() {
            input.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
        })+
    };
}

fn total(capacity: Option<&ConsumedCapacity>) -> f64 {
    capacity
        .and_then(ConsumedCapacity::capacity_units)
        .unwrap_or(0.0)
}

fn total_of(capacities: &[ConsumedCapacity]) -> f64 {
    capacities.iter().map(|c| total(Some(c))).sum()
}

impl Intercept for DynamoDbCapacity {
    fn name(&self) -> &'static str {
        "DynamoDbCapacity"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        ask_capacity!(
            input,
            GetItemInput,
            PutItemInput,
            UpdateItemInput,
            QueryInput,
            BatchGetItemInput,
            BatchWriteItemInput,
            TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let read = if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            total(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            total(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            total_of(o.consumed_capacity())
        } else {
            0.0
        };
        let write = if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            total(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            total(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<BatchWriteItemOutput>() {
            total_of(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
            total_of(o.consumed_capacity())
        } else {
            0.0
        };
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        self.0.units(operation, read, write);
        Ok(())
    }
}
