//! What AWS charges for a bulk restore and for the services this system runs on: the one
//! price table, read by the estimates and by the scale benchmark.
//!
//! Figures are in USD, in the units the pricing pages publish them in (per 1,000 or per
//! million requests, per GB), so each can be checked against its page by eye. A GB is
//! 2^30 bytes, as AWS bills it.

use crate::request::{StorageClass, Tier};

/// Hours in the month S3 bills storage by: a GB kept for `days` days is
/// `days * 24 / 730` GB-months.
pub const HOURS_PER_BILLING_MONTH: f64 = 730.0;

/// One region's on-demand list prices.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    pub region: &'static str,
    /// The day the prices were read off the pages in `sources`.
    pub as_of: &'static str,
    pub sources: &'static [&'static str],
    /// S3 Batch Operations, per job.
    pub batch_per_job: f64,
    /// S3 Batch Operations, per million objects in the manifest.
    pub batch_per_million_objects: f64,
    /// Restore requests and retrieval, by storage class and tier.
    pub restores: RestorePrices,
    /// S3 Standard storage, per GB-month (first 50 TB). S3 bills the temporary copy a
    /// restore makes at this rate for the days it is kept, on top of the archived object.
    pub restored_copy_per_gb_month: f64,
    /// Lambda (arm64), per GB-second of billed duration.
    pub lambda_per_gb_second: f64,
    pub lambda_per_million_requests: f64,
    /// DynamoDB on-demand.
    pub dynamodb_per_million_write_units: f64,
    pub dynamodb_per_million_read_units: f64,
    /// Step Functions Standard workflows.
    pub step_functions_per_thousand_transitions: f64,
    pub sqs_per_million_requests: f64,
    pub sns_per_million_publishes: f64,
    /// EventBridge, per S3 event delivered to the bus (an "AWS opt-in data event").
    pub eventbridge_per_million_events: f64,
    pub s3_per_thousand_gets: f64,
    pub s3_per_thousand_puts: f64,
    /// What this system's own resources cost to run a job.
    pub overhead: Overhead,
}

/// Restore request and retrieval prices of each storage class and tier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestorePrices {
    pub glacier_standard: RestorePrice,
    pub glacier_bulk: RestorePrice,
    pub deep_archive_standard: RestorePrice,
    pub deep_archive_bulk: RestorePrice,
}

/// What restoring from one storage class at one tier costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestorePrice {
    pub per_thousand_requests: f64,
    pub per_gb_retrieved: f64,
}

/// This system's own cost of a job: DynamoDB, EventBridge, SQS, Lambda, Step Functions
/// and SNS, as measured, not as AWS lists it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overhead {
    pub per_million_objects: f64,
    pub per_job: f64,
}

impl RestorePrices {
    pub fn get(&self, class: StorageClass, tier: Tier) -> RestorePrice {
        match (class, tier) {
            (StorageClass::Glacier, Tier::Standard) => self.glacier_standard,
            (StorageClass::Glacier, Tier::Bulk) => self.glacier_bulk,
            (StorageClass::DeepArchive, Tier::Standard) => self.deep_archive_standard,
            (StorageClass::DeepArchive, Tier::Bulk) => self.deep_archive_bulk,
        }
    }

    /// Every class and tier, Flexible Retrieval first and Standard before Bulk.
    pub fn all(&self) -> [(StorageClass, Tier, RestorePrice); 4] {
        [
            (StorageClass::Glacier, Tier::Standard, self.glacier_standard),
            (StorageClass::Glacier, Tier::Bulk, self.glacier_bulk),
            (
                StorageClass::DeepArchive,
                Tier::Standard,
                self.deep_archive_standard,
            ),
            (
                StorageClass::DeepArchive,
                Tier::Bulk,
                self.deep_archive_bulk,
            ),
        ]
    }
}

/// us-east-1 list prices, copied from the AWS pricing pages named in `sources` (the S3
/// restore figures are also in the S3 User Guide's "Understanding archive retrieval
/// options").
///
/// `overhead` comes from one measured run, the 1,000,000-object job of
/// `cargo bench -p gbr-local --bench scale -- 1000000` (Flexible Retrieval Bulk, 10 % of
/// restore events delivered twice), as README.md's table "Where the money goes, per
/// million objects at 1,000,000" gives it:
/// - per million objects: DynamoDB writes 2.53 + EventBridge 1.10 + SQS 0.53 + DynamoDB
///   reads 0.27 + Lambda 0.02 = 4.45;
/// - per job: 3,479 Step Functions transitions (a poll every 5 minutes for 48 hours,
///   whatever the size) at 0.025 per 1,000, and 10 SNS publishes at 0.50 per million.
///   The run's 207 S3 GETs (under a hundredth of a cent) are left out.
pub static US_EAST_1: PriceTable = PriceTable {
    region: "us-east-1",
    as_of: "2026-11-28",
    sources: &[
        "https://aws.amazon.com/s3/pricing/",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "https://aws.amazon.com/lambda/pricing/",
        "https://aws.amazon.com/step-functions/pricing/",
        "https://aws.amazon.com/sqs/pricing/",
        "https://aws.amazon.com/sns/pricing/",
        "https://aws.amazon.com/eventbridge/pricing/",
    ],
    batch_per_job: 0.25,
    batch_per_million_objects: 1.00,
    restores: RestorePrices {
        glacier_standard: RestorePrice {
            per_thousand_requests: 0.05,
            per_gb_retrieved: 0.01,
        },
        glacier_bulk: RestorePrice {
            per_thousand_requests: 0.0,
            per_gb_retrieved: 0.0,
        },
        deep_archive_standard: RestorePrice {
            per_thousand_requests: 0.10,
            per_gb_retrieved: 0.02,
        },
        deep_archive_bulk: RestorePrice {
            per_thousand_requests: 0.025,
            per_gb_retrieved: 0.0025,
        },
    },
    restored_copy_per_gb_month: 0.023,
    lambda_per_gb_second: 0.000_013_333_4,
    lambda_per_million_requests: 0.20,
    dynamodb_per_million_write_units: 0.625,
    dynamodb_per_million_read_units: 0.125,
    step_functions_per_thousand_transitions: 0.025,
    sqs_per_million_requests: 0.40,
    sns_per_million_publishes: 0.50,
    eventbridge_per_million_events: 1.00,
    s3_per_thousand_gets: 0.0004,
    s3_per_thousand_puts: 0.005,
    overhead: Overhead {
        per_million_objects: 2.53 + 1.10 + 0.53 + 0.27 + 0.02,
        per_job: 3_479.0 * 0.025 / 1e3 + 10.0 * 0.50 / 1e6,
    },
};

/// The regions with a table of their own.
const TABLES: [&PriceTable; 1] = [&US_EAST_1];

/// The prices an estimate for a region uses, and whether they are that region's own.
#[derive(Debug, Clone, PartialEq)]
pub struct PricesFor {
    pub table: &'static PriceTable,
    pub requested_region: String,
    /// True when the region has no table and us-east-1's is used instead: an estimate
    /// must say whose prices it shows.
    pub fallback: bool,
}

/// The table for `region`, or us-east-1's when there is none for it.
pub fn prices_for(region: &str) -> PricesFor {
    let own = TABLES.into_iter().find(|t| t.region == region);
    PricesFor {
        table: own.unwrap_or(&US_EAST_1),
        requested_region: region.to_owned(),
        fallback: own.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_east_1_is_its_own_table() {
        let p = prices_for("us-east-1");
        assert_eq!(p.table.region, "us-east-1");
        assert_eq!(p.requested_region, "us-east-1");
        assert!(!p.fallback);
    }

    #[test]
    fn other_regions_fall_back_to_us_east_1_and_say_so() {
        for region in ["eu-west-1", "", "US-EAST-1", "us-east-1 "] {
            let p = prices_for(region);
            assert_eq!(p.table.region, "us-east-1", "{region:?}");
            assert_eq!(p.requested_region, region);
            assert!(p.fallback, "{region:?}");
        }
    }

    #[test]
    fn restore_prices_are_those_published_per_class_and_tier() {
        let r = &US_EAST_1.restores;
        let pair = |class, tier| {
            let p = r.get(class, tier);
            (p.per_thousand_requests, p.per_gb_retrieved)
        };
        assert_eq!(pair(StorageClass::Glacier, Tier::Standard), (0.05, 0.01));
        assert_eq!(pair(StorageClass::Glacier, Tier::Bulk), (0.0, 0.0));
        assert_eq!(
            pair(StorageClass::DeepArchive, Tier::Standard),
            (0.10, 0.02)
        );
        assert_eq!(pair(StorageClass::DeepArchive, Tier::Bulk), (0.025, 0.0025));
        for (class, tier, price) in r.all() {
            assert_eq!(price, r.get(class, tier), "{class:?} {tier:?}");
        }
    }

    #[test]
    fn overhead_matches_the_measured_run() {
        let o = US_EAST_1.overhead;
        // 2.53 + 1.10 + 0.53 + 0.27 + 0.02
        assert!((o.per_million_objects - 4.45).abs() < 1e-9);
        // 3,479 * 0.000025 = 0.086975, plus 10 publishes * 0.0000005 = 0.000005
        assert!((o.per_job - 0.08698).abs() < 1e-12);
        // At 1,000,000 objects the two make README's total of $4.54 per million.
        let total = o.per_million_objects + o.per_job;
        assert!((total - 4.54).abs() < 0.005, "{total}");
        // The per-job figure is priced with this table's own transition and SNS prices.
        let repriced = 3_479.0 * US_EAST_1.step_functions_per_thousand_transitions / 1e3
            + 10.0 * US_EAST_1.sns_per_million_publishes / 1e6;
        assert!((o.per_job - repriced).abs() < 1e-12);
    }

    #[test]
    fn as_of_is_a_date_and_sources_are_pricing_pages() {
        assert!(US_EAST_1.as_of.parse::<jiff::civil::Date>().is_ok());
        assert_eq!(US_EAST_1.sources.len(), 7);
        for source in US_EAST_1.sources {
            assert!(source.starts_with("https://aws.amazon.com/"), "{source}");
            assert!(source.contains("/pricing/"), "{source}");
        }
    }
}
